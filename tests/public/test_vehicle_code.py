"""The public vehicle code (issue 6): the page shows plate, company, permit today and a colour,
and nothing private; the QR code decodes to the page's absolute URL."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import zxingcpp
from httpx import AsyncClient
from PIL import Image

TODAY = datetime.now(UTC).date()
PLATE = "粤B-77X31"
LINE = {"type": "LineString", "coordinates": [[7.411, 43.731], [7.421, 43.731], [7.431, 43.731]]}


def box(lon: float, lat: float, size: float = 0.002) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


async def _world(client: AsyncClient, staff: dict[str, str], fleet: Any) -> dict[str, Any]:
    async def post(path: str, body: Any) -> Any:
        resp = await client.post(f"/api/v1{path}", json=body, headers=staff)
        assert resp.status_code in (200, 201), resp.text
        return resp.json()

    vid, token = fleet.truck(PLATE, "Haul & Sons")  # with a terminal (identity T-<plate>)
    fleet.conn.execute("UPDATE companies SET credit_code = '91440300MA5F'")
    company_id = fleet.conn.execute("SELECT company_id FROM vehicles WHERE id = %s",
                                    (vid,)).fetchone()[0]  # fmt: skip
    other = await post("/companies", {"name": "Other Co"})
    site = await post("/sites", {"name": "Tower", "kind": "construction",
                                 "geometry": box(7.410, 43.730)})  # fmt: skip
    yard = await post("/yards", {"name": "East", "geometry": box(7.430, 43.730),
                                 "capacity_m3": 100000})  # fmt: skip
    return {"vehicle_id": vid, "token": token, "company_id": company_id, "other": other,
            "site": site, "yard": yard}  # fmt: skip


def code_of(db: psycopg.Connection[Any], vehicle_id: int) -> str:
    row = db.execute(
        "SELECT code FROM vehicle_codes WHERE vehicle_id = %s", (vehicle_id,)
    ).fetchone()
    assert row is not None
    return str(row[0])


async def _status(client: AsyncClient, code: str, **headers: str) -> tuple[str, str]:
    resp = await client.get(f"/v/{code}", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    found = re.search(r'data-status="(\w+)"', resp.text)
    assert found is not None
    return found.group(1), resp.text


async def test_the_public_page_shows_status_and_no_private_field(
    client: AsyncClient, staff: dict[str, str], db: psycopg.Connection[Any], fleet: Any
) -> None:
    w = await _world(client, staff, fleet)
    vid = w["vehicle_id"]
    code = code_of(db, vid)
    assert re.fullmatch(r"[0-9a-f]{32}", code)
    fix = {"time": datetime.now(UTC).isoformat(), "lon": 7.4123456, "lat": 43.7312345}
    posted = await client.post("/api/v1/positions", json={"fixes": [fix]},
                               headers={"Authorization": f"Bearer {w['token']}"})  # fmt: skip
    assert posted.status_code == 200, posted.text  # a recent position: it must not show

    colour, page = await _status(client, code)  # no permit yet
    assert colour == "amber" and "今日无有效核准证。" in page and '<html lang="zh-CN">' in page
    colour, english = await _status(client, code, **{"Accept-Language": "en-GB,en;q=0.9"})
    assert colour == "amber" and "No valid transport permit today" in english
    assert PLATE in page and "Haul &amp; Sons" in page

    permit = {
        "company_id": w["company_id"], "vehicle_ids": [vid], "site_ids": [w["site"]["id"]],
        "yard_ids": [w["yard"]["id"]], "corridors": [{"geometry": LINE, "half_width_m": 30}],
        "valid_from": TODAY.isoformat(), "valid_to": (TODAY + timedelta(days=30)).isoformat(),
        "windows": [{"start": "22:00", "end": "05:00"}], "quota_m3": 100,
    }  # fmt: skip
    pid = (await client.post("/api/v1/permits", json=permit, headers=staff)).json()["id"]
    await client.post(f"/api/v1/permits/{pid}/submit", headers=staff)
    assert (await client.post(f"/api/v1/permits/{pid}/approve", headers=staff)).status_code == 200
    colour, page = await _status(client, code)
    assert colour == "green"
    assert f"今日有效（至 {TODAY + timedelta(days=30)}）" in page

    suspended = await client.post(f"/api/v1/permits/{pid}/suspend", json={"reason": "audit"},
                                  headers=staff)  # fmt: skip
    assert suspended.status_code == 200, suspended.text
    colour, page = await _status(client, code)
    assert colour == "amber" and "核准证已暂停" in page

    listed = await client.post("/api/v1/blacklist", json={"vehicle_id": vid, "reason": "dumped"},
                               headers=staff)  # fmt: skip
    assert listed.status_code == 201
    colour, page = await _status(client, code)
    assert colour == "red" and "已列入黑名单" in page

    # nothing private: no id, phone (terminal identity), position, credit code or reasons.
    # Only the plate and dates carry digits, so none may be left once they are taken out.
    body = page[page.index("<body>") :]
    assert "T-" + PLATE not in body
    for secret in ("dumped", "audit", "driver", "phone", "lon", "lat"):
        assert secret not in body.lower(), secret
    text = re.sub(r"<[^>]*>", " ", body.replace(PLATE, ""))
    rest = re.sub(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2})?", "", text)
    assert not re.search(r"\d", rest), rest

    for unknown in ("0" * 32, str(vid), "../etc"):
        assert (await client.get(f"/v/{unknown}")).status_code == 404


async def test_a_blacklisted_vehicle_with_a_permit_is_not_shown_as_valid(
    client: AsyncClient, staff: dict[str, str], db: psycopg.Connection[Any], fleet: Any
) -> None:
    """An approved permit dated for today and a listing: one honest status, red, and the permit
    said to be void, never "valid today" beside "blacklisted"."""
    w = await _world(client, staff, fleet)
    vid = w["vehicle_id"]
    code = code_of(db, vid)
    permit = {
        "company_id": w["company_id"], "vehicle_ids": [vid], "site_ids": [w["site"]["id"]],
        "yard_ids": [w["yard"]["id"]], "corridors": [{"geometry": LINE, "half_width_m": 30}],
        "valid_from": TODAY.isoformat(), "valid_to": (TODAY + timedelta(days=30)).isoformat(),
        "windows": [{"start": "22:00", "end": "05:00"}], "quota_m3": 100,
    }  # fmt: skip
    pid = (await client.post("/api/v1/permits", json=permit, headers=staff)).json()["id"]
    await client.post(f"/api/v1/permits/{pid}/submit", headers=staff)
    assert (await client.post(f"/api/v1/permits/{pid}/approve", headers=staff)).status_code == 200
    listed = await client.post("/api/v1/blacklist", json={"vehicle_id": vid, "reason": "dumped"},
                               headers=staff)  # fmt: skip
    assert listed.status_code == 201, listed.text
    colour, page = await _status(client, code)
    assert colour == "red" and 'data-reason="blacklisted"' in page
    assert 'data-permit="void"' in page and "因列入黑名单而失效" in page
    assert "今日有效" not in page and "核准证今日有效" not in page
    resp = await client.get(f"/v/{code}?lang=en")
    assert '<html lang="en">' in resp.text and "void while the vehicle is blacklisted" in resp.text
    assert "Permit valid today" not in resp.text and "valid today (until" not in resp.text


async def test_the_qr_code_decodes_to_the_public_page_url(
    client: AsyncClient,
    staff: dict[str, str],
    db: psycopg.Connection[Any],
    accounts: Any,
    fleet: Any,
) -> None:
    w = await _world(client, staff, fleet)
    vid = w["vehicle_id"]
    base = client.app.state.platform.settings.public_base_url  # type: ignore[attr-defined]
    png = await client.get(f"/api/v1/vehicles/{vid}/qr.png", headers=staff)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))]
    url = f"{base.rstrip('/')}/v/{code_of(db, vid)}"
    assert decoded == [url]
    page = await client.get(url.removeprefix(base.rstrip("/")))
    assert page.status_code == 200 and PLATE in page.text

    svg = await client.get(f"/api/v1/vehicles/{vid}/qr.svg", headers=staff)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.content.lstrip().startswith(b"<?xml") and b"<svg" in svg.content

    own = accounts.headers("company_user", w["company_id"])
    stranger = accounts.headers("company_user", w["other"]["id"])
    assert (await client.get(f"/api/v1/vehicles/{vid}/qr.png", headers=own)).status_code == 200
    assert (await client.get(f"/api/v1/vehicles/{vid}/qr.svg", headers=stranger)).status_code == 404
    assert (await client.get(f"/api/v1/vehicles/{vid}/qr.svg")).status_code == 401
    assert (await client.get("/api/v1/vehicles/9999/qr.png", headers=staff)).status_code == 404
