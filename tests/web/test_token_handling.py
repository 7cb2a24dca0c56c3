"""Tokens stay out of URLs: the page takes a one-time #token= fragment, removes it from the
address bar, keeps the token in this tab's sessionStorage and sends it as a bearer header (the
websocket in its first message); a ?token= URL is refused. The pages run under their CSP."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from live_world import LiveServer


async def test_the_token_travels_in_headers_never_in_urls(
    live: LiveServer, strict_page: Any
) -> None:
    page = strict_page
    requests: list[Any] = []
    violations: list[str] = []
    page.on("request", lambda r: requests.append(r))
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    await page.goto(f"{live.base_url}/map/?center=7.42,43.735&zoom=15#token=test-staff")
    await page.wait_for_selector("#status[data-state=live]", timeout=10_000)
    assert "token" not in page.url and await page.evaluate("location.hash") == ""
    assert await page.evaluate("sessionStorage.getItem('tracker.token')") == "test-staff"
    assert await page.evaluate("localStorage.getItem('tracker.token')") is None
    assert requests and all("token=" not in r.url for r in requests)
    fences = [r for r in requests if r.url.endswith("/api/v1/fences")]
    assert fences and (await fences[0].all_headers())["authorization"] == "Bearer test-staff"
    # another page of the console in the same tab needs no token again
    requests.clear()
    await page.goto(f"{live.base_url}/map/yard.html")
    await page.wait_for_load_state("networkidle")
    assert not await page.locator("#login[open]").count()
    capacity = [r for r in requests if "/api/v1/yards/capacity" in r.url]
    assert capacity and (await capacity[0].all_headers())["authorization"] == "Bearer test-staff"
    assert not violations, violations


async def test_pages_with_a_token_in_the_query_string_are_refused(http: AsyncClient) -> None:
    for path in ("/map/?token=test-staff", "/map/permits.html?token=test-staff"):
        resp = await http.get(path)
        assert resp.status_code == 400 and resp.json()["error"] == "token_in_url"


async def test_the_charts_draw_under_the_csp(live: LiveServer, strict_page: Any) -> None:
    """ECharts (SVG renderer, rich-text tooltips) needs no inline script or style."""
    page = strict_page
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    await page.goto(f"{live.base_url}/map/dashboard.html#token=test-staff")
    await page.wait_for_selector("#board[data-loaded='1']", timeout=10_000)
    await page.wait_for_selector("#fixes-chart svg text", timeout=5000)
    await page.hover("#fixes-chart svg")
    assert not violations, violations
