"""User management and the audit log in headless Chromium, in zh-CN: an admin creates a company
user (at 390×844, a phone) and deactivates an account; the audit view finds both by its filters,
its period entered in the city's local time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from live_world import LiveServer

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


async def test_an_admin_creates_and_deactivates_users_on_a_phone(
    live: LiveServer, page: Any, db: psycopg.Connection[Any]
) -> None:
    company = db.execute("INSERT INTO companies (name) VALUES ('乙运输') RETURNING id").fetchone()
    assert company is not None
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{live.base_url}/map/users.html#token=test-staff")
    await page.wait_for_selector("#users[data-loaded]", timeout=10000)
    await page.fill("[name=username]", "dispatcher.li")
    await page.fill("[name=password]", "short")
    await page.select_option("[name=role]", "company_user")
    await page.click("#save")  # the page's checks: password too short, no company
    assert await page.locator(".field-error[data-for=password]").inner_text() == "格式或取值不正确"
    assert await page.locator(".field-error[data-for=company_id]").inner_text() == "必填"
    await page.fill("[name=password]", "a-long-enough-secret")
    await page.select_option("[name=company_id]", str(company[0]))
    await page.click("#save")
    await page.wait_for_selector("tr:has-text('dispatcher.li')", timeout=5000)
    row = db.execute(
        "SELECT id, role, company_id, active FROM users WHERE username = 'dispatcher.li'"
    ).fetchone()
    assert row is not None and row[1:] == ("company_user", company[0], True)
    assert "企业用户" in await page.locator(f"tr[data-id='{row[0]}']").inner_text()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling on a phone
    await page.screenshot(path=str(ARTIFACTS / "forms-users-phone.png"), full_page=True)

    await page.fill("[name=username]", "dispatcher.li")  # taken: the API's answer by the field
    await page.fill("[name=password]", "a-long-enough-secret")
    await page.select_option("[name=role]", "viewer")
    await page.click("#save")
    await page.wait_for_selector(".field-error[data-for=username]", timeout=5000)

    page.on("dialog", lambda dialog: dialog.accept())
    await page.click(f"tr[data-id='{row[0]}'] .row-deactivate")
    await page.wait_for_selector(f"tr[data-id='{row[0]}'][data-active=false]", timeout=5000)
    active = db.execute("SELECT active FROM users WHERE id = %s", (row[0],)).fetchone()
    assert active == (False,)


async def test_the_audit_log_filters_by_entity_actor_and_local_period(
    live: LiveServer, page: Any, db: psycopg.Connection[Any]
) -> None:
    db.execute(
        "INSERT INTO audit_log (at, actor, action, entity, entity_id, after) VALUES "
        "('2026-03-01 01:30+00', 'officer.wang', 'create', 'zone', 7, '{\"name\": \"甲\"}'), "
        "('2026-03-01 03:30+00', 'officer.wang', 'update', 'zone', 7, '{\"name\": \"乙\"}'), "
        "('2026-03-01 02:00+00', 'admin.zhao', 'create', 'company', 3, null)"
    )
    db.execute(
        "INSERT INTO audit_log (at, actor, action, entity, entity_key) VALUES "
        "('2026-03-01 04:00+00', 'officer.wang', 'incident.confirm', 'incident', 'v9:dump:1'), "
        "('2026-03-01 04:10+00', 'officer.wang', 'incident.confirm', 'incident', 'v9:dump:2')"
    )
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.goto(f"{live.base_url}/map/audit.html#token=test-staff")
    await page.wait_for_selector("#audit tbody tr", timeout=10000)
    assert await page.locator("#audit tbody tr").count() == 5
    assert "Asia/Shanghai" in await page.locator("#audit-zone").inner_text()
    await page.select_option("[name=entity]", "zone")
    await page.fill("[name=actor]", "officer.wang")
    # 09:00–10:00 in Shanghai is 01:00–02:00 UTC: only the first entry
    await page.fill("[name=since]", "2026-03-01T09:00")
    await page.fill("[name=until]", "2026-03-01T10:00")
    await page.click("#audit-search")
    await page.wait_for_selector("#audit[data-query*=officer]", timeout=5000)
    rows = page.locator("#audit tbody tr")
    assert await rows.count() == 1
    assert await rows.first.get_attribute("data-action") == "create"
    text = await rows.first.inner_text()
    assert "2026/03/01 09:30:00" in text and "禁行区" in text
    await page.fill("[name=until]", "2026-03-01T08:00")  # before since: refused by the page
    await page.click("#audit-search")
    assert await page.locator(".field-error[data-for=until]").count() == 1

    await page.fill("[name=since]", "")  # an incident by its text id
    await page.fill("[name=until]", "")
    await page.select_option("[name=entity]", "incident")
    await page.fill("[name=entity_id]", "v9:dump:2")
    await page.click("#audit-search")
    await page.wait_for_selector("#audit[data-query*=entity_key]", timeout=5000)
    assert await rows.count() == 1
    assert "v9:dump:2" in await rows.first.inner_text()
