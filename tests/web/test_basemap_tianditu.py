"""Tianditu in headless Chromium: its "w" tile matrix set starts at level 1, so zoomed out to 0
the live map scales level-1 tiles instead of asking for a TILEMATRIX=0 that does not exist (a
failed tile would also drop the map to the offline road layer). Tiles cannot be fetched here:
the browser's tile requests are answered with a blank PNG and recorded."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from live_world import LiveServer

from tracker.settings import Settings

pytestmark = pytest.mark.slow

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    chosen = {"tianditu_key": "0123abcd", "default_basemap": "tianditu"}
    return settings.model_copy(update={"map": settings.map.model_copy(update=chosen)})


async def test_tianditu_is_never_asked_for_level_0(live: LiveServer, page: Any) -> None:
    levels: list[int] = []

    async def tile(route: Any) -> None:
        query = parse_qs(urlsplit(route.request.url).query)
        levels.append(int(query["TILEMATRIX"][0]))
        await route.fulfill(status=200, content_type="image/png", body=PNG)

    await page.route("https://*.tianditu.gov.cn/**", tile)
    await page.goto(f"{live.base_url}/map/#token=test-staff")
    await page.wait_for_function("window.trackerLive?.basemap === 'tianditu'", timeout=30000)
    await page.wait_for_function("document.querySelectorAll('.basemap-tianditu img').length > 0")
    asked = len(levels)
    await page.evaluate("window.trackerLive.map.setZoom(0, { animate: false })")
    await page.wait_for_timeout(1500)
    assert await page.evaluate("window.trackerLive.map.getZoom()") == 0
    assert len(levels) > asked  # zoomed out, it asked for tiles again
    assert min(levels) >= 1, sorted(set(levels))
    assert 1 in levels[asked:]
