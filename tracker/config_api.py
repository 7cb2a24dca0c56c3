"""``GET /api/v1/config``: what the pages need before they draw anything, public and secret-free.

The city's time zone (times are shown in it, labelled), the locale the pages start in, and the
basemaps: presets for OpenStreetMap, AMap (GCJ-02), Tianditu (WGS-84/CGCS2000, with the
deployment's browser key) and Baidu (BD-09, its own tiling), each with its coordinate system and
attribution, plus the offline road layer. The page converts WGS-84 positions into the preset's
system (web/coords.js) and what is drawn on it back to WGS-84 before it is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from tracker.coords import System
from tracker.deps import PlatformDep
from tracker.settings import Basemap, MapSettings, Settings

router = APIRouter(tags=["config"])
SWAGGER = "/map/node_modules/swagger-ui-dist"  # web/node_modules, served with the pages

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


class TileLayer(BaseModel):
    url: str = Field(description="Leaflet URL template ({s}, {x}, {y}, {z})")
    subdomains: str = ""
    max_zoom: int = 18
    min_zoom: int = Field(default=0, description="the lowest zoom the server has tiles for")
    attribution: str = ""
    overlay: bool = False  # drawn over the base layer (Tianditu's labels)


class BasemapPreset(BaseModel):
    id: Basemap
    system: System = Field(description="coordinate system of the tiles: wgs84, gcj02 or bd09")
    tiling: Literal["web_mercator", "baidu"] = Field(
        description="web_mercator: the usual XYZ; baidu: Baidu's own Mercator tile grid"
    )
    layers: list[TileLayer] = Field(description="empty: the offline road layer")
    origins: list[str] = Field(description="where its tiles come from (the pages' CSP)")


class Basemaps(BaseModel):
    default: Basemap
    presets: list[BasemapPreset]


class Locales(BaseModel):
    default: str
    available: list[str]


class PublicConfig(BaseModel):
    time_zone: str = Field(description="IANA zone of the city: windows, schedules, days")
    utc_offset_min: int = Field(description="the zone's offset from UTC now, in minutes")
    locale: Locales
    basemaps: Basemaps


# The tile URL templates. Tianditu's is the WMTS GetTile request of its published map service
# description (layers vec_w / cva_w, hosts t0-t7, the key as tk; its "w" tile matrix set starts
# at level 1). AMap and Baidu publish no raw tile URLs (their documented way is their JS API
# with a key): these are the templates in common use (Leaflet.ChineseTmsProviders, SuperMap
# iClient, OpenLayers and maptalks examples); Baidu's carries the data version udt as its own
# JS API does. None could be fetched from here (no network): see the README.
BAIDU_UDT = "20240101"


def _presets(key: str) -> dict[Basemap, BasemapPreset]:
    osm = "© OpenStreetMap contributors"
    tianditu = "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
    found: dict[Basemap, BasemapPreset] = {
        "offline": BasemapPreset(
            id="offline", system="wgs84", tiling="web_mercator", layers=[], origins=[]
        ),
        "osm": BasemapPreset(
            id="osm",
            system="wgs84",
            tiling="web_mercator",
            layers=[
                TileLayer(
                    url="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    max_zoom=19,
                    attribution=osm,
                )
            ],
            origins=["https://tile.openstreetmap.org"],
        ),
        "amap": BasemapPreset(
            id="amap",
            system="gcj02",
            tiling="web_mercator",
            layers=[
                TileLayer(
                    url="https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1"
                    "&style=8&x={x}&y={y}&z={z}",
                    subdomains="1234",
                    max_zoom=18,
                    attribution="© 高德地图 AutoNavi",
                )
            ],
            origins=["https://*.is.autonavi.com"],
        ),
        "baidu": BasemapPreset(
            id="baidu",
            system="bd09",
            tiling="baidu",
            layers=[
                TileLayer(
                    url="https://maponline{s}.bdimg.com/tile/?qt=vtile&x={x}&y={y}&z={z}"
                    f"&styles=pl&scaler=1&udt={BAIDU_UDT}",
                    subdomains="0123",
                    max_zoom=18,
                    attribution="© 百度地图 Baidu",
                )
            ],
            origins=["https://*.bdimg.com"],
        ),
    }
    if key:
        found["tianditu"] = BasemapPreset(
            id="tianditu",
            system="wgs84",  # CGCS2000: within a metre of WGS-84
            tiling="web_mercator",
            layers=[
                TileLayer(
                    url=tianditu.replace("{layer}", layer).replace("{key}", key),
                    subdomains="01234567",
                    max_zoom=18,
                    min_zoom=1,
                    attribution="© 天地图 Tianditu" if layer == "vec" else "",
                    overlay=layer == "cva",
                )
                for layer in ("vec", "cva")
            ],
            origins=["https://*.tianditu.gov.cn"],
        )
    return found


def basemaps(cfg: MapSettings) -> Basemaps:
    """The presets this deployment offers, in its order; the default falls back to the first."""
    known = _presets(cfg.tianditu_key)
    offered = [known[b] for b in dict.fromkeys(cfg.basemaps) if b in known]
    if not offered:
        offered = [known["offline"]]
    ids = [p.id for p in offered]
    return Basemaps(
        default=cfg.default_basemap if cfg.default_basemap in ids else ids[0], presets=offered
    )


def tile_origins(settings: Settings) -> list[str]:
    """Origins the pages may load images from for the offered basemaps (tracker.security)."""
    return [o for p in basemaps(settings.map).presets for o in p.origins]


def public_config(settings: Settings, now: datetime | None = None) -> PublicConfig:
    zone = ZoneInfo(settings.city_tz)
    offset = (now or datetime.now(UTC)).astimezone(zone).utcoffset()
    assert offset is not None
    return PublicConfig(
        time_zone=settings.city_tz,
        utc_offset_min=int(offset.total_seconds() // 60),
        locale=Locales(default=DEFAULT_LOCALE, available=list(LOCALES)),
        basemaps=basemaps(settings.map),
    )


@router.get(
    "/api/v1/config",
    summary="The pages' configuration: city time zone, locale, basemaps (public, no secrets)",
)
async def get_config(platform: PlatformDep) -> PublicConfig:
    return public_config(platform.settings)


_DOCS = f"""<!doctype html>
<html lang="zh-CN">
  <head>
    <meta charset="utf-8" />
    <title>muck-tracker API</title>
    <link rel="stylesheet" href="{SWAGGER}/swagger-ui.css" />
    <link rel="icon" type="image/png" href="{SWAGGER}/favicon-32x32.png" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{SWAGGER}/swagger-ui-bundle.js"></script>
    <script src="/map/docs.js"></script>
  </body>
</html>
"""


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
async def docs() -> HTMLResponse:
    """Swagger UI from local files (web/node_modules/swagger-ui-dist, web/docs.js): FastAPI's
    page loads it from a CDN and starts it with an inline script, which the CSP refuses."""
    return HTMLResponse(_DOCS)
