"""Track replay in headless Chromium, in zh-CN at 1400×900: a truck found by part of its plate,
a period entered in the city's local time, the track drawn from the real history API and played
back (play, pause, speed, slider)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from live_world import LiveServer, iso

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(t: datetime) -> str:
    return t.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


async def test_a_chosen_period_of_a_truck_plays_back(
    live: LiveServer, fleet: Any, http: AsyncClient, page: Any
) -> None:
    fleet.truck("浙A-R001")
    _, token = fleet.truck("浙A-R002")
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    fixes = [
        {
            "time": iso(t0 + timedelta(seconds=30 * i)),
            "lon": 7.41 + i * 0.0005,
            "lat": 43.73 + i * 0.0002,
            "speed_kmh": 20 + i,
            "loaded": i < 10,
        }
        for i in range(20)
    ]
    resp = await http.post(
        "/api/v1/positions", json={"fixes": fixes}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200 and resp.json()["rejected"] == 0, resp.text

    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.goto(f"{live.base_url}/map/replay.html#token=test-staff")
    await page.wait_for_selector("body[data-ready=true]", timeout=10000)
    assert "Asia/Shanghai" in await page.locator("#replay-zone").inner_text()
    await page.fill("#plate-search", "r002")
    options = page.locator("[name=vehicle_id] option")
    assert await options.count() == 1 and await options.first.inner_text() == "浙A-R002"
    # a period that holds the first 10 fixes only (start inclusive, end exclusive)
    await page.fill("[name=start]", local(t0))
    await page.fill("[name=end]", local(t0 + timedelta(minutes=5)))
    await page.click("#replay-load")
    await page.wait_for_selector("body[data-loaded='10']", timeout=5000)
    assert await page.locator("#replay-count").inner_text() == "共 10 个定位点"
    assert await page.locator("path.replay-track").count() == 1
    first = page.locator("#replay-point dd[data-fact=at]")
    assert await first.inner_text() == t0.astimezone(SHANGHAI).strftime("%Y/%m/%d %H:%M:%S")

    await page.fill("[name=end]", local(t0 + timedelta(minutes=30)))
    await page.click("#replay-load")
    await page.wait_for_selector("body[data-loaded='20']", timeout=5000)
    await page.select_option("#replay-speed", "1200")  # 30 s between fixes: one per 25 ms
    await page.click("#replay-play")
    assert await page.locator("#replay-play").inner_text() == "暂停"
    await page.wait_for_selector("#replay-play[data-playing=false]", timeout=5000)
    assert await page.locator("#replay-slider").input_value() == "19"
    assert await page.locator("#replay-point dd[data-fact=point]").inner_text() == "20 / 20"
    assert await page.locator("#replay-point dd[data-fact=loaded]").inner_text() == "否"

    await page.locator("#replay-slider").fill("4")
    assert await page.locator("#replay-point dd[data-fact=point]").inner_text() == "5 / 20"
    assert await page.locator("#replay-point dd[data-fact=speed_kmh]").inner_text() == "24 km/h"
    assert await page.locator("#replay-point dd[data-fact=loaded]").inner_text() == "是"
    cursor = await page.evaluate(
        "(() => { const p = window.trackerReplay.cursor.getLatLng(); return [p.lng, p.lat]; })()"
    )
    assert cursor == pytest.approx([7.412, 43.7308], abs=1e-6)
    await page.screenshot(path=str(ARTIFACTS / "forms-replay.png"))
