"""The live map page in headless Chromium: trucks, fences, moves, incidents, the vehicle panel."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import redis.asyncio as aioredis
from httpx import AsyncClient
from live_world import LiveServer, ago, iso, post_fix

from tracker import wire
from tracker.settings import Settings
from tracker.sim.data import DataUnavailableError, ensure_monaco_pbf

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

ZONE = {
    "type": "Polygon",
    "coordinates": [
        [[104.04, 30.64], [104.05, 30.64], [104.05, 30.65], [104.04, 30.65], [104.04, 30.64]]
    ],
}


def add_zone(db: psycopg.Connection[Any]) -> None:
    db.execute(
        "INSERT INTO fences (kind, role, name, geometry) VALUES ('polygon', 'zone', %s, %s)",
        ("School no-go zone", json.dumps(ZONE)),
    )


async def truck_lon(page: Any, vid: int) -> float | None:
    value = await page.evaluate(f"window.trackerLive?.trucks.get({vid})?.data.lon ?? null")
    return None if value is None else float(value)


async def test_trucks_fences_moves_and_incidents(
    live: LiveServer,
    http: AsyncClient,
    fleet: Any,
    db: psycopg.Connection[Any],
    redis_url: str,
    page: Any,
) -> None:
    add_zone(db)
    hauler, token_h = fleet.truck("川A-H001")
    idle, token_i = fleet.truck("川A-I002")
    await post_fix(http, token_h, 104.045, 30.660, at=ago(20), speed_kmh=35.0, loaded=True)
    await post_fix(http, token_i, 104.060, 30.650, at=ago(20), speed_kmh=0.0)
    await page.goto(f"{live.base_url}/map/#token=test-staff")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    await page.wait_for_function("window.trackerLive.trucks.size === 2", timeout=5000)
    await page.wait_for_function("document.getElementById('fence-count').textContent === '1'")
    assert await page.locator("path.truck-hauling").count() == 1
    assert await page.locator("path.truck-idle").count() == 1
    assert await page.locator("path.fence-zone").count() == 1

    await post_fix(http, token_h, 104.047, 30.661, speed_kmh=36.0, loaded=True)
    await page.wait_for_function(
        f"window.trackerLive.trucks.get({hauler}).data.lon === 104.047", timeout=3000
    )
    await page.screenshot(path=str(ARTIFACTS / "live-map.png"))

    r = aioredis.Redis.from_url(redis_url)
    try:
        event = {
            "type": "no_go_zone_entry",
            "vehicle_id": idle,
            "lon": 104.045,
            "lat": 30.645,
            "time": ago(1).isoformat().replace("+00:00", "Z"),
        }
        started = asyncio.get_running_loop().time()
        await r.publish(wire.channel(r, wire.Channel.INCIDENTS), orjson.dumps(event))
        await page.wait_for_selector(".incident-item", timeout=2000)
        assert asyncio.get_running_loop().time() - started < 2.0
    finally:
        await r.aclose()
    assert "闯禁区" in await page.locator(".incident-item").first.inner_text()
    await page.wait_for_function(
        "document.querySelectorAll('path.truck-incident').length === 1", timeout=2000
    )
    await page.screenshot(path=str(ARTIFACTS / "live-map-incident.png"))


async def publish_state(redis_url: str, vid: int, state: str, **extra: Any) -> None:
    r = aioredis.Redis.from_url(redis_url)
    try:
        message = {"vehicle_id": vid, "state": state, "trip_id": None, "permit_id": None}
        message.update(at=iso(ago(0)), **extra)
        await r.publish(wire.channel(r, wire.Channel.VEHICLE_STATES), orjson.dumps(message))
    finally:
        await r.aclose()


async def test_trucks_take_the_engine_state_colours(
    live: LiveServer, http: AsyncClient, fleet: Any, redis_url: str, page: Any
) -> None:
    a, token_a = fleet.truck("川A-S004")
    b, token_b = fleet.truck("川A-S005")
    await post_fix(http, token_a, 104.045, 30.660, at=ago(10), speed_kmh=0.0)
    await post_fix(http, token_b, 104.050, 30.655, at=ago(10), speed_kmh=25.0)
    await page.goto(f"{live.base_url}/map/?center=104.047,30.658&zoom=15#token=test-staff")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    await page.wait_for_function("window.trackerLive.trucks.size === 2", timeout=5000)
    assert await page.locator("path.truck-moving").count() == 1  # no engine state yet: a guess

    await publish_state(redis_url, a, "loading", trip_id="t-a", permit_id="1")
    await publish_state(redis_url, b, "blacklisted")
    await page.wait_for_selector(f"path.truck-loading[data-vehicle-id='{a}']", timeout=3000)
    await page.wait_for_selector(f"path.truck-blacklisted[data-vehicle-id='{b}']", timeout=3000)
    loading = await page.evaluate("getComputedStyle(document.documentElement)"
                                  ".getPropertyValue('--loading').trim()")  # fmt: skip
    assert await page.locator("path.truck-loading").get_attribute("fill") == loading
    for state, css in (
        ("hauling", "hauling"),
        ("unloading", "unloading"),
        ("in_incident", "incident"),
        ("suspected", "suspected"),
    ):
        await publish_state(redis_url, a, state, trip_id="t-a")
        await page.wait_for_selector(f"path.truck-{css}[data-vehicle-id='{a}']", timeout=3000)
    states = await page.locator("#legend li[data-state]").evaluate_all(
        "items => items.map(i => i.dataset.state)"
    )
    drawn = {"idle", "loading", "hauling", "unloading", "incident", "offline", "blacklisted"}
    assert drawn | {"suspected"} <= set(states)
    await page.screenshot(path=str(ARTIFACTS / "live-map-states.png"))


def box(lon: float, lat: float, w: float, h: float) -> dict[str, Any]:
    ring = [[lon, lat], [lon + w, lat], [lon + w, lat + h], [lon, lat + h], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


async def test_a_fleet_in_every_state_with_a_yard(
    settings: Settings,
    live: LiveServer,
    http: AsyncClient,
    fleet: Any,
    db: psycopg.Connection[Any],
    redis_url: str,
    page: Any,
) -> None:
    """One truck per engine state, a no-go zone and a yard with its fill, on Monaco's roads when
    the road network is imported: the README picture."""
    db.execute(
        "INSERT INTO fences (kind, role, name, geometry) VALUES ('polygon', 'zone', %s, %s)",
        ("School no-go zone", json.dumps(box(7.422, 43.729, 0.006, 0.004))),
    )
    try:
        roads = ensure_monaco_pbf(Path(settings.data_dir)).is_file()
    except DataUnavailableError:
        roads = False  # the picture is drawn without roads
    staff = {"Authorization": "Bearer test-staff"}
    yard = {
        "name": "North yard",
        "geometry": box(7.429, 43.739, 0.005, 0.003),
        "capacity_m3": 20000,
    }
    made = await http.post("/api/v1/yards", json=yard, headers=staff)
    assert made.status_code == 201, made.text
    survey = {"kind": "survey", "volume_m3": 12400, "reason": "opening survey"}
    resp = await http.post(
        f"/api/v1/yards/{made.json()['id']}/adjustments", json=survey, headers=staff
    )
    assert resp.status_code == 201, resp.text
    placed = [
        ("idle", 7.412, 43.733, 0.0),
        ("loading", 7.416, 43.740, 0.0),
        ("hauling", 7.421, 43.738, 38.0),
        ("unloading", 7.4305, 43.7395, 4.0),
        ("in_incident", 7.425, 43.731, 0.0),
        ("offline", 7.409, 43.737, 0.0),
        ("blacklisted", 7.427, 43.736, 22.0),
    ]
    vid_of: dict[str, int] = {}
    for i, (state, lon, lat, speed) in enumerate(placed):
        vid, token = fleet.truck(f"川A-{i + 10:03d}D", company="Rongcheng Earthworks")
        vid_of[state] = vid
        at = ago(900 if state == "offline" else 15)
        await post_fix(http, token, lon, lat, at=at, speed_kmh=speed, loaded=state == "hauling")
        await publish_state(redis_url, vid, state, trip_id=f"t{i}" if speed else None)
    await page.goto(f"{live.base_url}/map/?center=7.421,43.736&zoom=15#token=test-staff")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    await page.wait_for_function("window.trackerLive.trucks.size === 7", timeout=5000)
    for css in ("idle", "loading", "hauling", "unloading", "incident", "offline", "blacklisted"):
        assert await page.locator(f"path.truck-{css}").count() == 1, css
    await page.locator("a.yard-fill").wait_for(timeout=5000)
    assert await page.locator("a.yard-fill").inner_text() == "North yard · 62 %"
    r = aioredis.Redis.from_url(redis_url)
    try:
        event = {"type": "no_go_zone_entry", "vehicle_id": vid_of["in_incident"]}
        event.update(lon=7.425, lat=43.731, time=iso(ago(20)), detail="School no-go zone")
        await r.publish(wire.channel(r, wire.Channel.INCIDENTS), orjson.dumps(event))
    finally:
        await r.aclose()
    await page.wait_for_selector(".incident-item", timeout=3000)
    if roads:  # building the network takes a few seconds the first time
        await page.wait_for_function("window.trackerLive.roadsDrawn === true", timeout=30000)
    await page.screenshot(path=str(ARTIFACTS / "live-map-fleet.png"))


def add_trip_and_permit(db: psycopg.Connection[Any], vid: int) -> int:
    company = db.execute("SELECT company_id FROM vehicles WHERE id = %s", (vid,)).fetchone()
    assert company is not None
    permit = db.execute(
        "INSERT INTO permits (company_id, state, valid_from, valid_to, windows, quota_m3)"
        " VALUES (%s, 'approved', current_date, current_date + 30,"
        ' \'[{"start": "20:00", "end": "06:00"}]\', 500) RETURNING id',
        (company[0],),
    ).fetchone()
    assert permit is not None
    db.execute(
        "INSERT INTO trips (trip_id, vehicle_id, company_id, permit_id, origin_id, loading_at,"
        " departed_at, volume_m3) VALUES (%s, %s, %s, %s, '1', %s, %s, 14.5)",
        (f"v{vid}:trip", vid, company[0], str(permit[0]), ago(900), ago(600)),
    )
    return int(permit[0])


async def test_vehicle_panel_shows_the_last_hour(
    live: LiveServer,
    http: AsyncClient,
    fleet: Any,
    db: psycopg.Connection[Any],
    redis_url: str,
    page: Any,
) -> None:
    vid, token = fleet.truck("川A-T003")
    permit_id = add_trip_and_permit(db, vid)
    for i in range(5):
        await post_fix(http, token, 104.05 + i * 0.001, 30.66, at=ago(300 - i * 60), speed_kmh=20.0)
    state = {"trip_id": f"v{vid}:trip", "permit_id": str(permit_id)}
    await publish_state(redis_url, vid, "hauling", **state)
    await page.goto(f"{live.base_url}/map/?center=104.052,30.66&zoom=15#token=test-staff")
    await page.wait_for_function("window.trackerLive.trucks.size === 1", timeout=5000)
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    for _ in range(5):  # the map may still be settling (a pan, a fresh snapshot) at first
        await page.locator("path.truck").first.click(force=True)
        if await page.locator("#vehicle:not([hidden])").count():
            break
        await asyncio.sleep(0.3)
    await page.wait_for_selector("#vehicle:not([hidden])", timeout=3000)
    assert await page.locator("#vehicle-title").inner_text() == "川A-T003"
    await page.wait_for_function(
        "document.getElementById('vehicle-track').dataset.count === '5'", timeout=3000
    )
    assert await page.locator("path.track").count() == 1
    await page.wait_for_selector(f"#vehicle[data-loaded='{vid}']", timeout=3000)
    assert await page.locator("#vehicle-facts dd[data-fact=state]").inner_text() == "重载运输"
    assert await page.locator("#vehicle-trip dd[data-fact=trip]").inner_text() == "运输中"
    assert await page.locator("#vehicle-trip dd[data-fact=volume]").inner_text() == "14.5 立方米"
    permit = page.locator("#vehicle-permit dd[data-fact=permit]")
    assert await permit.inner_text() == f"核准证 {permit_id}（已核准）"
    assert "20:00–06:00" in await page.locator("#vehicle-permit").inner_text()
    await page.screenshot(path=str(ARTIFACTS / "live-map-vehicle.png"))
