"""GET /api/v1/incidents/{id}/pack: an incident's pack from the real database (its track, the
fences around it, the officer's actions chained, a verified clue's photo), for staff and the
incident's own company only."""

from __future__ import annotations

import base64
import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg
from httpx import AsyncClient
from PIL import Image
from pypdf import PdfReader

from tracker.evidence.verify import verify_pack

PLATE = "桂A-E7788"
LON, LAT = 108.366, 22.817


def box(lon: float, lat: float, size: float = 0.004) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def jpeg() -> str:
    out = io.BytesIO()
    Image.new("RGB", (80, 60), (90, 90, 200)).save(out, "JPEG")
    return base64.b64encode(out.getvalue()).decode()


async def _world(
    client: AsyncClient, staff: dict[str, str], fleet: Any, db: psycopg.Connection[Any]
) -> dict[str, Any]:
    vehicle_id, token = fleet.truck(PLATE, "南宁渣土运输公司")
    company_id = db.execute("SELECT company_id FROM vehicles WHERE id = %s", (vehicle_id,))
    company = company_id.fetchone()[0]  # type: ignore[index]
    site = {"name": "华强工地", "kind": "construction", "geometry": box(LON - 0.002, LAT - 0.002)}
    assert (await client.post("/api/v1/sites", json=site, headers=staff)).status_code == 201
    far = {"name": "远处工地", "kind": "construction", "geometry": box(LON + 1.0, LAT + 1.0)}
    assert (await client.post("/api/v1/sites", json=far, headers=staff)).status_code == 201
    start = datetime.now(UTC) - timedelta(minutes=50)
    fixes = [
        {"time": (start + timedelta(seconds=10 * i)).isoformat(), "lon": LON + 0.0001 * i,
         "lat": LAT + 0.00005 * i, "speed_kmh": 30.0, "loaded": i < 100}
        for i in range(180)
    ]  # fmt: skip
    resp = await client.post(
        "/api/v1/positions", json={"fixes": fixes}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200, resp.text
    opened = start + timedelta(minutes=15)
    db.execute(
        """INSERT INTO incidents (incident_id, type, vehicle_id, company_id, opened_at,
               detected_at, ended_at, lon, lat)
           VALUES ('inc-1', 'dumping', %s, %s, %s, %s, %s, %s, %s)""",
        (vehicle_id, company, opened, opened + timedelta(minutes=3),
         opened + timedelta(minutes=6), LON + 0.009, LAT + 0.0045),
    )  # fmt: skip
    return {"vehicle_id": vehicle_id, "company_id": company, "opened": opened}


async def test_an_incident_pack_verifies_and_shows_the_case(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    accounts: Any,
    db: psycopg.Connection[Any],
) -> None:
    w = await _world(client, staff, fleet, db)
    officer, checker = accounts.headers("enforcement_officer"), accounts.headers("viewer")
    confirm = await client.post(
        "/api/v1/incidents/inc-1/confirm", json={"note": "轨迹与举报照片一致"}, headers=officer
    )
    assert confirm.status_code == 200, confirm.text
    clue = {"kind": "dumping", "lon": LON, "lat": LAT, "plate": PLATE, "photos": [jpeg()],
            "observed_at": (w["opened"] + timedelta(minutes=2)).isoformat()}  # fmt: skip
    made = await client.post("/api/v1/clues", json=clue, headers=officer)
    assert made.status_code == 201, made.text
    other_officer = accounts.headers("enforcement_officer")
    verified = await client.post(
        f"/api/v1/clues/{made.json()['id']}/verify", json={"note": "属实"}, headers=other_officer
    )
    assert verified.status_code == 200, verified.text

    resp = await client.get("/api/v1/incidents/inc-1/pack", headers=checker)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/zip"
    assert "attachment" in resp.headers["content-disposition"]
    check = verify_pack(resp.content)
    assert check.ok, check.problem
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        names = set(zf.namelist())
        events = orjson.loads(zf.read("events.json"))
        geo = orjson.loads(zf.read("evidence.geojson"))
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(zf.read("case.pdf"))).pages)
    assert f"photos/clue-{made.json()['id']}-0.jpg" in names
    assert [e["event"]["type"] for e in events] == ["incident.opened", "incident.confirm"]
    assert events[1]["event"]["note"] == "轨迹与举报照片一致"
    kinds = [f["properties"]["kind"] for f in geo["features"]]
    assert kinds.count("fix") == 180 and kinds.count("track") == 1
    fences = [
        f["properties"]["name"] for f in geo["features"] if f["properties"]["kind"] == "fence"
    ]
    assert fences == ["华强工地"]  # the far one is not on the map
    assert PLATE in text and "渣土车运输违规证据卷" in text and "疑似偷倒" in text
    assert "轨迹与举报照片一致" in text
    shown = w["opened"].astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    assert f"{shown}（Asia/Shanghai）" in text  # the city's time, labelled
    audit = db.execute(
        "SELECT action FROM audit_log WHERE entity = 'incident' AND entity_key = 'inc-1' "
        "ORDER BY id"
    ).fetchall()
    assert audit == [("incident.confirm",), ("pack",)]


async def test_who_may_have_a_pack(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    accounts: Any,
    db: psycopg.Connection[Any],
) -> None:
    w = await _world(client, staff, fleet, db)
    own = accounts.headers("company_user", w["company_id"])
    other_company = db.execute("INSERT INTO companies (name) VALUES ('Other') RETURNING id")
    other = accounts.headers("company_user", other_company.fetchone()[0])  # type: ignore[index]
    assert (await client.get("/api/v1/incidents/inc-1/pack")).status_code == 401
    assert (await client.get("/api/v1/incidents/inc-1/pack", headers=own)).status_code == 200
    refused = await client.get("/api/v1/incidents/inc-1/pack", headers=other)
    assert refused.status_code == 404 and refused.json()["field"] == "incident_id"
    missing = await client.get("/api/v1/incidents/nope/pack", headers=staff)
    assert missing.status_code == 404
