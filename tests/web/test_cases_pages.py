"""The case pages in headless Chromium: an officer's queue and a case's actions, the company
portal's notice and acceptance, four eyes shown in words, the assessment dashboard and the
public sanctions page (zh-CN by default)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient
from live_world import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cases"))

from case_world import make_world

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _open_as(page: Any, live: LiveServer, name: str, headers: dict[str, str]) -> None:
    await page.goto("about:blank")
    await page.goto(f"{live.base_url}/map/{name}#token={_token(headers)}")


async def _act(page: Any, action: str, fields: dict[str, str]) -> None:
    await page.click(f"#action-buttons button[data-action={action}]")
    for selector, value in fields.items():
        await page.fill(selector, value)
    await page.click("#action-submit")
    await page.wait_for_selector("#message:not([hidden])")


async def test_an_officer_and_a_company_take_a_case_to_its_decision(
    live: LiveServer, http: AsyncClient, db: psycopg.Connection[Any], page: Any
) -> None:
    db.execute("TRUNCATE case_notices, case_events, cases, units, jurisdictions CASCADE")
    world = await make_world(http, db, {"Authorization": "Bearer test-staff"})
    proposer = world.account("enforcement_officer", unit="um_w")
    decider = world.account("enforcement_officer", unit="um_w")
    party = world.account("company_user", company="haul")
    cid = (await world.open(proposer))["id"]
    await world.open(proposer)
    for action in ("review", "dispatch"):
        assert (await world.act(cid, action, proposer)).status_code == 200

    await _open_as(page, live, "cases.html", proposer)
    await page.wait_for_selector("#queue[data-loaded='1']")
    assert await page.locator("#queue tbody tr").count() == 2
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    await page.click(f"#queue tr[data-case-id='{cid}']")
    await page.wait_for_selector(f"#detail[data-case-id='{cid}']")
    assert await page.locator("#detail-state").inner_text() == "已派遣"
    buttons = await page.locator("#action-buttons button").evaluate_all(
        "bs => bs.map(b => b.dataset.action)"
    )
    assert buttons == ["notify", "dismiss"]
    await _act(page, "notify", {"#f-penalty": "20000", "#f-note": "告知"})
    assert await page.locator("#message").get_attribute("data-ok") == "1"
    await page.wait_for_selector("#detail-state[data-state='notified']")
    assert await page.locator("#portal").is_hidden()  # staff have no portal
    await page.screenshot(path=str(ARTIFACTS / "cases-officer.png"), full_page=True)

    # the company sees its notice in the portal and accepts with its signature
    await _open_as(page, live, "cases.html", party)
    await page.wait_for_selector("#portal:not([hidden]) #portal-notices li[data-kind='notice']")
    await page.wait_for_selector("#queue[data-loaded='1']")
    assert await page.locator("#queue tbody tr").count() == 1  # only its told case
    await page.click("#portal-notices li[data-kind='notice']")
    await page.wait_for_selector(f"#detail[data-case-id='{cid}']")
    await _act(page, "accept", {"#f-signature": "张三"})
    await page.wait_for_selector("#detail-state[data-state='accepted']")
    await page.screenshot(path=str(ARTIFACTS / "cases-portal.png"), full_page=True)

    # four eyes, in words; another officer decides
    await _open_as(page, live, "cases.html", proposer)
    await page.wait_for_selector("#queue[data-loaded='1']")
    await page.click(f"#queue tr[data-case-id='{cid}']")
    await page.wait_for_selector(f"#detail[data-case-id='{cid}'] #action-buttons button")
    await _act(page, "decide", {})
    assert await page.locator("#message").get_attribute("data-ok") == "0"
    assert "提出处罚的人员不能作出决定" in await page.locator("#message").inner_text()
    await _open_as(page, live, "cases.html", decider)
    await page.wait_for_selector("#queue[data-loaded='1']")
    await page.click(f"#queue tr[data-case-id='{cid}']")
    await page.wait_for_selector(f"#detail[data-case-id='{cid}'] #action-buttons button")
    await _act(page, "decide", {})
    await page.wait_for_selector("#detail-state[data-state='decided']")
    href = await page.locator("#evidence a[data-kind='decision']").get_attribute("href")
    assert href == f"/api/v1/cases/{cid}/decision"
    timeline = await page.locator("#timeline li").evaluate_all(
        "items => items.map(i => i.dataset.action)"
    )
    assert timeline == ["open", "review", "dispatch", "notify", "accept", "decide"]

    # the state filter narrows the queue
    await page.select_option("#filter-state", "opened")
    await page.click("#reload")
    await page.wait_for_function(
        "[...document.querySelectorAll('#queue tbody tr')].every(r => r.dataset.state === 'opened')"
    )
    states = await page.locator("#queue tbody tr").evaluate_all(
        "rs => rs.map(r => r.dataset.state)"
    )
    assert states == ["opened"]

    await _open_as(page, live, "assessment.html", decider)
    await page.wait_for_selector("#board[data-loaded='1']")
    west = page.locator(f"#units tr[data-key='{world.units['um_w']}']")
    assert await west.locator("td[data-col=cases]").inner_text() == "2"
    assert await west.locator("td[data-col=name]").inner_text() == "西区城管执法局"
    assert await page.locator("#companies td[data-col=grade]").first.inner_text() == "A"
    await page.screenshot(path=str(ARTIFACTS / "cases-assessment.png"), full_page=True)


async def test_the_public_sanctions_page(
    live: LiveServer, http: AsyncClient, db: psycopg.Connection[Any], page: Any
) -> None:
    staff = {"Authorization": "Bearer test-staff"}
    company = (await http.post("/api/v1/companies", json={"name": "Dump Co"}, headers=staff)).json()
    truck = {"plate": "桂A-12345", "company_id": company["id"], "rated_volume_m3": 16}
    vehicle = (await http.post("/api/v1/vehicles", json=truck, headers=staff)).json()
    db.execute("UPDATE credit_settings SET score_listing_penalty = 50")
    listing = {"vehicle_id": vehicle["id"], "reason": "随意倾倒"}
    assert (await http.post("/api/v1/blacklist", json=listing, headers=staff)).status_code == 201
    await page.goto(f"{live.base_url}/map/sanctions.html")
    await page.wait_for_selector("#sanctions[data-loaded='1']")
    assert await page.locator("#vehicles tr[data-plate='桂A-12345']").count() == 1
    text = await page.locator(f"#companies li[data-company-id='{company['id']}']").inner_text()
    assert text == "Dump Co · 信用等级 D"
