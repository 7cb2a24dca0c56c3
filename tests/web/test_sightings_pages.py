"""Checkpoints and sightings on the pages, in headless Chromium (zh-CN): a checkpoint and a camera
system added on the registry page (its token shown once), and a truck's sightings drawn on the
replay map — also when its terminal sent nothing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient
from live_world import LiveServer, iso

pytestmark = pytest.mark.slow
DESKTOP = {"width": 1400, "height": 900}


@pytest.fixture(autouse=True)
def no_checkpoints(db: psycopg.Connection[Any], clean: None) -> None:
    db.execute("TRUNCATE sightings, checkpoints, camera_systems RESTART IDENTITY CASCADE")


async def test_a_checkpoint_and_a_camera_system_are_added(
    live: LiveServer, page: Any, db: psycopg.Connection[Any]
) -> None:
    await page.set_viewport_size(DESKTOP)
    await page.goto(f"{live.base_url}/map/registry.html?entity=checkpoints#token=test-staff")
    await page.wait_for_selector("#rows[data-loaded=checkpoints]", timeout=10000)
    assert await page.locator("#form-title").inner_text() == "新增卡点"
    await page.fill("[name=name]", "大沙田卡点")
    await page.fill("[name=lon]", "108.32")
    await page.fill("[name=lat]", "22.82")
    await page.fill("[name=district]", "良庆区")
    await page.fill("[name=directions]", "进城，出城")
    await page.fill("[name=cameras]", "cam-1, cam-2")
    await page.click("#save")
    await page.wait_for_selector("#notice:has-text('已新增')", timeout=5000)
    row = db.execute(
        "SELECT lon, lat, directions, cameras, muck_lanes FROM checkpoints "
        "WHERE name = '大沙田卡点'"
    ).fetchone()
    assert row == (108.32, 22.82, [{"name": "进城", "bearing_deg": None},
                                   {"name": "出城", "bearing_deg": None}], ["cam-1", "cam-2"],
                   True)  # fmt: skip
    await page.wait_for_selector("#rows tbody tr[data-id='1']", timeout=5000)
    assert "进城、出城" in await page.locator("#rows tbody").inner_text()

    await page.goto(f"{live.base_url}/map/registry.html?entity=camera-systems#token=test-staff")
    await page.wait_for_selector("#rows[data-loaded=camera-systems]", timeout=10000)
    await page.fill("[name=name]", "交警卡口系统")
    await page.click("#save")
    await page.wait_for_selector("#token-once:not([hidden])", timeout=5000)
    token = await page.locator("#token-value").inner_text()
    stored = db.execute("SELECT token_hash FROM camera_systems").fetchone()
    assert stored is not None and bytes(stored[0]) == hashlib.sha256(token.encode()).digest()


async def test_the_replay_map_shows_a_silent_trucks_sightings(
    live: LiveServer, fleet: Any, http: AsyncClient, page: Any
) -> None:
    vehicle_id, _ = fleet.truck("桂A12345")
    staff = {"Authorization": "Bearer test-staff"}
    cp = await http.post(
        "/api/v1/checkpoints",
        json={"name": "那洪卡点", "lon": 7.42, "lat": 43.73},
        headers=staff,
    )
    cs = await http.post("/api/v1/camera-systems", json={"name": "城管视频"}, headers=staff)
    token = await http.post(f"/api/v1/camera-systems/{cs.json()['id']}/token", headers=staff)
    seen = datetime.now(UTC) - timedelta(minutes=20)
    posted = await http.post(
        "/api/v1/sightings",
        json={
            "sightings": [
                {
                    "plate": "桂A12345",
                    "time": iso(seen),
                    "checkpoint_id": cp.json()["id"],
                    "confidence": 0.95,
                }
            ]
        },
        headers={"Authorization": f"Bearer {token.json()['token']}"},
    )
    assert posted.status_code == 200, posted.text
    await page.set_viewport_size(DESKTOP)
    await page.goto(f"{live.base_url}/map/replay.html?vehicle={vehicle_id}#token=test-staff")
    await page.wait_for_selector("body[data-ready=true]", timeout=10000)
    await page.click("#replay-load")
    await page.wait_for_selector("body[data-sightings='1']", timeout=5000)
    assert await page.locator("#replay-count").inner_text() == "共 0 个定位点 · 1 次卡点抓拍"
    assert await page.locator("path.replay-sighting").count() == 1
