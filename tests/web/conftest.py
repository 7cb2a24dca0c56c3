"""Browser tests: the real app on a free port, and Debian's Chromium driven by Playwright.

Playwright's own browser download cannot work here, so the system ``chromium`` is launched by
path. Under ``make test`` (``TRACKER_REQUIRE_BROWSER=1``) a missing browser fails the run; run
by hand without one, the tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "live"))

from live_world import LiveServer, serve

from tracker.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"  # git-ignored
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "Debian chromium is not installed (make test installs it with apt)"
        if os.environ.get("TRACKER_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve(settings) as server:
        yield server


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(base_url=live.base_url) as c:
        yield c


DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


@asynccontextmanager
async def _page(bypass_csp: bool, viewport: dict[str, int] = DESKTOP) -> AsyncIterator[Any]:
    executable = _chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        context = await browser.new_context(
            viewport=viewport,
            bypass_csp=bypass_csp,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            is_mobile=viewport is PHONE,
            has_touch=viewport is PHONE,
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        ARTIFACTS.mkdir(exist_ok=True)
        await context.close()
        await browser.close()
        assert not errors, errors


@pytest.fixture
async def page(live: LiveServer) -> AsyncIterator[Any]:
    """A page for tests that inspect it with Playwright's string predicates, which the pages'
    CSP (no eval) would refuse; test_token_handling runs the pages under their CSP."""
    async with _page(bypass_csp=True) as page:
        yield page


@pytest.fixture
async def phone_page(live: LiveServer) -> AsyncIterator[Any]:
    """A page at a phone's size (390×844, touch), like ``page`` otherwise."""
    async with _page(bypass_csp=True, viewport=PHONE) as page:
        yield page


@pytest.fixture
async def strict_page(live: LiveServer) -> AsyncIterator[Any]:
    """A page that obeys the Content-Security-Policy the server sends."""
    async with _page(bypass_csp=False) as page:
        yield page
