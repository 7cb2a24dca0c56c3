"""The console as Chinese city staff use it, in headless Chromium at 1400×900 and 390×844:
signing in by user name and password, the shared header in zh-CN, the locale switch, plate
search, the company filter, alarms for chosen incident types, the phone layout, and the public
vehicle page in Chinese."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import redis.asyncio as aioredis
from httpx import AsyncClient
from live_world import LiveServer, ago, iso, post_fix

from tracker import wire

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
ADMIN = {"Authorization": "Bearer test-staff"}


async def make_user(http: AsyncClient, username: str, password: str, role: str) -> None:
    body = {"username": username, "password": password, "role": role}
    resp = await http.post("/api/v1/users", json=body, headers=ADMIN)
    assert resp.status_code == 201, resp.text


async def publish_incident(redis_url: str, event: dict[str, Any]) -> None:
    r = aioredis.Redis.from_url(redis_url)
    try:
        await r.publish(wire.channel(r, wire.Channel.INCIDENTS), orjson.dumps(event))
    finally:
        await r.aclose()


async def test_sign_in_by_name_and_password_in_chinese_and_sign_out(
    live: LiveServer, http: AsyncClient, fleet: Any, page: Any
) -> None:
    await make_user(http, "wang.li", "correct horse battery", "enforcement_officer")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    await page.goto(f"{live.base_url}/map/")
    await page.wait_for_selector("dialog#login[open]", timeout=5000)
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    assert await page.locator("#login label").first.inner_text() == "用户名"
    nav = await page.locator("#shell-nav a").all_inner_texts()
    assert nav[:4] == ["实时地图", "核准证", "消纳场", "数据看板"]
    await page.screenshot(path=str(ARTIFACTS / "console-login.png"))

    await page.fill("#login-username", "wang.li")
    await page.fill("#login-password", "wrong password!")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-error:not([hidden])", timeout=5000)
    assert "用户名或密码错误" in await page.locator("#login-error").inner_text()

    await page.fill("#login-password", "correct horse battery")
    await page.click("#login-submit")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    assert not await page.locator("dialog#login[open]").count()
    assert await page.locator("#status").inner_text() == "实时 · 执法人员"
    await page.wait_for_selector("#shell-user:not([hidden])", timeout=3000)
    assert await page.locator("#shell-user .shell-name").inner_text() == "当前用户：wang.li"
    token = await page.evaluate("sessionStorage.getItem('tracker.token')")
    assert token and token != "test-staff"
    assert await page.evaluate("localStorage.getItem('tracker.token')") is None
    assert all(token not in url for url in requests)

    # another page of the console in the same tab: signed in already
    await page.goto(f"{live.base_url}/map/dashboard.html")
    await page.wait_for_selector("#board[data-loaded='1']", timeout=5000)
    assert not await page.locator("dialog#login[open]").count()
    assert await page.locator("#shell-nav a[aria-current=page]").inner_text() == "数据看板"

    await page.click("#sign-out")
    await page.wait_for_selector("dialog#login[open]", timeout=5000)
    assert await page.evaluate("sessionStorage.getItem('tracker.token')") is None
    resp = await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401  # the token was revoked, not only forgotten


async def test_the_locale_switch_redraws_the_page_in_english_and_back(
    live: LiveServer, http: AsyncClient, fleet: Any, page: Any
) -> None:
    _, token = fleet.truck("川A-L001")
    await post_fix(http, token, 104.05, 30.66, at=ago(10), speed_kmh=0.0)
    await page.goto(f"{live.base_url}/map/?center=104.05,30.66&zoom=15#token=test-staff")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    assert await page.locator("#locale-switch").inner_text() == "English"
    assert await page.locator("#legend li[data-state=hauling]").inner_text() == "重载运输"
    await page.click("#locale-switch")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    assert await page.evaluate("document.documentElement.lang") == "en"
    assert await page.evaluate("localStorage.getItem('tracker.locale')") == "en"
    assert await page.locator("#shell-nav a").first.inner_text() == "live map"
    assert await page.locator("#legend li[data-state=hauling]").inner_text() == "hauling (loaded)"
    assert await page.locator("#locale-switch").inner_text() == "中文"
    await page.click("#locale-switch")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"


async def test_plate_search_company_filter_and_an_alarm(
    live: LiveServer, http: AsyncClient, fleet: Any, redis_url: str, page: Any
) -> None:
    a, token_a = fleet.truck("川A-88123", company="成都渣土运输有限公司")
    b, token_b = fleet.truck("川A-55001", company="蓉城土方工程公司")
    await post_fix(http, token_a, 104.045, 30.660, at=ago(10), speed_kmh=30.0)
    await post_fix(http, token_b, 104.046, 30.6605, at=ago(10), speed_kmh=0.0)  # in view at 16
    await page.context.grant_permissions(["notifications"])
    await page.goto(f"{live.base_url}/map/#token=test-staff")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    await page.wait_for_function("window.trackerLive.trucks.size === 2", timeout=5000)

    await page.fill("#plate-search", "a88 1")  # any case, spaces ignored
    await page.press("#plate-search", "Enter")
    await page.wait_for_selector(f"#vehicle[data-loaded='{a}']", timeout=5000)
    assert await page.locator("#vehicle-title").inner_text() == "川A-88123"
    company = page.locator("#vehicle-facts dd[data-fact=company]")
    assert await company.inner_text() == "成都渣土运输有限公司"  # a name, not "company 3"
    await page.fill("#plate-search", "京")
    await page.press("#plate-search", "Enter")
    assert "未找到" in await page.locator("#plate-result").inner_text()

    options = await page.locator("#company-filter option").all_inner_texts()
    assert options == ["全部企业", "成都渣土运输有限公司", "蓉城土方工程公司"]
    await page.select_option("#company-filter", label="蓉城土方工程公司")
    await page.wait_for_function("document.querySelectorAll('path.truck').length === 1")
    assert await page.locator(f"path.truck[data-vehicle-id='{b}']").count() == 1
    assert await page.locator("#truck-count").inner_text() == "1"

    # Alarms: sound and a desktop notification for no-go zone entries (chosen), not speeding.
    assert await page.locator("#alarm-types input[value=no_go_zone]").is_checked()
    await page.check("#alarm-sound")
    await page.check("#alarm-notify")
    saved = orjson.loads(await page.evaluate("localStorage.getItem('tracker.alarms')"))
    assert saved["sound"] is True and saved["notify"] is True
    speeding = {"type": "speeding", "vehicle_id": b, "time": iso(ago(2))}
    await publish_incident(redis_url, speeding)
    await page.wait_for_selector(".incident-item[data-type=speeding]", timeout=3000)
    assert await page.evaluate("window.trackerAlarms.played.count") == 0
    entry = {"type": "no_go_zone_entry", "vehicle_id": b, "lon": 104.046, "lat": 30.6605}
    await publish_incident(redis_url, {**entry, "time": iso(ago(1))})
    await page.wait_for_selector(".incident-item[data-type=no_go_zone_entry]", timeout=3000)
    assert await page.evaluate("window.trackerAlarms.played.count") == 1
    assert await page.evaluate("window.trackerAlarms.played.notified") == 1
    item = page.locator(".incident-item[data-type=no_go_zone_entry]")
    assert "闯禁区 川A-55001" in await item.inner_text()
    assert "北京时间" in await item.inner_text()
    # an incident of the filtered-out company is kept but not shown, and raises no alarm
    await publish_incident(redis_url, {**entry, "vehicle_id": a, "time": iso(ago(0.5))})
    await page.wait_for_selector(
        f".incident-item[data-vehicle-id='{a}']", state="attached", timeout=3000
    )
    assert not await page.locator(f".incident-item[data-vehicle-id='{a}']").is_visible()
    assert await page.evaluate("window.trackerAlarms.played.count") == 1
    assert await page.locator("#incident-count").inner_text() == "2"  # the shown ones
    await page.screenshot(path=str(ARTIFACTS / "console-live-map-zh.png"))


async def test_the_live_map_on_a_phone(
    live: LiveServer, http: AsyncClient, fleet: Any, redis_url: str, phone_page: Any
) -> None:
    page = phone_page
    vid, token = fleet.truck("川A-P390")
    for i in range(3):
        await post_fix(http, token, 104.05 + i * 0.001, 30.66, at=ago(200 - i * 60), speed_kmh=20.0)
    await page.goto(f"{live.base_url}/map/?center=104.051,30.66&zoom=15#token=test-staff")
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    await page.wait_for_function("window.trackerLive.trucks.size === 1", timeout=5000)
    size = await page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert size[0] <= size[1] == 390  # nothing wider than the phone
    box = await page.locator("#map").bounding_box()
    assert box["width"] == 390 and box["height"] >= 300  # not a 38 px strip
    tabs = page.locator(".sheet-tabs button")
    assert await tabs.all_inner_texts() == ["告警", "车辆 / 证据", "查找与提醒"]
    assert await page.locator(".sheet-tabs").is_visible()

    await publish_incident(
        redis_url,
        {"type": "dumping", "vehicle_id": vid, "lon": 104.052, "lat": 30.66, "time": iso(ago(1))},
    )
    item = page.locator(".incident-item").first
    await item.wait_for(timeout=3000)
    assert await item.is_visible()  # the feed tab is open at first
    assert "疑似偷倒" in await item.inner_text()
    sheet = await page.locator("#sheet").bounding_box()
    assert sheet["y"] >= box["y"] + box["height"] - 1  # the sheet is under the map

    await item.tap()
    await page.wait_for_selector(f"#vehicle[data-loaded='{vid}']", timeout=5000)
    assert await page.evaluate("document.body.dataset.tab") == "panel"
    assert await page.locator("#vehicle").is_visible()
    assert not await page.locator("#incidents").is_visible()
    assert await page.locator("#map").is_visible()
    await page.screenshot(path=str(ARTIFACTS / "console-phone-vehicle.png"))

    await tabs.nth(2).tap()
    assert await page.locator("#plate-search").is_visible()
    assert not await page.locator("#vehicle").is_visible()
    await tabs.nth(0).tap()
    assert await item.is_visible()
    await page.screenshot(path=str(ARTIFACTS / "console-phone-feed.png"))


async def test_the_public_vehicle_page_in_chinese_on_a_phone(
    live: LiveServer, http: AsyncClient, fleet: Any, db: psycopg.Connection[Any], phone_page: Any
) -> None:
    vid, _ = fleet.truck("粤B-12345", company="深圳市绿色运输有限公司")
    assert (await http.get(f"/api/v1/vehicles/{vid}/qr.svg", headers=ADMIN)).status_code == 200
    row = db.execute("SELECT code FROM vehicle_codes WHERE vehicle_id = %s", (vid,)).fetchone()
    assert row is not None
    page = phone_page
    await page.goto(f"{live.base_url}/v/{row[0]}")
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    assert await page.locator("h1").inner_text() == "粤B-12345"
    text = await page.locator("body").inner_text()
    assert "今日无有效核准证" in text and "深圳市绿色运输有限公司" in text and "北京时间" in text
    assert await page.locator("[data-status]").get_attribute("data-status") == "amber"
    await page.screenshot(path=str(ARTIFACTS / "public-page-zh.png"), full_page=True)
    await page.click("a.switch")
    await page.wait_for_load_state()
    assert await page.evaluate("document.documentElement.lang") == "en"
    assert "No valid transport permit today" in await page.locator("body").inner_text()


async def test_an_expired_token_asks_to_sign_in_again(
    live: LiveServer, http: AsyncClient, fleet: Any, page: Any
) -> None:
    """An all-day session outlives its token: a refused token opens the sign-in dialog, and the
    page carries on with the new token."""
    await make_user(http, "zhao.min", "another long password", "viewer")
    await page.goto(f"{live.base_url}/map/dashboard.html#token=mu_expired_or_revoked")
    await page.wait_for_selector("dialog#login[open]", timeout=5000)
    await page.fill("#login-username", "zhao.min")
    await page.fill("#login-password", "another long password")
    await page.click("#login-submit")
    await page.wait_for_selector("#board[data-loaded='1']", timeout=5000)
    assert await page.locator("#error").is_hidden()
    token = await page.evaluate("sessionStorage.getItem('tracker.token')")
    assert token and token != "mu_expired_or_revoked"


@pytest.mark.parametrize("path", ["dashboard.html", "permits.html", "yard.html"])
async def test_the_other_pages_fit_a_phone(
    live: LiveServer, fleet: Any, phone_page: Any, path: str
) -> None:
    page = phone_page
    await page.goto(f"{live.base_url}/map/{path}#token=test-staff")
    await page.wait_for_selector("#shell-nav a[aria-current=page]", timeout=5000)
    await page.wait_for_load_state("networkidle")
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
    assert await page.locator("#locale-switch").is_visible()
    await page.screenshot(path=str(ARTIFACTS / f"console-phone-{path.split('.')[0]}.png"))


async def test_sign_in_on_a_phone(live: LiveServer, http: AsyncClient, phone_page: Any) -> None:
    await make_user(http, "li.na", "a field officer's password", "enforcement_officer")
    page = phone_page
    await page.goto(f"{live.base_url}/map/")
    dialog = page.locator("dialog#login[open]")
    await dialog.wait_for(timeout=5000)
    box = await dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # the whole dialog on the screen
    await page.locator("#login-username").tap()
    await page.fill("#login-username", "li.na")
    await page.fill("#login-password", "a field officer's password")
    await page.locator("#login-submit").tap()
    await page.wait_for_selector("#status[data-state=live]", timeout=5000)
    assert await page.locator("#status").inner_text() == "实时 · 执法人员"
    assert await page.locator("#sign-out").is_visible()
