"""Basemaps in headless Chromium: web/coords.js against tracker/coords.py on the same points,
switching the live map's basemap (trucks drawn in its system, its attribution and tiles), and a
corridor drawn over a BD-09 map stored in WGS-84. Tiles cannot be fetched here: the tests look
at the layers' configuration and coordinates, not at tile images."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from live_world import LiveServer, ago, post_fix

from tracker import coords

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "permits"))

from permit_world import World, make_world
from test_permit_page import STAFF, click_at, open_permit

pytestmark = pytest.mark.slow

POINTS = [
    (104.06, 30.66),
    (116.397, 39.909),
    (121.47, 31.23),
    (114.06, 22.54),
    (87.62, 43.83),
    (126.63, 45.75),
    (109.5, 18.25),
    (135.0, 48.0),
    (7.42, 43.735),
    (-74.0, 40.7),
]


@pytest.fixture
async def world(http: AsyncClient) -> World:
    return await make_world(http, STAFF)


async def test_js_conversions_match_python(live: LiveServer, page: Any) -> None:
    await page.goto(f"{live.base_url}/map/style.css")  # any page of the origin
    pairs = [list(p) for p in itertools.permutations(coords.SYSTEMS, 2)]
    got = await page.evaluate(
        """async ([points, pairs]) => {
            const c = await import("/map/coords.js");
            return points.map(([lon, lat]) => pairs.map(([s, t]) => c.convert(lon, lat, s, t)));
        }""",
        [[list(p) for p in POINTS], pairs],
    )
    for point, row in zip(POINTS, got, strict=True):
        for (source, target), js in zip(pairs, row, strict=True):
            py = coords.convert(*point, source, target)
            assert abs(js[0] - py[0]) < 1e-9 and abs(js[1] - py[1]) < 1e-9, (point, source, target)


async def _marker(page: Any, vehicle_id: int) -> tuple[float, float]:
    await page.wait_for_function(f"window.trackerLive?.trucks?.has({vehicle_id})", timeout=30000)
    got = await page.evaluate(
        f"(() => {{ const p = window.trackerLive.trucks.get({vehicle_id}).marker.getLatLng();"
        " return [p.lng, p.lat]; })()"
    )
    return float(got[0]), float(got[1])


async def _tile_src(page: Any, basemap: str) -> str | None:
    tile = page.locator(f".basemap-{basemap} img.leaflet-tile").first
    await tile.wait_for(state="attached", timeout=10000)
    src: str | None = await tile.get_attribute("src")
    return src


async def _switch(page: Any, basemap: str) -> None:
    async with page.expect_navigation():
        await page.select_option("#basemap-select", basemap)
    await page.wait_for_function(f"window.trackerLive?.basemap === '{basemap}'", timeout=10000)


async def test_switching_the_basemap_redraws_trucks_in_its_system(
    live: LiveServer, http: AsyncClient, fleet: Any, page: Any
) -> None:
    vehicle_id, token = fleet.truck("川A-B001")
    where = (104.045, 30.660)  # Chengdu, WGS-84
    await post_fix(http, token, *where, at=ago(10), speed_kmh=30.0)
    await page.goto(f"{live.base_url}/map/#token=test-staff")
    await page.wait_for_function("window.trackerLive?.basemap === 'offline'", timeout=30000)
    lon, lat = await _marker(page, vehicle_id)
    assert abs(lon - where[0]) < 1e-9 and abs(lat - where[1]) < 1e-9
    options = await page.eval_on_selector_all(
        "#basemap-select option", "os => os.map(o => o.value)"
    )
    assert options == ["offline", "amap", "baidu", "osm"]
    assert await page.locator("#basemap-select option[value=amap]").inner_text() == "高德地图"

    await _switch(page, "amap")
    lon, lat = await _marker(page, vehicle_id)
    want = coords.wgs84_to_gcj02(*where)
    assert abs(lon - want[0]) < 1e-9 and abs(lat - want[1]) < 1e-9
    assert abs(lon - where[0]) > 1e-3  # a visible shift: hundreds of metres
    assert "高德" in await page.locator(".leaflet-control-attribution").inner_text()
    src = await _tile_src(page, "amap")
    assert src is not None and ".is.autonavi.com/appmaptile" in src

    await _switch(page, "baidu")
    assert await page.evaluate("window.trackerLive.map.options.crs.code") == "BD09MC"
    lon, lat = await _marker(page, vehicle_id)
    want = coords.wgs84_to_bd09(*where)
    assert abs(lon - want[0]) < 1e-9 and abs(lat - want[1]) < 1e-9
    assert "百度" in await page.locator(".leaflet-control-attribution").inner_text()
    src = await _tile_src(page, "baidu")
    assert src is not None and "bdimg.com/tile/" in src and "udt=" in src
    # the viewport filter is converted back: the truck stays subscribed
    bbox = await page.evaluate(
        "(() => { const b = window.trackerLive.map.getBounds();"
        " const g = window.trackerLive.geo;"
        " return [...g.unshow(b.getWest(), b.getSouth()),"
        " ...g.unshow(b.getEast(), b.getNorth())]; })()"
    )
    assert bbox[0] < where[0] < bbox[2] and bbox[1] < where[1] < bbox[3]

    await _switch(page, "offline")
    lon, lat = await _marker(page, vehicle_id)
    assert abs(lon - where[0]) < 1e-9 and abs(lat - where[1]) < 1e-9


async def test_corridor_drawn_over_baidu_is_stored_in_wgs84(
    live: LiveServer, world: World, page: Any
) -> None:
    made = await world.post("/permits", world.permit())
    assert made.status_code == 201, made.text
    permit_id = made.json()["id"]
    await page.goto(f"{live.base_url}/map/style.css")  # the origin's storage, before the page
    await page.evaluate("localStorage.setItem('tracker.basemap', 'baidu')")
    await open_permit(page, live, permit_id)
    assert await page.evaluate("window.trackerPermits.basemap") == "baidu"
    facts = await page.locator("#permit-facts").inner_text()
    assert "22:00–05:00 (Asia/Shanghai)" in facts  # windows are local times, labelled
    await page.wait_for_selector("#permit[data-state=draft]")
    await page.click("#draw-start")
    # clicks where the WGS-84 points are drawn on the BD-09 map
    drawn = [(7.411, 43.731), (7.421, 43.7318), (7.431, 43.731)]
    for lon, lat in drawn:
        await click_at(page, *coords.wgs84_to_bd09(lon, lat))
    await page.fill("#draw-half-width", "40")
    await page.click("#draw-save")
    await page.wait_for_selector(".message-ok", timeout=5000)
    stored = (await world.client.get(f"/api/v1/permits/{permit_id}", headers=STAFF)).json()
    points = stored["corridors"][0]["geometry"]["coordinates"]
    for (lon, lat), (want_lon, want_lat) in zip(points, drawn, strict=True):
        assert abs(lon - want_lon) < 5e-5 and abs(lat - want_lat) < 5e-5  # a pixel or two
    # unconverted, the clicks would be about 0.006 degrees (600 m) off
    assert abs(points[0][0] - coords.wgs84_to_bd09(*drawn[0])[0]) > 5e-3
