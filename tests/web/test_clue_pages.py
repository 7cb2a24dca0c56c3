"""The clue pages in headless Chromium under their CSP: the report form on the public vehicle
page (the phone's position, a photo, a receipt code, then its status) and the grid staff's
phone page at 390 px (camera photo, GPS position, staff token in a header)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient
from live_world import LiveServer
from PIL import Image
from playwright.async_api import expect

pytestmark = pytest.mark.slow
LON, LAT = 108.3661, 22.8172


def photo_file() -> dict[str, Any]:
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    out = io.BytesIO()
    Image.new("RGB", (2400, 1800), (180, 90, 30)).save(out, "JPEG", exif=exif)
    return {"name": "truck.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}


async def _at(page: Any) -> None:
    await page.context.grant_permissions(["geolocation"])
    await page.context.set_geolocation({"longitude": LON, "latitude": LAT, "accuracy": 8})


async def test_the_public_page_takes_a_report_and_tells_its_status(
    live: LiveServer, strict_page: Any, fleet: Any, db: psycopg.Connection[Any]
) -> None:
    page = strict_page
    vehicle_id, _ = fleet.truck("桂A-P9001", "南宁渣土运输公司")
    code = db.execute("SELECT code FROM vehicle_codes WHERE vehicle_id = %s", (vehicle_id,))
    code = code.fetchone()[0]  # type: ignore[index]
    await _at(page)
    await page.goto(f"{live.base_url}/v/{code}")
    # locator assertions, not string predicates: those need eval, which the page's CSP refuses
    await expect(page.locator("#report h2").first).to_have_text("举报这辆车", timeout=10_000)
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    assert await page.locator("select[name=kind] option[value=spilling]").inner_text() == "沿途抛洒"
    await page.select_option("select[name=kind]", "spilling")
    await page.fill("textarea[name=text]", "车厢未盖，沿路撒土")
    assert await page.locator("#place").inner_text() == "尚未选择地点"
    await page.click("#pick-map", position={"x": 160, "y": 110})  # a point picked on the map
    await page.wait_for_selector("#place[data-set='1']", timeout=10_000)
    picked = await page.locator("#place").inner_text()
    assert picked.startswith("108.") and picked != f"{LON}, {LAT}"
    await page.click("#locate")  # then the phone's position instead
    await expect(page.locator("#place")).to_have_text(f"{LON}, {LAT}", timeout=10_000)
    await page.set_input_files("input[name=photos]", files=[photo_file()])
    await page.click("#clue-form button[type=submit]")
    await page.wait_for_selector("#receipt", timeout=15_000)
    receipt = await page.locator("#receipt").inner_text()
    row = db.execute("SELECT kind, description, lon, lat, vehicle_id, source FROM clues").fetchone()
    assert row == ("spilling", "车厢未盖，沿路撒土", LON, LAT, vehicle_id, "public")
    data = bytes(db.execute("SELECT data FROM clue_photos").fetchone()[0])  # type: ignore[index]
    assert data.startswith(b"\xff\xd8") and b"SecretCameraMaker" not in data
    assert max(Image.open(io.BytesIO(data)).size) == 1600  # scaled on the phone
    await page.click("#status-form button[type=submit]")
    await page.wait_for_selector("#status-out[data-status=new]", timeout=10_000)
    assert await page.locator("#status-out").inner_text() == "已受理，待核实"
    assert await page.locator("#status-code").input_value() == receipt


async def test_the_grid_phone_page_reports_with_photo_and_position(
    live: LiveServer, strict_page: Any, fleet: Any, accounts: Any, db: psycopg.Connection[Any]
) -> None:
    page = strict_page
    vehicle_id, _ = fleet.truck("桂A-G0001")
    token = accounts.headers("enforcement_officer")["Authorization"].split()[1]
    await page.set_viewport_size({"width": 390, "height": 844})
    await _at(page)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    await page.goto(f"{live.base_url}/map/grid.html#token={token}")
    await page.wait_for_selector("#place[data-set='1']", timeout=10_000)
    assert await page.locator("h1").inner_text() == "网格员上报"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # fits the phone: no sideways scrolling
    await page.fill("input[name=plate]", "桂A-G0001")
    await page.select_option("select[name=kind]", "dumping")
    await page.set_input_files("input[name=photos]", files=[photo_file()])
    await page.click("#grid-form button[type=submit]")
    await page.wait_for_selector("#receipt", timeout=15_000)
    row = db.execute("SELECT vehicle_id, source, lon, lat, reporter_id FROM clues").fetchone()
    assert row is not None and row[:4] == (vehicle_id, "officer", LON, LAT)
    assert row[4] is not None
    assert requests and all(token not in url for url in requests)  # a header, never the URL


async def test_officers_verify_and_close_clues_in_the_queue(
    live: LiveServer,
    strict_page: Any,
    http: AsyncClient,
    fleet: Any,
    accounts: Any,
    db: psycopg.Connection[Any],
) -> None:
    page = strict_page
    fleet.truck("桂A-Q0001")
    author = accounts.headers("enforcement_officer")
    checker = accounts.headers("enforcement_officer")["Authorization"].split()[1]
    clue = {"kind": "uncovered", "lon": LON, "lat": LAT, "plate": "桂A-Q0001", "text": "未盖篷布",
            "observed_at": datetime.now(UTC).isoformat()}  # fmt: skip
    made = await http.post("/api/v1/clues", json=clue, headers=author)
    assert made.status_code == 201, made.text
    clue_id = made.json()["id"]
    item = f"#clues li[data-id='{clue_id}']"

    await page.goto(f"{live.base_url}/map/clues.html#token={author['Authorization'].split()[1]}")
    await page.wait_for_selector("#clues[data-loaded='1']", timeout=10_000)
    await page.click(item)
    await page.wait_for_selector(f"#clue[data-id='{clue_id}']")
    assert await page.locator("#clue-status").inner_text() == "已受理，待核实"
    assert "未盖篷布" in await page.locator("#clue-text").inner_text()
    await page.fill("#note", "自己核实")
    await page.click("[data-action=verify]")  # four eyes: not the author
    await page.wait_for_selector("#action-message[data-kind=error]")
    assert "其他执法人员" in await page.locator("#action-message").inner_text()

    await page.goto("about:blank")  # a new document: the same URL with a new #token= is not
    await page.goto(f"{live.base_url}/map/clues.html#token={checker}")
    await page.wait_for_selector("#clues[data-loaded='1']", timeout=10_000)
    await page.click(item)
    await page.wait_for_selector(f"#clue[data-id='{clue_id}']")
    await page.fill("#note", "篷布照片属实")
    await page.click("[data-action=verify]")
    await page.wait_for_selector("#clue-status[data-status=verified]", timeout=10_000)
    row = db.execute("SELECT status, verify_note FROM clues WHERE id = %s", (clue_id,)).fetchone()
    assert row == ("verified", "篷布照片属实")
    await page.fill("#note", "转立案")
    await page.click("[data-action=to-case]")
    await page.wait_for_selector("#clue-status[data-status=to_case]", timeout=10_000)
    await page.wait_for_selector(f"{item}[data-status=to_case]", timeout=10_000)
