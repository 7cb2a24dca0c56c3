"""/docs in headless Chromium under the served CSP: Swagger UI from local files, nothing else."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from httpx import AsyncClient
from live_world import LiveServer
from playwright.async_api import expect

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
    tags = await page.evaluate("window.ui.specSelectors.taggedOperations().keySeq().toJS()")
    assert {"config", "cases", "outbox", "exports"} <= set(tags)
    assert hosts == {urlsplit(live.base_url).netloc}, hosts  # no CDN, no web fonts
    html = (await http.get("/docs")).text
    assert "cdn" not in html.lower() and "fonts.googleapis" not in html
    assert (await http.get("/redoc")).status_code == 404  # ReDoc exists only on a CDN


async def test_docs_render_every_operation_of_every_tag(
    live: LiveServer, http: AsyncClient, strict_page: Any
) -> None:
    """All of the spec's operations are in the page at once, tag by tag, under the CSP: Swagger
    UI 5.33+ would render only the rows near the viewport once tags + operations reach 150
    (web/docs.js renders them all, so the browser's find sees every one)."""
    spec = (await http.get("/openapi.json")).json()
    per_tag: dict[str, int] = {}
    for ops in spec["paths"].values():
        for op in ops.values():
            for tag in op.get("tags", ["default"]):
                per_tag[tag] = per_tag.get(tag, 0) + 1
    total = sum(per_tag.values())
    assert len(per_tag) + total >= 150  # big enough that Swagger UI would virtualize it
    page = strict_page
    await page.goto(f"{live.base_url}/docs")
    await page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    await expect(page.locator(".opblock")).to_have_count(total, timeout=20000)
    rendered = page.locator(".opblock-tag-section")
    await expect(rendered).to_have_count(len(per_tag))
    for tag, count in per_tag.items():
        section = rendered.filter(has=page.locator(f'h3.opblock-tag[data-tag="{tag}"]'))
        await expect(section.locator(".opblock")).to_have_count(count)
    # the last tag is in the page without scrolling
    last = list(per_tag)[-1]
    await expect(page.locator(f'h3.opblock-tag[data-tag="{last}"]')).to_be_attached()
