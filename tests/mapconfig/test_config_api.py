"""GET /api/v1/config: public, secret-free; the city zone, the locale and the basemap presets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from tracker.app import create_app
from tracker.config_api import public_config
from tracker.security import csp
from tracker.settings import Settings


async def _get(settings: Settings) -> tuple[int, dict[str, Any], str]:
    app = create_app(settings)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
        resp = await c.get("/api/v1/config")  # no Authorization: public
    return resp.status_code, resp.json(), resp.headers["content-security-policy"]


async def test_config_is_public_and_names_zone_locale_and_basemaps(settings: Settings) -> None:
    status, body, policy = await _get(settings)
    assert status == 200, body
    assert body["time_zone"] == "Asia/Shanghai" and body["utc_offset_min"] == 480
    assert body["locale"] == {"default": "zh-CN", "available": ["zh-CN", "en"]}
    presets = {p["id"]: p for p in body["basemaps"]["presets"]}
    assert body["basemaps"]["default"] == "offline"
    assert list(presets) == ["offline", "amap", "baidu", "osm"]  # Tianditu: no key, not offered
    assert presets["offline"]["layers"] == []
    assert (
        presets["amap"]["system"] == "gcj02"
        and "高德" in presets["amap"]["layers"][0]["attribution"]
    )
    assert presets["baidu"]["system"] == "bd09" and presets["baidu"]["tiling"] == "baidu"
    assert presets["osm"]["system"] == "wgs84"
    assert "OpenStreetMap" in presets["osm"]["layers"][0]["attribution"]
    for origin in ("https://*.is.autonavi.com", "https://*.bdimg.com"):
        assert origin in policy  # the pages may load the offered tiles
    assert settings.staff_token not in str(body)


async def test_tianditu_with_its_key_and_a_chosen_default(settings: Settings) -> None:
    chosen = settings.model_copy(
        update={
            "city_tz": "Asia/Urumqi",
            "map": settings.map.model_copy(
                update={
                    "tianditu_key": "0123abcd",
                    "default_basemap": "tianditu",
                    "basemaps": ["tianditu", "amap"],
                }
            ),
        }
    )
    status, body, policy = await _get(chosen)
    assert status == 200
    assert body["time_zone"] == "Asia/Urumqi" and body["utc_offset_min"] == 360
    assert body["basemaps"]["default"] == "tianditu"
    (tianditu, amap) = body["basemaps"]["presets"]
    assert amap["id"] == "amap" and tianditu["system"] == "wgs84"
    base, labels = tianditu["layers"]
    assert "tk=0123abcd" in base["url"] and "LAYER=vec" in base["url"]
    assert labels["overlay"] is True and "LAYER=cva" in labels["url"]
    assert "天地图" in base["attribution"]
    assert "https://*.tianditu.gov.cn" in policy and "bdimg" not in policy
    # the WMTS GetTile request of Tianditu's map service description, Web Mercator ("_w"),
    # whose tile matrix set starts at level 1 (the page scales level 1 below it)
    for layer, name in ((base, "vec"), (labels, "cva")):
        host, query = layer["url"].split("?")
        assert host == f"https://t{{s}}.tianditu.gov.cn/{name}_w/wmts"
        assert dict(q.split("=") for q in query.split("&")) == {
            "SERVICE": "WMTS",
            "REQUEST": "GetTile",
            "VERSION": "1.0.0",
            "LAYER": name,
            "STYLE": "default",
            "TILEMATRIXSET": "w",
            "FORMAT": "tiles",
            "TILEMATRIX": "{z}",
            "TILEROW": "{y}",
            "TILECOL": "{x}",
            "tk": "0123abcd",
        }
        assert (layer["subdomains"], layer["min_zoom"], layer["max_zoom"]) == ("01234567", 1, 18)


async def test_amap_and_baidu_templates_are_the_ones_in_common_use(settings: Settings) -> None:
    """Neither publishes raw tile URLs: the templates Leaflet and OpenLayers users share (AMap's
    road map with labels, style 8; Baidu's vector tiles with the data version its JS API
    sends), both over HTTPS, from zoom 0."""
    _, body, _ = await _get(settings)
    presets = {p["id"]: p for p in body["basemaps"]["presets"]}
    (amap,) = presets["amap"]["layers"]
    host, query = amap["url"].split("?")
    assert host == "https://webrd0{s}.is.autonavi.com/appmaptile" and amap["subdomains"] == "1234"
    assert dict(q.split("=") for q in query.split("&")) == {
        "lang": "zh_cn", "size": "1", "scale": "1", "style": "8",
        "x": "{x}", "y": "{y}", "z": "{z}",
    }  # fmt: skip
    (baidu,) = presets["baidu"]["layers"]
    host, query = baidu["url"].split("?")
    assert host == "https://maponline{s}.bdimg.com/tile/" and baidu["subdomains"] == "0123"
    params = dict(q.split("=") for q in query.split("&"))
    assert params.pop("udt").isdigit()
    assert params == {
        "qt": "vtile", "x": "{x}", "y": "{y}", "z": "{z}", "styles": "pl", "scaler": "1",
    }  # fmt: skip
    assert amap["min_zoom"] == baidu["min_zoom"] == 0


def test_default_falls_back_to_an_offered_preset(settings: Settings) -> None:
    odd = settings.model_copy(
        update={"map": settings.map.model_copy(update={"default_basemap": "tianditu"})}
    )
    assert public_config(odd).basemaps.default == "offline"  # Tianditu has no key
    assert "'self' data: https://" in csp(odd)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../etc"])
def test_an_unknown_city_zone_is_refused(zone: str) -> None:
    with pytest.raises(ValueError, match="TRACKER_CITY_TZ"):
        Settings.load(city_tz=zone)


def test_offset_follows_the_zone_rules() -> None:
    summer = datetime(2026, 7, 1, tzinfo=UTC)
    berlin = public_config(Settings.load(city_tz="Europe/Berlin"), summer)
    assert berlin.utc_offset_min == 120
