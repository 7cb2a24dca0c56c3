"""Exports on demand (issue 16 item 4): every format parses back to the stored rows, scoping,
limits, the audit row, and export jobs with progress."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
from export_world import World
from httpx import AsyncClient

from tracker.maintenance import MaintenanceRunner

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai: the local day differs
GPX = "{http://www.topografix.com/GPX/1/1}"
KML = "{http://www.opengis.net/kml/2.2}"


def stored_track(world: World, vehicle_id: int) -> list[tuple[Any, ...]]:
    return world.db.execute(
        "SELECT fix_time, lon, lat, speed_kmh FROM pings WHERE vehicle_id = %s AND flags = 0"
        " ORDER BY fix_time",
        (vehicle_id,),
    ).fetchall()


def period(**extra: Any) -> dict[str, Any]:
    return {"since": "2026-11-02T00:00:00Z", "until": "2026-11-03T00:00:00Z", **extra}


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the Chinese
    return list(csv.reader(io.StringIO(body[3:].decode())))


async def test_a_track_parses_back_from_every_format(
    client: AsyncClient, staff: dict[str, str], world: World
) -> None:
    world.track(world.truck_a, T0, 50, 10, flagged={7})
    stored = stored_track(world, world.truck_a)
    assert len(stored) == 49
    url = "/api/v1/exports/track"
    base = period(vehicle_id=world.truck_a)

    r = await client.get(url, params=base, headers=staff)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = read_csv(r.content)
    assert rows[0][:4] == ["定位时间(UTC)", "定位时间(本地)", "经度", "纬度"]
    assert len(rows) == 1 + len(stored)
    for row, (at, lon, lat, speed) in zip(rows[1:], stored, strict=True):
        assert datetime.fromisoformat(row[0]) == at
        assert row[1] == at.astimezone(SH).strftime("%Y-%m-%d %H:%M:%S")
        assert (float(row[2]), float(row[3]), float(row[4])) == (lon, lat, speed)
    assert rows[1][1].startswith("2026-11-02 23:30")

    r = await client.get(url, params={**base, "format": "gpx"}, headers=staff)
    points = ET.fromstring(r.content).findall(f"{GPX}trk/{GPX}trkseg/{GPX}trkpt")
    assert [
        (datetime.fromisoformat(p.findtext(f"{GPX}time") or ""), float(p.get("lon", "")),
         float(p.get("lat", "")))
        for p in points
    ] == [(at, lon, lat) for at, lon, lat, _ in stored]  # fmt: skip

    r = await client.get(url, params={**base, "format": "kml"}, headers=staff)
    marks = ET.fromstring(r.content).findall(f"{KML}Document/{KML}Placemark")
    parsed = []
    for m in marks:
        lon, lat = (m.findtext(f"{KML}Point/{KML}coordinates") or "").split(",")
        when = datetime.fromisoformat(m.findtext(f"{KML}TimeStamp/{KML}when") or "")
        parsed.append((when, float(lon), float(lat)))
    assert parsed == [(at, lon, lat) for at, lon, lat, _ in stored]

    r = await client.get(url, params={**base, "format": "geojson"}, headers=staff)
    features = json.loads(r.content)["features"]
    assert [
        (datetime.fromisoformat(f["properties"]["time"]), *f["geometry"]["coordinates"],
         f["properties"]["speed_kmh"])
        for f in features
    ] == [tuple(s) for s in stored]  # fmt: skip

    r = await client.get(url, params={**base, "interval_s": 60}, headers=staff)
    assert len(read_csv(r.content)) - 1 == 9  # 500 s of fixes: one per started minute


def incidents(world: World) -> None:
    with world.db.cursor() as cur:
        cur.executemany(
            "INSERT INTO incidents (incident_id, type, vehicle_id, company_id, status, note,"
            " opened_at, detected_at, lon, lat) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                ("i1", "no_permit", world.truck_a, world.company_a, "open", "夜间偷运",
                 T0, T0 + timedelta(seconds=5), 108.3, 22.8),
                ("i2", "dumping", world.truck_a, world.company_a, "confirmed", "=HYPERLINK(1)",
                 T0 + timedelta(hours=1), T0 + timedelta(hours=1), None, None),
                ("i3", "no_permit", world.truck_b, world.company_b, "open", None,
                 T0 + timedelta(hours=2), T0 + timedelta(hours=2), 108.4, 22.9),
                ("i4", "no_permit", world.truck_b, world.company_b, "open", None,
                 T0 - timedelta(days=3), T0 - timedelta(days=3), 108.4, 22.9),
            ],
        )  # fmt: skip


async def test_incidents_as_csv_and_xlsx_with_chinese_or_english_headers(
    client: AsyncClient, staff: dict[str, str], world: World
) -> None:
    incidents(world)
    url = "/api/v1/exports/incidents"
    r = await client.get(url, params=period(), headers=staff)
    assert r.status_code == 200, r.text
    rows = read_csv(r.content)
    assert rows[0][:5] == ["事件编号", "事件类型", "车辆ID", "车牌号", "所属企业"]
    assert [row[0] for row in rows[1:]] == ["i1", "i2", "i3"]  # i4 is before the period
    one = dict(zip(rows[0], rows[1], strict=True))
    assert one["车牌号"] == "桂A12345" and one["所属企业"] == "南宁渣土运输有限公司"
    assert one["开始时间"] == "2026-11-02 23:30:00"  # the city's wall clock
    assert one["处理意见"] == "夜间偷运"
    assert dict(zip(rows[0], rows[2], strict=True))["处理意见"] == "'=HYPERLINK(1)"  # inert

    r = await client.get(url, params=period(headers="en", format="xlsx"), headers=staff)
    assert r.status_code == 200, r.text
    sheet = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True).active
    assert sheet is not None
    got = list(sheet.iter_rows(values_only=True))
    assert got[0][:4] == ("incident_id", "type", "vehicle_id", "plate")
    keys = got[0]
    first = dict(zip(keys, got[1], strict=True))
    assert first["opened_at"] == datetime(2026, 11, 2, 23, 30)  # a date cell, local time
    assert first["vehicle_id"] == world.truck_a and first["late"] is False
    assert first["lon"] == 108.3 and first["note"] == "夜间偷运"
    assert [row[0] for row in got[1:]] == ["i1", "i2", "i3"]

    # filters of the list endpoint
    r = await client.get(url, params=period(type="dumping"), headers=staff)
    assert [row[0] for row in read_csv(r.content)[1:]] == ["i2"]


async def test_company_users_export_their_own_company_only(
    client: AsyncClient, accounts: Any, world: World
) -> None:
    incidents(world)
    world.track(world.truck_b, T0, 10, 10)
    company_a = accounts.headers("company_user", world.company_a)
    r = await client.get(
        "/api/v1/exports/incidents",
        params=period(company_id=world.company_b),
        headers=company_a,
    )
    assert [row[0] for row in read_csv(r.content)[1:]] == ["i1", "i2"]
    r = await client.get(
        "/api/v1/exports/track", params=period(vehicle_id=world.truck_b), headers=company_a
    )
    assert len(read_csv(r.content)) == 1  # another company's truck: nothing
    r = await client.get(
        "/api/v1/exports/track",
        params=period(vehicle_id=world.truck_b),
        headers=accounts.headers("viewer"),
    )
    assert len(read_csv(r.content)) == 11
    r = await client.get("/api/v1/exports/incidents", headers=accounts.headers("department"))
    assert r.status_code == 403
    r = await client.get("/api/v1/exports/incidents")
    assert r.status_code == 401


async def test_limits_answer_400_naming_the_field(
    client: AsyncClient, staff: dict[str, str], world: World
) -> None:
    world.track(world.truck_a, T0, 20, 10)
    cases = [
        ("track", {"vehicle_id": world.truck_a, "since": "2026-10-01T00:00:00Z",
                   "until": "2026-11-02T00:00:00Z"}, "until"),
        ("track", period(), "vehicle_id"),
        ("track", period(vehicle_id=world.truck_a, format="xlsx"), "format"),
        ("incidents", period(format="gpx"), "format"),
        ("nothing", period(), "kind"),
        ("incidents", {"since": "2026-11-03T00:00:00Z", "until": "2026-11-02T00:00:00Z"},
         "since"),
        ("incidents", {"since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
         "until"),
        ("incidents", period(yard_id=3), "yard_id"),
        ("incidents", period(active=True), "active"),
        ("yard-ledger", period(), "yard_id"),
        ("incidents", {"since": "2026-11-02T00:00:00"}, "since"),
    ]  # fmt: skip
    for kind, params, field in cases:
        r = await client.get(f"/api/v1/exports/{kind}", params=params, headers=staff)
        assert r.status_code in (400, 422), (kind, params, r.text)
        assert r.json()["field"] == field, (kind, params, r.json())
    platform = client.app.state.platform  # type: ignore[attr-defined]
    platform.settings.exports.max_rows = 19
    r = await client.get(
        "/api/v1/exports/track", params=period(vehicle_id=world.truck_a), headers=staff
    )
    assert r.status_code == 400 and r.json()["field"] == "until"
    assert "20 rows" in r.json()["message"]


async def test_every_export_is_audited_with_its_scope(
    client: AsyncClient, accounts: Any, world: World
) -> None:
    incidents(world)
    who = accounts.headers("company_user", world.company_a)
    r = await client.get("/api/v1/exports/incidents", params=period(format="xlsx"), headers=who)
    assert r.status_code == 200
    row = world.db.execute(
        "SELECT actor, action, entity, after FROM audit_log WHERE action = 'export'"
    ).fetchone()
    assert row is not None
    actor, _, entity, after = row
    assert actor.startswith("company_user-") and entity == "export"
    assert after["kind"] == "incidents" and after["format"] == "xlsx" and after["rows"] == 2
    assert after["scope"]["company_id"] == world.company_a


async def wait_done(client: AsyncClient, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(200):
        job = (await client.get(f"/api/v1/exports/jobs/{job_id}", headers=headers)).json()
        if job["state"] != "running":
            return dict(job)
        await asyncio.sleep(0.05)
    raise AssertionError("the job did not finish")


async def test_an_export_job_reports_progress_and_serves_its_file_until_it_expires(
    client: AsyncClient, staff: dict[str, str], accounts: Any, world: World, export_dir: Any
) -> None:
    world.track(world.truck_a, T0, 12_000, 2)
    platform = client.app.state.platform  # type: ignore[attr-defined]
    platform.settings.exports.batch_rows = 1000
    body = {"kind": "track", "format": "csv",
            "params": {"vehicle_id": world.truck_a, "since": "2026-11-02T00:00:00Z",
                       "until": "2026-11-03T00:00:00Z"}}  # fmt: skip
    r = await client.post("/api/v1/exports/jobs", json=body, headers=staff)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] == "running" and job["rows_total"] == 12_000
    seen = []
    while job["state"] == "running":
        seen.append(job["rows_done"])
        await asyncio.sleep(0.01)
        job = (await client.get(f"/api/v1/exports/jobs/{job['id']}", headers=staff)).json()
    assert job["state"] == "done" and job["rows_done"] == 12_000 and job["percent"] == 100.0
    assert seen == sorted(seen)
    other = accounts.headers("admin")
    r = await client.get(f"/api/v1/exports/jobs/{job['id']}", headers=other)
    assert r.status_code == 404  # a job is its owner's
    r = await client.get(f"/api/v1/exports/jobs/{job['id']}/file", headers=staff)
    assert r.status_code == 200
    direct = await client.get("/api/v1/exports/track", params=body["params"], headers=staff)
    assert r.content == direct.content and len(read_csv(r.content)) == 12_001
    assert len(list(export_dir.iterdir())) == 1

    world.db.execute("UPDATE export_jobs SET expires_at = now() - interval '1 s'")
    done = await MaintenanceRunner(platform.settings, platform.pool, platform.redis,
                                   ["exports-expiry"]).run_once()  # fmt: skip
    assert done == {"exports-expiry": 1}
    assert list(export_dir.iterdir()) == []
    r = await client.get(f"/api/v1/exports/jobs/{job['id']}/file", headers=staff)
    assert r.status_code == 404


async def test_a_job_not_finished_has_no_file_yet(
    client: AsyncClient, staff: dict[str, str], world: World, export_dir: Any
) -> None:
    incidents(world)
    body = {"kind": "incidents", "format": "xlsx", "headers": "en", "params": period()}
    job = (await client.post("/api/v1/exports/jobs", json=body, headers=staff)).json()
    job = await wait_done(client, job["id"], staff)  # it finishes
    assert job["state"] == "done"
    world.db.execute("UPDATE export_jobs SET state = 'running'")
    r = await client.get(f"/api/v1/exports/jobs/{job['id']}/file", headers=staff)
    assert r.status_code == 409 and r.json()["field"] == "job_id"
    r = await client.post("/api/v1/exports/jobs", json={**body, "kind": "x"}, headers=staff)
    assert r.status_code == 400 and r.json()["field"] == "kind"


async def test_trips_and_the_blacklist_export_as_their_lists_show_them(
    client: AsyncClient, staff: dict[str, str], accounts: Any, world: World
) -> None:
    world.db.execute(
        "INSERT INTO trips (trip_id, vehicle_id, company_id, yard_id, loading_at, volume_m3,"
        " outcome) VALUES ('t1', %s, %s, '7', %s, 15.5, 'yard'), ('t2', %s, %s, '8', %s, 12, NULL)",
        (world.truck_a, world.company_a, T0, world.truck_b, world.company_b,
         T0 + timedelta(hours=1)),
    )  # fmt: skip
    world.db.execute(
        "INSERT INTO blacklist_listings (vehicle_id, source, reason, listed_by, listed_at)"
        " VALUES (%s, 'manual', '多次违规', 'officer', %s)",
        (world.truck_b, T0),
    )
    world.db.execute(
        "INSERT INTO blacklist_history (vehicle_id, at, actor, action, detail)"
        " VALUES (%s, %s, 'officer', 'listed', '{\"reason\": \"多次违规\"}')",
        (world.truck_b, T0),
    )
    r = await client.get("/api/v1/exports/trips", params=period(headers="en"), headers=staff)
    rows = list(csv.DictReader(io.StringIO(r.content[3:].decode())))
    assert [(t["trip_id"], t["plate"], t["yard_id"], t["volume_m3"]) for t in rows] == [
        ("t1", "桂A12345", "7", "15.5"),
        ("t2", "桂B99999", "8", "12.0"),
    ]
    r = await client.get("/api/v1/exports/trips", params=period(yard_id=8), headers=staff)
    assert [row[0] for row in read_csv(r.content)[1:]] == ["t2"]
    company_a = accounts.headers("company_user", world.company_a)
    r = await client.get("/api/v1/exports/trips", params=period(), headers=company_a)
    assert [row[0] for row in read_csv(r.content)[1:]] == ["t1"]

    r = await client.get("/api/v1/exports/blacklist", params=period(active=True), headers=staff)
    listing = dict(zip(*read_csv(r.content)[:2], strict=True))
    assert listing["车牌号"] == "桂B99999" and listing["原因"] == "多次违规"
    assert listing["列入时间"] == "2026-11-02 23:30:00" and listing["解除时间"] == ""
    r = await client.get("/api/v1/exports/blacklist", params=period(), headers=company_a)
    assert len(read_csv(r.content)) == 1  # another company's truck
    r = await client.get(
        "/api/v1/exports/blacklist-history", params=period(type="listed"), headers=staff
    )
    event = dict(zip(*read_csv(r.content)[:2], strict=True))
    assert event["动作"] == "listed" and json.loads(event["详情"]) == {"reason": "多次违规"}


async def test_a_job_whose_process_stopped_is_failed_by_the_expiry_task(
    client: AsyncClient, world: World, export_dir: Any
) -> None:
    in_api = client.app.state.maintenance  # type: ignore[attr-defined]
    if in_api is not None:  # its rounds would race this one's for the same rows
        await in_api.stop()
    world.db.execute(
        "INSERT INTO export_jobs (actor, kind, format, rows_total, updated_at, expires_at)"
        " VALUES ('bootstrap', 'track', 'csv', 10, now() - interval '1 hour',"
        " now() + interval '1 day'), ('bootstrap', 'track', 'csv', 10, now(),"
        " now() + interval '1 day')"
    )
    platform = client.app.state.platform  # type: ignore[attr-defined]
    runner = MaintenanceRunner(platform.settings, platform.pool, platform.redis, ["exports-expiry"])
    assert await runner.run_once() == {"exports-expiry": 1}
    states = world.db.execute("SELECT state, error FROM export_jobs ORDER BY updated_at").fetchall()
    assert states == [("failed", "abandoned"), ("running", None)]
