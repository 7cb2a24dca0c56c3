"""The new-permit form in headless Chromium, in zh-CN at 1400×900: a company's trucks, a site and
a yard chosen, a night window entered in local time, a corridor drawn on the map, saved and
submitted; the permit is in the database as submitted. The permits page links to the form."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient
from live_world import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "permits"))

from permit_world import make_world

from tracker.settings import Settings
from tracker.sim.data import DataUnavailableError, ensure_monaco_pbf

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
STAFF = {"Authorization": "Bearer test-staff"}


async def test_a_permit_is_drafted_with_a_drawn_corridor_and_submitted(
    live: LiveServer, http: AsyncClient, page: Any, db: psycopg.Connection[Any]
) -> None:
    world = await make_world(http, STAFF)
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.goto(f"{live.base_url}/map/permits.html#token=test-staff")
    await page.click("a[href='permit-new.html']")
    await page.wait_for_selector("body[data-ready=true]", timeout=10000)
    assert "当地时间（Asia/Shanghai）" in await page.locator("#windows-legend").inner_text()

    await page.select_option("[name=company_id]", str(world.company_id))
    await page.check(f"input[name=vehicle][value='{world.vehicle_ids[0]}']")
    await page.check(f"input[name=site][value='{world.site_id}']")
    await page.check(f"input[name=yard][value='{world.yard_id}']")
    today = date.today()
    await page.fill("[name=valid_from]", (today + timedelta(days=10)).isoformat())
    await page.fill("[name=valid_to]", today.isoformat())
    await page.fill("[name='windows.0.start']", "22:00")
    await page.fill("[name='windows.0.end']", "05:00")
    await page.fill("[name=quota_m3]", "3000")
    await page.click("#save-submit")  # dates the wrong way round, no corridor: the page says so
    assert await page.locator(".field-error[data-for=valid_to]").count() == 1
    assert await page.locator(".field-error[data-for=corridors]").inner_text() == (
        "请画出或选择一条运输路线"
    )
    assert db.execute("SELECT count(*) FROM permits").fetchone() == (0,)

    await page.fill("[name=valid_from]", today.isoformat())
    await page.fill("[name=valid_to]", (today + timedelta(days=30)).isoformat())
    await page.click("#draw-start")
    box = await page.locator("#map").bounding_box()
    assert box is not None
    for dx in (-120, 0, 120):
        await page.mouse.click(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2)
    await page.click("#draw-save")
    await page.wait_for_selector("#corridor-box[data-set=drawn]")
    await page.click("#save-submit")
    await page.wait_for_selector("#permit-form[data-state=submitted]", timeout=5000)
    row = db.execute("SELECT id, company_id, windows, quota_m3, state FROM permits").fetchone()
    assert row is not None
    assert row[1:] == (
        world.company_id,
        [{"start": "22:00", "end": "05:00"}],
        3000,
        "submitted",
    )
    links = [
        db.execute(
            f"SELECT array_agg({column}) FROM {table} WHERE permit_id = %s", (row[0],)
        ).fetchone()
        for table, column in (
            ("permit_vehicles", "vehicle_id"),
            ("permit_sites", "site_id"),
            ("permit_yards", "yard_id"),
        )
    ]
    assert links == [([world.vehicle_ids[0]],), ([world.site_id],), ([world.yard_id],)]
    corridor = db.execute(
        "SELECT jsonb_array_length(geometry->'coordinates'), half_width_m FROM permit_corridors "
        "WHERE permit_id = %s",
        (row[0],),
    ).fetchone()
    assert corridor == (3, 50.0)
    await page.screenshot(path=str(ARTIFACTS / "forms-permit-new.png"))


async def test_a_corridor_proposed_on_the_roads_is_saved_as_a_draft(
    live: LiveServer, http: AsyncClient, page: Any, db: psycopg.Connection[Any], settings: Settings
) -> None:
    try:
        ensure_monaco_pbf(Path(settings.data_dir))  # the road network proposals follow
    except DataUnavailableError as exc:
        pytest.skip(f"Monaco extract unavailable: {exc}")
    world = await make_world(http, STAFF)
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.goto(f"{live.base_url}/map/permit-new.html#token=test-staff")
    await page.wait_for_selector("body[data-ready=true]", timeout=10000)
    await page.select_option("[name=company_id]", str(world.company_id))
    for vehicle_id in world.vehicle_ids:
        await page.check(f"input[name=vehicle][value='{vehicle_id}']")
    await page.check(f"input[name=site][value='{world.site_id}']")
    await page.check(f"input[name=yard][value='{world.yard_id}']")
    today = date.today()
    await page.fill("[name=valid_from]", today.isoformat())
    await page.fill("[name=valid_to]", (today + timedelta(days=7)).isoformat())
    await page.fill("[name='windows.0.start']", "09:00")
    await page.fill("[name='windows.0.end']", "17:00")
    await page.fill("[name=quota_m3]", "800")
    await page.click("#propose")
    await page.wait_for_selector("#corridor-box[data-set=proposed]", timeout=30000)
    assert (await page.locator("#corridor-status").inner_text()).startswith("推荐路线：")
    await page.click("#save-draft")
    await page.wait_for_selector("#permit-form[data-state=draft]", timeout=5000)
    row = db.execute(
        "SELECT p.state, jsonb_array_length(c.geometry->'coordinates') FROM permits p "
        "JOIN permit_corridors c ON c.permit_id = p.id"
    ).fetchone()
    assert row is not None and row[0] == "draft" and row[1] >= 2
    vehicles = db.execute("SELECT count(*) FROM permit_vehicles").fetchone()
    assert vehicles == (2,)
