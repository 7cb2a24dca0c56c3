"""Disposal yards in headless Chromium: the yard page (fill curve, remaining, days to full) and
the yards' fill on the live map, both kept current by the capacity service's live alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient
from live_world import LiveServer, ago
from test_dashboard_page import labels_inside

pytestmark = pytest.mark.slow
STAFF = {"Authorization": "Bearer test-staff"}
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "artifacts"


def box(lon: float, lat: float, size: float = 0.002) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


async def yard_with_trips(http: AsyncClient, db: psycopg.Connection[Any], fleet: Any) -> int:
    """Capacity 1,000 m³; 5 × 20 m³ 20 days ago and 7 × 20 m³ 3 days ago: 240 m³, and an inflow
    of 140 m³ over the 14-day window, 10 m³ a day, so 76 days to full."""
    body = {"name": "East yard", "geometry": box(7.430, 43.730), "capacity_m3": 1000}
    resp = await http.post("/api/v1/yards", json=body, headers=STAFF)
    assert resp.status_code == 201, resp.text
    yard_id = int(resp.json()["id"])
    db.execute("UPDATE yards SET created_at = now() - interval '60 days'")
    vid, _ = fleet.truck("沪A-Y001")
    for i, days_ago in enumerate([20.0] * 5 + [3.0] * 7):
        db.execute(
            "INSERT INTO trips (trip_id, vehicle_id, yard_id, outcome, completed_at, volume_m3)"
            " VALUES (%s, %s, %s, 'yard', %s, 20)",
            (f"y-{i}", vid, str(yard_id), ago(days_ago * 86400 + i * 60)),
        )
    return yard_id


async def fact(page: Any, name: str) -> str:
    text: str = await page.locator(f"[data-fact={name}]").inner_text()
    return text


async def test_yard_page_curve_forecast_and_a_live_alert(
    live: LiveServer, http: AsyncClient, db: psycopg.Connection[Any], fleet: Any, page: Any
) -> None:
    yard_id = await yard_with_trips(http, db, fleet)
    await page.goto(f"{live.base_url}/map/yard.html?yard={yard_id}#token=test-staff")
    await page.wait_for_selector("#yard[data-loaded='1']", timeout=5000)
    assert await page.locator("#yard-title").inner_text() == "East yard"
    assert await fact(page, "fill_pct") == "24 %"
    assert await fact(page, "fill_m3") == "240 立方米 / 1,000 立方米"
    assert await fact(page, "remaining_m3") == "760 立方米"
    assert await fact(page, "days_to_full") == "76 天"
    assert await fact(page, "inflow") == "10 立方米"
    chart = page.locator("#fill-chart")
    assert await chart.get_attribute("data-points") == "30"  # one per day
    assert await chart.get_attribute("data-forecast") == "true"
    assert await chart.get_attribute("data-limit") == "1000"
    texts = await labels_inside(page, "#fill-chart")  # no axis label clipped
    assert "1,000" in texts or "1,200" in texts, texts
    gauge = page.locator(f"#yards li[data-yard-id='{yard_id}'] .gauge")
    assert await gauge.get_attribute("class") == "gauge level-ok"
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    await page.screenshot(path=str(ARTIFACTS_DIR / "yard-page.png"), full_page=True)

    # A survey finds 600 m³ more: the capacity service raises its 80 % alert on the bus, the
    # page hears it on the live feed and reloads.
    survey = {"kind": "survey", "volume_m3": 600, "reason": "drone survey"}
    resp = await http.post(f"/api/v1/yards/{yard_id}/adjustments", json=survey, headers=STAFF)
    assert resp.status_code == 201, resp.text
    await page.wait_for_function(
        "document.querySelector('[data-fact=fill_pct]').textContent === '84 %'", timeout=5000
    )
    assert await fact(page, "remaining_m3") == "160 立方米"
    assert "超过 80 %" in await page.locator("#yard-alert").inner_text()
    assert await gauge.get_attribute("class") == "gauge level-warn"
    last = await page.evaluate("window.trackerYards.detail.history.at(-1).fill_m3")
    assert last == 840


async def test_yards_show_their_fill_on_the_live_map(
    live: LiveServer, http: AsyncClient, db: psycopg.Connection[Any], fleet: Any, page: Any
) -> None:
    yard_id = await yard_with_trips(http, db, fleet)
    await page.goto(f"{live.base_url}/map/?center=7.431,43.731&zoom=15#token=test-staff")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    label = page.locator(f"a.yard-fill[data-yard-id='{yard_id}']")
    await label.wait_for(timeout=5000)
    assert await label.inner_text() == "East yard · 24 %"
    assert await label.get_attribute("href") == f"yard.html?yard={yard_id}"
    assert await page.locator("path.fence-yard").count() == 1

    survey = {"kind": "survey", "volume_m3": 760, "reason": "full after the storm"}
    resp = await http.post(f"/api/v1/yards/{yard_id}/adjustments", json=survey, headers=STAFF)
    assert resp.status_code == 201, resp.text
    alert = page.locator(f"#yard-alerts li[data-yard-id='{yard_id}']")
    await alert.first.wait_for(timeout=5000)
    await page.wait_for_function(
        f"document.querySelector(\"a.yard-fill[data-yard-id='{yard_id}']\")"
        ".textContent.endsWith('已关闭')",
        timeout=5000,
    )
    assert await label.inner_text() == "East yard · 100 % · 已关闭"
    assert "level-closed" in (await label.get_attribute("class") or "")
    texts = await page.locator("#yard-alerts li").all_inner_texts()
    assert any("超过 100 %" in t and "已关闭" in t for t in texts), texts
    await page.screenshot(path=str(ARTIFACTS_DIR / "live-map-yards.png"))
