"""/docs in headless Chromium under the served CSP: Swagger UI from local files, nothing else."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from httpx import AsyncClient
from live_world import LiveServer

pytestmark = pytest.mark.slow


async def test_docs_render_from_local_assets_only(
    live: LiveServer, http: AsyncClient, strict_page: Any
) -> None:
    page = strict_page
    hosts: set[str] = set()
    page.on("request", lambda req: hosts.add(urlsplit(req.url).netloc))
    await page.goto(f"{live.base_url}/docs")
    await page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    assert "muck-tracker" in await page.locator(".swagger-ui .info .title").inner_text()
    await page.wait_for_selector(".opblock-tag[data-tag=accounts]", timeout=10000)
    # Swagger UI knows every tag of the spec (it renders the first ones: see the README's
    # known problems on /docs)
    tags = await page.evaluate("window.ui.specSelectors.taggedOperations().keySeq().toJS()")
    assert {"config", "cases", "outbox", "exports"} <= set(tags)
    assert hosts == {urlsplit(live.base_url).netloc}, hosts  # no CDN, no web fonts
    html = (await http.get("/docs")).text
    assert "cdn" not in html.lower() and "fonts.googleapis" not in html
    assert (await http.get("/redoc")).status_code == 404  # ReDoc exists only on a CDN
