"""The KPI dashboard in headless Chromium over a known fleet hour (``tests/kpi/kpi_world.py``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from live_world import LiveServer, iso

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kpi"))

from kpi_world import make_kpi_world

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


async def kpi(page: Any, name: str) -> str:
    text: str = await page.locator(f"[data-kpi={name}]").inner_text()
    return text


async def test_dashboard_draws_the_kpis(
    live: LiveServer, db: psycopg.Connection[Any], fleet: Any, page: Any
) -> None:
    world = make_kpi_world(db)
    window = f"from={quote(iso(world.start))}&to={quote(iso(world.end))}"
    await page.goto(f"{live.base_url}/map/dashboard.html?{window}#token=test-staff")
    await page.wait_for_selector("#board[data-loaded='1']", timeout=5000)
    assert await kpi(page, "online_rate") == "50 %"
    assert await kpi(page, "online_of") == "2 of 4 online (fix in 10 min)"
    assert await kpi(page, "install_rate") == "75 %"
    assert await kpi(page, "fixes") == "108"
    assert await kpi(page, "quality_rate") == "95.37 %"  # 103 of 108
    assert await kpi(page, "drift_share") == "1.85 %"
    assert (await kpi(page, "gaps")).startswith("1 gap (")
    assert await kpi(page, "trips_completed") == "2"
    assert await kpi(page, "incidents_total") == "3"
    by_type = page.locator("#by-type li.bar")
    assert await by_type.count() == 2
    assert await by_type.first.get_attribute("data-label") == "no permit"
    assert await by_type.first.get_attribute("data-count") == "2"
    companies = await page.locator("#by-company li.bar").evaluate_all(
        "items => items.map(i => [i.dataset.label, i.dataset.count])"
    )
    assert companies == [["Alpha Haulage", "2"], ["Beta Earthworks", "1"]]
    assert await page.locator("#fixes-chart g.column").count() == 12  # 5-minute buckets
    assert await page.locator("#fixes-chart rect.bar-filtered").count() >= 1
    assert await page.locator("#fixes-chart circle.gap-mark").count() == 1
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # Choosing a company reloads the figures for it alone.
    await page.select_option("#company", str(world.company_b))
    await page.wait_for_selector("#board[data-loaded='2']", timeout=5000)
    assert await kpi(page, "fixes") == "1"
    assert await kpi(page, "online_of") == "1 of 1 online (fix in 10 min)"
    assert await page.locator("#by-company li.bar").count() == 1


async def test_dashboard_shows_a_refusal(live: LiveServer, page: Any, fleet: Any) -> None:
    await page.goto(f"{live.base_url}/map/dashboard.html?from=yesterday#token=test-staff")
    await page.wait_for_selector("#error:not([hidden])", timeout=5000)
    assert "(from)" in await page.locator("#error").inner_text()
