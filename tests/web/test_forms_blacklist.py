"""Blacklist and appeals in headless Chromium, in zh-CN at 1400×900: an officer lists a truck
by hand and lifts another listing with a reason; a company user appeals a listing; an officer
upholds it with a note (the listing is lifted). Every step lands in the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from live_world import LiveServer

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


async def open_page(page: Any, live: LiveServer, token: str) -> None:
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.goto("about:blank")  # a new document: the fragment's token is read afresh
    await page.goto(f"{live.base_url}/map/blacklist.html#token={token}")
    await page.wait_for_selector("body[data-loaded]", timeout=10000)


async def test_listing_appealing_upholding_and_delisting(
    live: LiveServer, page: Any, db: psycopg.Connection[Any], fleet: Any, accounts: Any
) -> None:
    first, _ = fleet.truck("浙A-B001", company="丙运输")
    second, _ = fleet.truck("浙A-B002", company="丙运输")
    company = db.execute("SELECT company_id FROM vehicles WHERE id = %s", (first,)).fetchone()
    assert company is not None

    await open_page(page, live, "test-staff")
    assert await page.locator("#appeal-section").is_hidden()  # officers decide, not appeal
    await page.click("#list-save")
    assert await page.locator(".field-error[data-for=vehicle_id]").inner_text() == "必填"
    for vehicle_id, reason in ((first, "多次夜间违规运输"), (second, "未密闭运输")):
        await page.select_option("#list-form [name=vehicle_id]", str(vehicle_id))
        await page.fill("#list-form [name=reason]", reason)
        await page.click("#list-save")
        await page.wait_for_selector(f"#listings tr:has-text('{reason}')", timeout=5000)
        listable = page.locator(f"#list-form [name=vehicle_id] option[value='{vehicle_id}']")
        assert await listable.count() == 0  # a listed truck is not offered again
    rows = db.execute(
        "SELECT vehicle_id, source, reason, lifted_at IS NULL FROM blacklist_listings ORDER BY id"
    ).fetchall()
    assert rows == [
        (first, "manual", "多次夜间违规运输", True),
        (second, "manual", "未密闭运输", True),
    ]
    second_listing = db.execute(
        "SELECT id FROM blacklist_listings WHERE vehicle_id = %s", (second,)
    ).fetchone()
    assert second_listing is not None
    row = page.locator(f"#listings tr[data-id='{second_listing[0]}']")
    await row.locator(".row-delist").click()  # no reason: the page asks for one
    assert await row.locator(".field-error[data-for=reason]").inner_text() == "必填"
    await row.locator("[name=reason]").fill("整改完成")
    await row.locator(".row-delist").click()
    await page.wait_for_selector(f"#listings tr[data-id='{second_listing[0]}']", state="detached")
    lifted = db.execute(
        "SELECT lifted_how, lifted_reason FROM blacklist_listings WHERE id = %s",
        (second_listing[0],),
    ).fetchone()
    assert lifted == ("manual", "整改完成")

    company_token = accounts.headers("company_user", company[0])["Authorization"][7:]
    await page.evaluate("sessionStorage.clear()")
    await open_page(page, live, company_token)
    assert await page.locator("#list-section").is_hidden()
    assert await page.locator(".row-delist").count() == 0
    await page.fill("#appeal-form [name=statement]", "该车当晚停放在场内，有监控为证")
    await page.click("#appeal-save")  # neither a listing nor an incident named
    assert await page.locator(".field-error[data-for=listing_id]").count() == 1
    first_listing = db.execute(
        "SELECT id FROM blacklist_listings WHERE vehicle_id = %s", (first,)
    ).fetchone()
    assert first_listing is not None
    await page.select_option("#appeal-form [name=listing_id]", str(first_listing[0]))
    await page.click("#appeal-save")
    await page.wait_for_selector("#appeals tr[data-status=pending]", timeout=5000)
    appeal = db.execute("SELECT id, status, listing_id FROM appeals").fetchone()
    assert appeal is not None and appeal[1:] == ("pending", first_listing[0])
    await page.click("#appeal-save")  # the same again: the API's 409 by the field
    await page.select_option("#appeal-form [name=listing_id]", str(first_listing[0]))
    await page.fill("#appeal-form [name=statement]", "再次申诉")
    await page.click("#appeal-save")
    await page.wait_for_selector(".field-error[data-for=listing_id]", timeout=5000)

    await page.evaluate("sessionStorage.clear()")
    await open_page(page, live, "test-staff")
    decision = page.locator(f"#appeals tr[data-id='{appeal[0]}']")
    await decision.locator("[name=note]").fill("监控核实无误，申诉成立")
    await decision.locator(".appeal-uphold").click()
    await page.wait_for_selector(f"#appeals tr[data-id='{appeal[0]}'][data-status=upheld]")
    decided = db.execute(
        "SELECT a.status, a.decision_note, l.lifted_how FROM appeals a "
        "JOIN blacklist_listings l ON l.id = a.listing_id"
    ).fetchone()
    assert decided == ("upheld", "监控核实无误，申诉成立", "appeal")
    await page.screenshot(path=str(ARTIFACTS / "forms-blacklist.png"), full_page=True)
