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


async def labels_inside(page: Any, selector: str) -> list[str]:
    """Every text of the chart's SVG lies wholly inside the chart: no clipped axis label."""
    texts: list[dict[str, Any]] = await page.evaluate(
        """(sel) => {
          const box = document.querySelector(sel).getBoundingClientRect();
          return [...document.querySelectorAll(`${sel} svg text`)].map((t) => {
            const r = t.getBoundingClientRect();
            const inside = r.left >= box.left - 0.5 && r.right <= box.right + 0.5
              && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5;
            return { text: t.textContent, inside };
          });
        }""",
        selector,
    )
    assert texts, f"no text in {selector}"
    clipped = [t["text"] for t in texts if not t["inside"]]
    assert not clipped, clipped
    return [str(t["text"]) for t in texts]


async def test_dashboard_draws_the_kpis(
    live: LiveServer, db: psycopg.Connection[Any], fleet: Any, page: Any
) -> None:
    world = make_kpi_world(db)
    window = f"from={quote(iso(world.start))}&to={quote(iso(world.end))}"
    await page.goto(f"{live.base_url}/map/dashboard.html?{window}#token=test-staff")
    await page.wait_for_selector("#board[data-loaded='1']", timeout=5000)
    assert await kpi(page, "online_rate") == "50 %"
    online = "2 / 4 辆在线（10 分钟内有定位）"
    assert await kpi(page, "online_of") == online
    assert await kpi(page, "install_rate") == "75 %"
    assert await kpi(page, "fixes") == "108"
    assert await kpi(page, "quality_rate") == "95.37 %"  # 103 of 108
    assert await kpi(page, "drift_share") == "1.85 %"
    assert (await kpi(page, "gaps")).startswith("1 处缺口（")
    assert await kpi(page, "trips_completed") == "2"
    assert await kpi(page, "incidents_total") == "3"
    by_type = page.locator("#by-type li.bar")
    assert await by_type.count() == 2
    assert await by_type.first.get_attribute("data-label") == "无证运输"
    assert await by_type.first.get_attribute("data-count") == "2"
    companies = await page.locator("#by-company li.bar").evaluate_all(
        "items => items.map(i => [i.dataset.label, i.dataset.count])"
    )
    assert companies == [["Alpha Haulage", "2"], ["Beta Earthworks", "1"]]
    chart = page.locator("#fixes-chart")
    assert await chart.get_attribute("data-columns") == "12"  # 5-minute buckets
    assert await chart.get_attribute("data-marks") == "1"  # one bucket with a gap
    filtered = await page.evaluate(
        "window.trackerCharts.get(document.getElementById('fixes-chart'))"
        ".getOption().series[1].data"
    )
    assert sum(filtered) >= 1
    assert await page.locator("#fixes-chart svg").count() == 1  # drawn by ECharts
    await labels_inside(page, "#fixes-chart")
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # Choosing a company reloads the figures for it alone.
    await page.select_option("#company", str(world.company_b))
    await page.wait_for_selector("#board[data-loaded='2']", timeout=5000)
    assert await kpi(page, "fixes") == "1"
    assert await kpi(page, "online_of") == "1 / 1 辆在线（10 分钟内有定位）"
    assert await page.locator("#by-company li.bar").count() == 1


async def test_dashboard_shows_a_refusal(live: LiveServer, page: Any, fleet: Any) -> None:
    await page.goto(f"{live.base_url}/map/dashboard.html?from=yesterday#token=test-staff")
    await page.wait_for_selector("#error:not([hidden])", timeout=5000)
    text = await page.locator("#error").inner_text()
    assert "指标不可用" in text and "请求有误：from" in text
