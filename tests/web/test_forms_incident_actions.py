"""Incident actions on the live map in headless Chromium, in zh-CN at 1400×900: an officer
confirms an open incident with a note, then closes it; the status reaches the database, the
audit log and the feed's item; a note is required by the page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import redis.asyncio as aioredis
from live_world import LiveServer, ago, iso

from tracker import wire

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_incident_replay import add_incident

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


async def publish_opened(redis_url: str, vehicle_id: int, incident_id: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    try:
        event = {
            "event": "opened",
            "type": "illegal_dumping",
            "vehicle_id": vehicle_id,
            "incident_id": incident_id,
            "lon": 7.423,
            "lat": 43.735,
            "time": iso(ago(40)),
        }
        await r.publish(wire.channel(r, wire.Channel.INCIDENTS), orjson.dumps(event))
    finally:
        await r.aclose()


async def test_confirming_then_closing_an_incident(
    live: LiveServer, fleet: Any, db: psycopg.Connection[Any], redis_url: str, page: Any
) -> None:
    vid, _ = fleet.truck("浙A-E017")
    incident_id = add_incident(db, vid)
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.goto(f"{live.base_url}/map/?center=7.42,43.735&zoom=15#token=test-staff")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    await publish_opened(redis_url, vid, incident_id)
    item = page.locator(f".incident-item[data-incident-id='{incident_id}']")
    await item.click(timeout=3000)
    await page.wait_for_selector("#incident-actions[data-status=open]", timeout=5000)
    assert await page.locator("#incident-status").inner_text() == "待处理"
    assert await item.get_attribute("data-status") == "open"

    await page.click("#incident-confirm")  # no note: refused by the page
    assert await page.locator(".field-error[data-for=note]").inner_text() == "必填"
    status = db.execute("SELECT status FROM incidents WHERE incident_id = %s", (incident_id,))
    assert status.fetchone() == ("open",)

    await page.fill("#incident-note", "现场核实，车辆在河道倾倒渣土")
    await page.click("#incident-confirm")
    await page.wait_for_selector("#incident-actions[data-status=confirmed]", timeout=5000)
    assert await item.get_attribute("data-status") == "confirmed"
    assert await item.locator(".incident-status").inner_text() == "已确认"
    row = db.execute(
        "SELECT status, note, status_by FROM incidents WHERE incident_id = %s", (incident_id,)
    ).fetchone()
    assert row is not None and row[:2] == ("confirmed", "现场核实，车辆在河道倾倒渣土")
    audit = db.execute(
        "SELECT action FROM audit_log WHERE entity = 'incident' ORDER BY id"
    ).fetchall()
    assert audit == [("incident.confirm",)]
    assert await page.locator("#incident-dismiss").count() == 0
    await page.screenshot(path=str(ARTIFACTS / "forms-incident-confirmed.png"))

    await page.fill("#incident-note", "已移交处罚")
    await page.click("#incident-close")
    await page.wait_for_selector("#incident-actions[data-status=closed]", timeout=5000)
    assert await item.get_attribute("data-status") == "closed"
    closed = db.execute("SELECT status FROM incidents WHERE incident_id = %s", (incident_id,))
    assert closed.fetchone() == ("closed",)
