"""The export button (web/exports.js) on the yard page: the ledger downloads as CSV with Chinese
headers and as XLSX, fetched with the token in a header, never in the URL."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import psycopg
import pytest
from httpx import AsyncClient
from live_world import LiveServer

pytestmark = pytest.mark.slow
STAFF = {"Authorization": "Bearer test-staff"}


async def yard_with_ledger(http: AsyncClient) -> int:
    ring = [[7.43, 43.73], [7.432, 43.73], [7.432, 43.732], [7.43, 43.732], [7.43, 43.73]]
    body = {"name": "东郊消纳场", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "capacity_m3": 1000}  # fmt: skip
    resp = await http.post("/api/v1/yards", json=body, headers=STAFF)
    assert resp.status_code == 201, resp.text
    yard_id = int(resp.json()["id"])
    for volume, reason in [(120, "无人机测量"), (-40, "清运")]:
        kind = "survey" if volume > 0 else "excavation"
        adj = {"kind": kind, "volume_m3": volume, "reason": reason}
        resp = await http.post(f"/api/v1/yards/{yard_id}/adjustments", json=adj, headers=STAFF)
        assert resp.status_code == 201, resp.text
    return yard_id


async def test_the_yard_ledger_exports_from_the_yard_page(
    live: LiveServer, http: AsyncClient, db: psycopg.Connection[Any], page: Any
) -> None:
    yard_id = await yard_with_ledger(http)
    urls: list[str] = []
    page.on("request", lambda req: urls.append(req.url))
    await page.goto(f"{live.base_url}/map/yard.html?yard={yard_id}#token=test-staff")
    await page.wait_for_selector("#yard[data-loaded='1']", timeout=5000)
    button = page.locator("button[data-export='yard-ledger.csv']")
    assert await button.inner_text() == "导出 CSV"  # zh-CN by default
    async with page.expect_download() as info:
        await button.click()
    download = await info.value
    assert download.suggested_filename.startswith(f"yard-ledger-{yard_id}-")
    content = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(content[3:].decode())))
    assert [(r["类别"], float(r["方量(m³)"]), r["原因"]) for r in rows] == [
        ("survey", 120.0, "无人机测量"),
        ("excavation", -40.0, "清运"),
    ]
    await page.wait_for_selector("button[data-export='yard-ledger.csv'][data-state=done]")
    assert await button.get_attribute("data-rows") == "2"

    async with page.expect_download() as info:
        await page.locator("button[data-export='yard-ledger.xlsx']").click()
    xlsx = await asyncio.to_thread(Path(await (await info.value).path()).read_bytes)
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx), read_only=True).active
    assert sheet is not None
    got = list(sheet.iter_rows(values_only=True))
    assert got[0][3] == "类别" and [g[5] for g in got[1:]] == [120.0, -40.0]
    exports = [u for u in urls if "/api/v1/exports/" in u]
    assert len(exports) == 2 and not any("token" in u for u in exports)
    audit = db.execute("SELECT count(*) FROM audit_log WHERE action = 'export'").fetchone()
    assert audit == (2,)
