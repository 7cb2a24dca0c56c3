"""Every form page under the Content-Security-Policy the server sends, in zh-CN at 1400×900: it
loads without a refused script or style, speaks Chinese with its words from the catalog, drops
the token from the address bar, wears the console's one header (web/shell.js: its navigation
with the page marked, the signed-in user), and switches to English and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from live_world import LiveServer

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PAGES = {
    "registry.html": ("基础信息登记", "#rows[data-loaded]"),
    "permit-new.html": ("新建核准申请", "body[data-ready=true]"),
    "users.html": ("用户管理", "#users[data-loaded]"),
    "blacklist.html": ("黑名单与申诉", "body[data-loaded]"),
    "audit.html": ("审计日志", "#audit[data-query]"),
    "replay.html": ("轨迹回放", "body[data-ready=true]"),
}
SHELL_NAV = 12  # web/shell.js NAV: every console page, the form pages among them


async def test_the_form_pages_load_under_the_csp_in_chinese(
    live: LiveServer, strict_page: Any
) -> None:
    page = strict_page
    refused: list[str] = []
    page.on(
        "console", lambda msg: refused.append(msg.text) if "Content Security" in msg.text else None
    )
    await page.set_viewport_size({"width": 1400, "height": 900})
    for path, (title, ready) in PAGES.items():
        await page.goto("about:blank")
        await page.goto(f"{live.base_url}/map/{path}#token=test-staff")
        await page.wait_for_selector(ready, timeout=10000)
        assert "token" not in page.url
        assert await page.locator("html").get_attribute("lang") == "zh-CN"
        assert await page.locator("header").count() == 1
        assert await page.locator("header#shell h1 .brand").inner_text() == "渣土车监管平台"
        assert await page.locator("header#shell h1 .page-title").inner_text() == title
        assert await page.locator("#shell-nav a").count() >= SHELL_NAV
        current = page.locator("#shell-nav a[aria-current=page]")
        assert await current.get_attribute("href") == path
        await page.wait_for_selector("#shell-user:not([hidden])", timeout=5000)
        assert await page.locator("#locale-switch").count() == 1
        missing = await page.locator("[data-i18n]").evaluate_all(
            "els => els.filter(e => e.textContent.startsWith('forms.')).map(e => e.dataset.i18n)"
        )
        assert missing == [], path
    assert refused == []

    await page.click("#locale-switch")  # on the replay page, the last one
    await page.wait_for_selector("html[lang=en] body[data-ready=true]", timeout=10000)
    assert await page.locator("html").get_attribute("lang") == "en"
    assert await page.locator("header#shell h1 .brand").inner_text() == "muck-tracker"
    assert await page.locator("header#shell h1 .page-title").inner_text() == "Track replay"
    await page.click("#locale-switch")
    await page.wait_for_selector("html[lang=zh-CN] body[data-ready=true]", timeout=10000)


async def test_the_form_pages_fit_a_phone(live: LiveServer, page: Any) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    for path, (_, ready) in PAGES.items():
        await page.goto("about:blank")
        await page.goto(f"{live.base_url}/map/{path}#token=test-staff")
        await page.wait_for_selector(ready, timeout=10000)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)  # no sideways scrolling
        await page.screenshot(path=str(ARTIFACTS / f"forms-phone-{path[:-5]}.png"))
