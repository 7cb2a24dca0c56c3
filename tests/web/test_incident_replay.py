"""The live map's evidence panel: click an incident in the feed, see its track, replay it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import redis.asyncio as aioredis
from live_world import LiveServer, ago, iso

from tracker import wire

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def evidence(start_s: float) -> dict[str, Any]:
    """Five fixes of a truck that tips its load on the way: the body lifts at the fourth."""
    features = []
    for i in range(5):
        props = {
            "time": iso(ago(start_s - i * 10)),
            "speed_kmh": [30.0, 28.0, 12.0, 0.0, 0.0][i],
            "distance_m": None,
            "fence_ids": [],
            "loaded": i < 4,
            "body_lifted": i == 3,
            "cover_closed": None if i == 0 else i < 3,
        }
        point = {"type": "Point", "coordinates": [7.420 + i * 0.001, 43.735]}
        features.append({"type": "Feature", "geometry": point, "properties": props})
    return {"type": "FeatureCollection", "features": features}


def add_incident(db: psycopg.Connection[Any], vehicle_id: int) -> str:
    incident_id = f"v{vehicle_id}:dumping:test"
    opened = ago(70)
    db.execute(
        "INSERT INTO incidents (incident_id, type, vehicle_id, opened_at, detected_at, lon, lat,"
        " evidence) VALUES (%s, 'dumping', %s, %s, %s, 7.423, 43.735, %s)",
        (incident_id, vehicle_id, opened, opened, json.dumps(evidence(70))),
    )
    return incident_id


async def test_clicking_an_incident_replays_its_evidence(
    live: LiveServer, fleet: Any, db: psycopg.Connection[Any], redis_url: str, page: Any
) -> None:
    vid, _ = fleet.truck("川A-E005")
    incident_id = add_incident(db, vid)
    await page.goto(f"{live.base_url}/map/?center=7.42,43.735&zoom=15#token=test-staff")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    r = aioredis.Redis.from_url(redis_url)
    try:
        event = {
            "event": "opened",
            "type": "dumping",
            "vehicle_id": vid,
            "incident_id": incident_id,
            "lon": 7.423,
            "lat": 43.735,
            "time": iso(ago(40)),
        }
        await r.publish(wire.channel(r, wire.Channel.INCIDENTS), orjson.dumps(event))
    finally:
        await r.aclose()
    await page.click(f".incident-item[data-incident-id='{incident_id}']", timeout=3000)
    await page.wait_for_selector("#evidence:not([hidden])", timeout=3000)
    await page.wait_for_function(
        "document.getElementById('evidence-note').textContent.startsWith('5 个点')",
        timeout=3000,
    )
    assert await page.locator("path.evidence-track").count() == 1
    assert await page.locator("#evidence-title").inner_text() == "证据 · 疑似偷倒"
    assert await page.locator("#evidence-timeline .tl-cell").count() == 4 * 5
    fact = page.locator("#evidence-point dd[data-fact='body_lifted']")
    assert await fact.inner_text() == "否"
    assert await page.locator("#evidence-point dd[data-fact=speed]").inner_text() == "30 公里/小时"

    await page.locator("#evidence-slider").fill("3")  # range inputs take fill(); fires input
    assert await fact.inner_text() == "是"
    assert await page.locator("#evidence-point dd[data-fact=point]").inner_text() == "第 4 / 5 点"
    assert await page.locator("#evidence-point dd[data-fact=speed]").inner_text() == "0 公里/小时"
    current = page.locator("#evidence-timeline .tl-cell.current")
    assert await current.count() == 4  # one per row, all at the fourth point
    assert await current.first.get_attribute("data-index") == "3"
    await page.screenshot(path=str(ARTIFACTS / "live-map-evidence.png"))

    await page.click("#evidence-play")  # replays from the fourth point to the end
    await page.wait_for_function(
        "document.querySelector('#evidence-point dd[data-fact=point]')"
        ".textContent === '第 5 / 5 点'",
        timeout=3000,
    )
    assert await page.locator("#evidence-point dd[data-fact='cover_closed']").inner_text() == "否"

    # Late fixes later contradict it: the panel says so when the incident is opened again.
    db.execute(
        "UPDATE incidents SET late = true, detail = detail || '{\"retracted\": true}'"
        " WHERE incident_id = %s",
        (incident_id,),
    )
    await page.click("#evidence-close")
    await page.click(f".incident-item[data-incident-id='{incident_id}']", timeout=3000)
    await page.wait_for_function(
        "document.getElementById('evidence-note').textContent.includes("
        "'已撤回：补报的定位点与之矛盾')",
        timeout=3000,
    )
    note = await page.locator("#evidence-note").inner_text()
    assert note.startswith("5 个点") and "由盲区补报的定位点发现" in note
