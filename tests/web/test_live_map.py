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
from live_world import LiveServer, ago, post_fix

from tracker import bus

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
    await page.goto(f"{live.base_url}/map/?token=test-staff")
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
        await r.publish(bus.channel(r, bus.INCIDENTS), orjson.dumps(event))
        await page.wait_for_selector(".incident-item", timeout=2000)
        assert asyncio.get_running_loop().time() - started < 2.0
    finally:
        await r.aclose()
    assert "no go zone entry" in await page.locator(".incident-item").first.inner_text()
    await page.wait_for_function(
        "document.querySelectorAll('path.truck-incident').length === 1", timeout=2000
    )
    await page.screenshot(path=str(ARTIFACTS / "live-map-incident.png"))


async def test_vehicle_panel_shows_the_last_hour(
    live: LiveServer, http: AsyncClient, fleet: Any, page: Any
) -> None:
    vid, token = fleet.truck("川A-T003")
    for i in range(5):
        await post_fix(http, token, 104.05 + i * 0.001, 30.66, at=ago(300 - i * 60), speed_kmh=20.0)
    await page.goto(f"{live.base_url}/map/?token=test-staff&center=104.052,30.66&zoom=15")
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
        "document.getElementById('vehicle-track').textContent.startsWith('5 fixes')", timeout=3000
    )
    assert await page.locator("path.track").count() == 1
    await page.screenshot(path=str(ARTIFACTS / "live-map-vehicle.png"))
    assert vid > 0
