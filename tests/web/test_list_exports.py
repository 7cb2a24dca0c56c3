"""Export buttons where lists are shown (web/exports.js), in headless Chromium in zh-CN: the
blacklist as the table shows it (active, then with the lifted), the case queue, the live map's
incidents of the chosen company, and the replayed truck's track over the chosen period (a job,
with its progress). Each click gives a file with Chinese headers; the token never is in a URL."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import psycopg
import pytest
from httpx import AsyncClient
from live_world import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cases"))

from case_world import IN_E, IN_W1, make_world

pytestmark = pytest.mark.slow
STAFF = {"Authorization": "Bearer test-staff"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
GPX = "{http://www.topografix.com/GPX/1/1}"


async def _download(page: Any, selector: str) -> tuple[str, bytes]:
    async with page.expect_download() as info:
        await page.locator(selector).click()
    download = await info.value
    body = await asyncio.to_thread(Path(await download.path()).read_bytes)
    return download.suggested_filename, body


def _csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese
    return list(csv.DictReader(io.StringIO(body[3:].decode())))


def _listing(db: psycopg.Connection[Any], vehicle_id: int, reason: str, lifted: bool) -> None:
    db.execute(
        """INSERT INTO blacklist_listings (vehicle_id, source, reason, listed_by, listed_at,
                                           lifted_at, lifted_by, lifted_how, lifted_reason)
           VALUES (%s, 'manual', %s, 'test', now() - interval '2 days',
                   CASE WHEN %s THEN now() END, CASE WHEN %s THEN 'test' END,
                   CASE WHEN %s THEN 'manual' END, CASE WHEN %s THEN '整改完成' END)""",
        (vehicle_id, reason, lifted, lifted, lifted, lifted),
    )


async def test_the_blacklist_page_exports_what_its_table_shows(
    live: LiveServer, page: Any, db: psycopg.Connection[Any], fleet: Any
) -> None:
    first, _ = fleet.truck("浙A-X001", company="甲运输")
    second, _ = fleet.truck("浙A-X002", company="甲运输")
    _listing(db, first, "多次夜间违规运输", lifted=False)
    _listing(db, second, "未密闭运输", lifted=True)
    urls: list[str] = []
    page.on("request", lambda req: urls.append(req.url))
    await page.goto(f"{live.base_url}/map/blacklist.html#token=test-staff")
    await page.wait_for_selector("body[data-loaded]", timeout=10000)
    button = page.locator("button[data-export='blacklist.csv']")
    assert await button.inner_text() == "导出 CSV"

    name, body = await _download(page, "button[data-export='blacklist.csv']")
    assert name.startswith("blacklist-") and name.endswith(".csv")
    rows = _csv(body)
    assert [(r["车牌号"], r["原因"], r["所属企业"]) for r in rows] == [
        ("浙A-X001", "多次夜间违规运输", "甲运输")
    ]

    await page.check("#show-lifted")
    await page.wait_for_selector("#listings tr:has-text('未密闭运输')", timeout=5000)
    _, xlsx = await _download(page, "button[data-export='blacklist.xlsx']")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx), read_only=True).active
    assert sheet is not None
    got = list(sheet.iter_rows(values_only=True))
    header = list(got[0])
    assert header[:4] == ["名单编号", "车辆ID", "车牌号", "所属企业"]
    assert sorted(g[header.index("原因")] for g in got[1:]) == ["多次夜间违规运输", "未密闭运输"]
    exports = [u for u in urls if "/api/v1/exports/" in u]
    assert len(exports) == 2 and not any("token" in u for u in exports)


async def test_the_case_queue_exports_its_filtered_cases(
    live: LiveServer, http: AsyncClient, db: psycopg.Connection[Any], page: Any
) -> None:
    db.execute("TRUNCATE case_notices, case_events, cases, units, jurisdictions CASCADE")
    world = await make_world(http, db, STAFF)
    west = (await world.open(world.staff, IN_W1))["id"]
    east = (await world.open(world.staff, IN_E, company="other"))["id"]
    await page.goto(f"{live.base_url}/map/cases.html#token=test-staff")
    await page.wait_for_selector("#queue[data-loaded='1']", timeout=10000)
    _, body = await _download(page, "button[data-export='cases.csv']")
    rows = _csv(body)
    assert {(int(r["案件编号"]), r["区县"]) for r in rows} == {(west, "西区"), (east, "东区")}

    await page.select_option("#filter-unit", str(world.units["um_e"]))
    _, body = await _download(page, "button[data-export='cases.csv']")
    assert [(int(r["案件编号"]), r["承办单位"]) for r in _csv(body)] == [(east, "东区城管执法局")]


async def test_the_live_map_exports_the_chosen_companys_incidents(
    live: LiveServer, page: Any, db: psycopg.Connection[Any], fleet: Any
) -> None:
    mine, _ = fleet.truck("浙A-X101", company="乙运输")
    theirs, _ = fleet.truck("浙A-X102", company="丙运输")
    at = datetime.now(UTC) - timedelta(hours=3)
    for iid, vehicle in (("x-1", mine), ("x-2", theirs), ("x-3", mine)):
        db.execute(
            """INSERT INTO incidents (incident_id, type, vehicle_id, company_id, opened_at,
                                      detected_at, lon, lat)
               VALUES (%s, 'speeding', %s, (SELECT company_id FROM vehicles WHERE id = %s),
                       %s, %s, 7.42, 43.73)""",
            (iid, vehicle, vehicle, at, at),
        )
    company = db.execute("SELECT id FROM companies WHERE name = '乙运输'").fetchone()
    assert company is not None
    await page.goto(f"{live.base_url}/map/#token=test-staff")
    await page.wait_for_selector("#status[data-state=live]", timeout=10000)
    await page.wait_for_selector(f"#company-filter option[value='{company[0]}']", state="attached")
    await page.select_option("#company-filter", str(company[0]))
    _, body = await _download(page, "button[data-export='incidents.csv']")
    rows = _csv(body)
    assert sorted((r["事件编号"], r["车牌号"], r["所属企业"]) for r in rows) == [
        ("x-1", "浙A-X101", "乙运输"),
        ("x-3", "浙A-X101", "乙运输"),
    ]


async def test_the_replay_page_exports_the_chosen_period_of_the_track(
    live: LiveServer, page: Any, db: psycopg.Connection[Any], fleet: Any
) -> None:
    vehicle_id, _ = fleet.truck("浙A-X201")
    terminal = db.execute("SELECT id FROM terminals WHERE vehicle_id = %s", (vehicle_id,))
    terminal_id = terminal.fetchone()[0]  # type: ignore[index]
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    with db.cursor().copy(
        "COPY pings (vehicle_id, fix_time, received_at, terminal_id, lon, lat, h3_cell,"
        " speed_kmh, heading_deg, valid, loaded, flags, source) FROM STDIN"
    ) as copy:
        for i in range(40):  # a fix every 30 s for 20 minutes
            at = t0 + timedelta(seconds=30 * i)
            copy.write_row((vehicle_id, at, at, terminal_id, 7.41 + i * 1e-4, 43.73, 0, 20.0,
                            90.0, True, True, 0, 1))  # fmt: skip
    await page.goto(f"{live.base_url}/map/replay.html?vehicle={vehicle_id}#token=test-staff")
    await page.wait_for_selector("body[data-ready=true]", timeout=10000)
    local = lambda t: t.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")  # noqa: E731
    await page.fill("[name=start]", local(t0 + timedelta(minutes=5)))
    await page.fill("[name=end]", local(t0 + timedelta(minutes=10)))
    name, body = await _download(page, "button[data-export='track.gpx']")
    assert name.startswith("track") and name.endswith(".gpx")  # an export job's file
    points = ET.fromstring(body).findall(f"{GPX}trk/{GPX}trkseg/{GPX}trkpt")
    assert len(points) == 10  # 5 minutes of fixes every 30 s: the chosen period only
    assert float(points[0].get("lon", "")) == pytest.approx(7.41 + 10 * 1e-4)
    _, body = await _download(page, "button[data-export='track.csv']")
    rows = _csv(body)
    assert list(rows[0])[:4] == ["定位时间(UTC)", "定位时间(本地)", "经度", "纬度"]
    assert len(rows) == 10
    job = db.execute("SELECT count(*) FROM audit_log WHERE action = 'export'").fetchone()
    assert job == (2,)
