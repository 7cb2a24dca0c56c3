"""The registry forms in headless Chromium, in zh-CN at 1400×900: each entity created, edited
and deactivated through the real API, with the rows in the database; a zone drawn on the map with
a weekday schedule; a terminal's token shown once; the page's own checks and the API's field
errors shown next to their fields."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import psycopg
import pytest
from live_world import LiveServer

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
DESKTOP = {"width": 1400, "height": 900}
CORNERS = "jsonb_array_length(f.geometry->'coordinates'->0)"  # of the outer ring, closed


async def open_registry(page: Any, live: LiveServer, entity: str) -> None:
    await page.set_viewport_size(DESKTOP)
    await page.goto(f"{live.base_url}/map/registry.html?entity={entity}#token=test-staff")
    await page.wait_for_selector(f"#rows[data-loaded={entity}]", timeout=10000)


async def test_a_company_is_created_edited_and_deactivated(
    live: LiveServer, page: Any, db: psycopg.Connection[Any]
) -> None:
    await open_registry(page, live, "companies")
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    assert await page.locator("#form-title").inner_text() == "新增运输企业"
    await page.fill("[name=name]", "城建渣土运输有限公司")
    await page.fill("[name=credit_code]", "91330100MA2XXXXX1A")
    await page.click("#save")
    await page.wait_for_selector("#notice:has-text('已新增')", timeout=5000)
    row = db.execute(
        "SELECT id, credit_code, active FROM companies WHERE name = '城建渣土运输有限公司'"
    ).fetchone()
    assert row is not None and row[1] == "91330100MA2XXXXX1A" and row[2] is True
    company_id = row[0]

    await page.click(f"tr[data-id='{company_id}'] .row-edit")
    assert await page.input_value("[name=name]") == "城建渣土运输有限公司"
    await page.fill("[name=name]", "城建渣土运输集团")
    await page.click("#save")
    await page.wait_for_selector("#notice:has-text('已保存')", timeout=5000)
    name = db.execute("SELECT name FROM companies WHERE id = %s", (company_id,)).fetchone()
    assert name == ("城建渣土运输集团",)

    page.on("dialog", lambda dialog: dialog.accept())
    await page.click(f"tr[data-id='{company_id}'] .row-deactivate")
    await page.wait_for_selector(f"tr[data-id='{company_id}'][data-active=false]", timeout=5000)
    active = db.execute("SELECT active FROM companies WHERE id = %s", (company_id,)).fetchone()
    assert active == (False,)


async def test_the_page_checks_and_the_api_field_error_show_by_the_field(
    live: LiveServer, page: Any, db: psycopg.Connection[Any]
) -> None:
    company = db.execute("INSERT INTO companies (name) VALUES ('甲公司') RETURNING id").fetchone()
    assert company is not None
    db.execute(
        "INSERT INTO vehicles (plate, company_id, rated_volume_m3) VALUES ('浙A12345', %s, 16)",
        (company[0],),
    )
    await open_registry(page, live, "vehicles")
    await page.click("#save")  # nothing filled: the page's own checks, no request
    error = page.locator(".field-error[data-for=plate]")
    assert await error.inner_text() == "必填"
    assert await page.locator(".field-error[data-for=rated_volume_m3]").count() == 1

    await page.fill("[name=plate]", "浙A12345")  # taken: the API's 409 names the plate
    await page.select_option("[name=company_id]", str(company[0]))
    await page.fill("[name=rated_volume_m3]", "18")
    await page.click("#save")
    await page.wait_for_selector(".field-error[data-for=plate]:has-text('冲突')", timeout=5000)
    assert await page.locator("[name=plate]").get_attribute("aria-invalid") == "true"
    count = db.execute("SELECT count(*) FROM vehicles").fetchone()
    assert count == (1,)

    await page.fill("[name=plate]", "浙A67890")
    await page.click("#save")
    await page.wait_for_selector("#notice:has-text('浙A67890')", timeout=5000)
    row = db.execute(
        "SELECT company_id, rated_volume_m3 FROM vehicles WHERE plate = '浙A67890'"
    ).fetchone()
    assert row == (company[0], 18.0)
    assert await page.locator(".field-error").count() == 0
    vehicle = db.execute("SELECT id FROM vehicles WHERE plate = '浙A67890'").fetchone()
    assert vehicle is not None
    await page.click(f"tr[data-id='{vehicle[0]}'] .row-replay")  # its track, on the replay page
    await page.wait_for_selector("body[data-ready=true]", timeout=10000)
    assert await page.input_value("[name=vehicle_id]") == str(vehicle[0])


async def test_a_terminal_shows_its_token_once(
    live: LiveServer, page: Any, db: psycopg.Connection[Any]
) -> None:
    await open_registry(page, live, "terminals")
    await page.fill("[name=identity]", "013912345678")
    await page.click("#save")
    await page.wait_for_selector("#token-once:not([hidden])", timeout=5000)
    token = await page.locator("#token-value").inner_text()
    row = db.execute("SELECT token_hash FROM terminals WHERE identity = '013912345678'").fetchone()
    assert row is not None and bytes(row[0]) == hashlib.sha256(token.encode()).digest()
    await page.click("#token-close")
    assert await page.locator("#token-value").inner_text() == ""
    page.on("dialog", lambda dialog: dialog.accept())  # rotation asks first: the old one dies
    await page.click("tr[data-id] .row-token")
    await page.wait_for_selector("#token-once:not([hidden])", timeout=5000)
    rotated = await page.locator("#token-value").inner_text()
    assert rotated and rotated != token
    row = db.execute("SELECT token_hash FROM terminals WHERE identity = '013912345678'").fetchone()
    assert row is not None and bytes(row[0]) == hashlib.sha256(rotated.encode()).digest()


async def draw_square(page: Any) -> None:
    box = await page.locator("#map").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((-60, -60), (60, -60), (60, 60), (-60, 60)):
        await page.mouse.click(cx + dx, cy + dy)


async def test_a_zone_is_drawn_with_a_weekday_schedule(
    live: LiveServer, page: Any, db: psycopg.Connection[Any]
) -> None:
    await open_registry(page, live, "zones")
    assert "当地时间（Asia/Shanghai）" in await page.locator("fieldset legend").inner_text()
    await page.fill("[name=name]", "学校周边禁行区")
    await page.click("#save")  # no polygon, no window: both named by the page
    await page.wait_for_selector(".field-error[data-for=geometry]", timeout=5000)
    await page.click(".window-add")
    await page.fill("[name='schedule.0.start']", "07:00")
    await page.fill("[name='schedule.0.end']", "09:00")
    weekend = page.locator(".window-row .weekday input")
    await weekend.nth(5).uncheck()
    await weekend.nth(6).uncheck()
    await page.fill("[name=speed_limit_kmh]", "30")
    await draw_square(page)
    assert await page.locator("#draw-count").inner_text() == "4 个顶点"
    await page.click("#save")
    await page.wait_for_selector("#notice:has-text('学校周边禁行区')", timeout=5000)
    row = db.execute(
        f"SELECT z.id, z.schedule, z.speed_limit_kmh, {CORNERS} "
        "FROM zones z JOIN fences f ON f.id = z.fence_id WHERE z.name = '学校周边禁行区'"
    ).fetchone()
    assert row is not None
    zone_id, schedule, speed, npoints = row
    assert schedule == [{"start": "07:00", "end": "09:00", "days": [1, 2, 3, 4, 5]}]
    assert speed == 30 and npoints == 5
    await page.screenshot(path=str(ARTIFACTS / "forms-zone.png"))

    await page.click(f"tr[data-id='{zone_id}'] .row-edit")
    assert await page.input_value("[name='schedule.0.start']") == "07:00"
    assert await page.locator("#draw-count").inner_text() == "4 个顶点"
    await page.click("#draw-undo")
    await page.fill("[name=name]", "学校周边禁行区（调整）")
    await page.click("#save")
    await page.wait_for_selector("#notice:has-text('已保存')", timeout=5000)
    row = db.execute(
        f"SELECT z.name, {CORNERS} FROM zones z JOIN fences f ON f.id = z.fence_id WHERE z.id = %s",
        (zone_id,),
    ).fetchone()
    assert row == ("学校周边禁行区（调整）", 4)


async def test_a_yard_and_a_site_are_drawn(
    live: LiveServer, page: Any, db: psycopg.Connection[Any]
) -> None:
    await open_registry(page, live, "yards")
    await page.fill("[name=name]", "东郊消纳场")
    await page.fill("[name=capacity_m3]", "250000")
    await page.fill("[name=accepted_materials]", "渣土，建筑垃圾")
    await page.click(".window-add")
    await page.fill("[name='opening_hours.0.start']", "22:00")
    await page.fill("[name='opening_hours.0.end']", "05:00")
    await draw_square(page)
    await page.click("#save")
    await page.wait_for_selector("#notice:has-text('东郊消纳场')", timeout=5000)
    row = db.execute(
        "SELECT capacity_m3, accepted_materials, opening_hours FROM yards WHERE name = '东郊消纳场'"
    ).fetchone()
    assert row == (250000.0, ["渣土", "建筑垃圾"], [{"start": "22:00", "end": "05:00"}])

    await open_registry(page, live, "sites")
    await page.fill("[name=name]", "地铁5号线工地")
    await page.select_option("[name=kind]", "construction")
    await draw_square(page)
    await page.click("#save")
    await page.wait_for_selector("#notice:has-text('地铁5号线工地')", timeout=5000)
    kind = db.execute("SELECT kind FROM sites WHERE name = '地铁5号线工地'").fetchone()
    assert kind == ("construction",)
