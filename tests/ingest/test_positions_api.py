"""HTTP ingest against real TimescaleDB and Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
import redis
from httpx import AsyncClient

from tracker.wire import LATEST_KEY, STREAM_PREFIX, decode_fixes

NOW = datetime.now(UTC).replace(microsecond=0)


def fix(offset_s: int, lon: float = 7.42, lat: float = 43.73, **kw: Any) -> dict[str, Any]:
    t = (NOW - timedelta(hours=1) + timedelta(seconds=offset_s)).isoformat()
    return {"time": t, "lon": lon, "lat": lat, **kw}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored_rows(db: psycopg.Connection[Any], vehicle_id: int) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT fix_time, lon, lat, speed_kmh, heading_deg, altitude_m, satellites, hdop, valid,"
        " ignition, loaded, body_lifted, cover_closed, alarm_bits, flags, source"
        " FROM pings WHERE vehicle_id = %s ORDER BY fix_time",
        (vehicle_id,),
    ).fetchall()


async def test_stored_rows_equal_what_was_sent(client: AsyncClient, fleet: Any, db: Any) -> None:
    vid, token = fleet.truck("A-001")
    sent = [
        fix(
            0,
            7.41,
            43.72,
            speed_kmh=35.5,
            heading_deg=90.0,
            altitude_m=55.0,
            satellites=11,
            hdop=0.8,
            valid=True,
            ignition=True,
            loaded=True,
            body_lifted=False,
            cover_closed=True,
            alarm_bits=4096,
        ),
        fix(15, 7.4105, 43.7201, speed_kmh=0.0, heading_deg=359.5, loaded=False),
    ]
    resp = await client.post("/api/v1/positions", json={"fixes": sent}, headers=auth(token))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 0)
    assert [r["status"] for r in body["results"]] == ["stored", "stored"]
    rows = stored_rows(db, vid)
    assert len(rows) == 2
    first = rows[0]
    assert first[0] == datetime.fromisoformat(sent[0]["time"])
    assert first[1:] == (
        7.41,
        43.72,
        35.5,
        90.0,
        55.0,
        11,
        pytest.approx(0.8),
        True,
        True,
        True,
        False,
        True,
        4096,
        0,
        1,
    )
    assert rows[1][4] == 359.5 and rows[1][10] is False and rows[1][9] is None


async def test_bad_fixes_are_named_and_good_ones_stored(
    client: AsyncClient, fleet: Any, db: Any
) -> None:
    vid, token = fleet.truck("A-002")
    batch = [
        fix(0),
        fix(10, lon=181.0),
        {"lon": 7.4, "lat": 43.7},
        fix(20, speed_kmh=-3),  # a bad optional value: dropped, the fix kept
        fix(30, heading_deg="north"),
        fix(40, loaded="yes"),
        {"time": "2026-13-45T00:00:00Z", "lon": 7.4, "lat": 43.7},
        {"time": "2026-11-01T00:00:00", "lon": 7.4, "lat": 43.7},
        fix(50, colour="red"),
        "not an object",
        fix(60),
    ]
    resp = await client.post("/api/v1/positions", json={"fixes": batch}, headers=auth(token))
    assert resp.status_code == 200
    results = resp.json()["results"]
    fields = [r.get("errors", [{}])[0].get("field") for r in results]
    statuses = [r["status"] for r in results]
    assert statuses == ["stored"] + ["rejected"] * 2 + ["stored"] * 3 + ["rejected"] * 4 + [
        "stored"
    ]
    assert [fields[i] for i in (1, 2, 6, 7, 8, 9)] == [
        "lon",
        "time",
        "time",
        "time",
        "colour",
        "fix",
    ]
    dropped = [[d["field"] for d in r.get("dropped", [])] for r in results]
    assert dropped[3:6] == [["speed_kmh"], ["heading_deg"], ["loaded"]]
    assert [f for named in dropped for f in named] == ["speed_kmh", "heading_deg", "loaded"]
    assert "between 0 and 300" in results[3]["dropped"][0]["message"]
    assert "time zone" in results[7]["errors"][0]["message"]
    rows = stored_rows(db, vid)
    assert len(rows) == 5
    assert (rows[1][3], rows[2][4], rows[3][10]) == (None, None, None)  # the dropped values


async def test_retry_is_idempotent(client: AsyncClient, fleet: Any, db: Any, rdb: Any) -> None:
    vid, token = fleet.truck("A-003")
    batch = {"fixes": [fix(i * 10) for i in range(50)]}
    first = await client.post("/api/v1/positions", json=batch, headers=auth(token))
    again = await client.post("/api/v1/positions", json=batch, headers=auth(token))
    assert first.json()["accepted"] == 50
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 50)
    assert {r["status"] for r in again.json()["results"]} == {"duplicate"}
    assert len(stored_rows(db, vid)) == 50


async def test_duplicates_inside_one_batch(client: AsyncClient, fleet: Any, db: Any) -> None:
    vid, token = fleet.truck("A-004")
    batch = {"fixes": [fix(0), fix(10), fix(0)]}
    body = (await client.post("/api/v1/positions", json=batch, headers=auth(token))).json()
    assert [r["status"] for r in body["results"]] == ["stored", "stored", "duplicate"]
    assert len(stored_rows(db, vid)) == 2


async def test_late_and_out_of_order_fixes_stored_by_fix_time(
    client: AsyncClient, fleet: Any, db: Any, rdb: redis.Redis
) -> None:
    vid, token = fleet.truck("A-005")
    await client.post("/api/v1/positions", json={"fixes": [fix(300, 7.43)]}, headers=auth(token))
    late = {"fixes": [fix(200, 7.42), fix(100, 7.41), fix(250, 7.425)]}
    body = (await client.post("/api/v1/positions", json=late, headers=auth(token))).json()
    assert body["accepted"] == 3
    assert [r[1] for r in stored_rows(db, vid)] == [7.41, 7.42, 7.425, 7.43]
    await client.app.state.platform.publisher.stop()  # type: ignore[attr-defined]
    latest = orjson.loads(rdb.hget(LATEST_KEY, str(vid)) or b"{}")
    assert latest["geometry"]["coordinates"][0] == 7.43, "a late fix must not win"


async def test_ndjson_batch(client: AsyncClient, fleet: Any, db: Any) -> None:
    vid, token = fleet.truck("A-006")
    lines = b"\n".join([orjson.dumps(fix(0)), b"{broken", orjson.dumps(fix(10)), b""])
    resp = await client.post(
        "/api/v1/positions",
        content=lines,
        headers={**auth(token), "Content-Type": "application/x-ndjson"},
    )
    results = resp.json()["results"]
    assert [r["status"] for r in results] == ["stored", "rejected", "stored"]
    assert results[1]["errors"][0]["field"] == "line"
    assert len(stored_rows(db, vid)) == 2


async def test_unauthenticated_and_foreign_posts_refused(
    client: AsyncClient, fleet: Any, db: Any
) -> None:
    vid_a, token_a = fleet.truck("A-007")
    vid_b, _ = fleet.truck("B-007")
    batch = {"fixes": [fix(0)]}
    no_auth = await client.post("/api/v1/positions", json=batch)
    assert no_auth.status_code == 401 and no_auth.json()["field"] == "authorization"
    bad = await client.post("/api/v1/positions", json=batch, headers=auth("mt_nope"))
    assert bad.status_code == 401
    foreign = await client.post(
        "/api/v1/positions", json={"vehicle_id": vid_b, **batch}, headers=auth(token_a)
    )
    assert foreign.status_code == 403 and foreign.json()["field"] == "vehicle_id"
    per_fix = await client.post(
        "/api/v1/positions", json={"fixes": [fix(0, vehicle_id=vid_b)]}, headers=auth(token_a)
    )
    assert per_fix.json()["results"][0]["errors"][0]["field"] == "vehicle_id"
    assert stored_rows(db, vid_a) == [] and stored_rows(db, vid_b) == []


async def test_malformed_bodies(client: AsyncClient, fleet: Any) -> None:
    _, token = fleet.truck("A-008")
    cases = [
        (b"{not json", "application/json", 400, "body"),
        (b'{"fixes": 3}', "application/json", 400, "fixes"),
        (b'{"fixes": []}', "application/json", 400, "fixes"),
        (b"<xml/>", "text/xml", 415, "content-type"),
    ]
    for content, ctype, status, field in cases:
        resp = await client.post(
            "/api/v1/positions", content=content, headers={**auth(token), "Content-Type": ctype}
        )
        assert resp.status_code == status, content
        assert resp.json()["field"] == field


async def test_noise_filters(client: AsyncClient, fleet: Any, db: Any) -> None:
    vid, token = fleet.truck("A-009")
    ahead = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    batch = [
        fix(0, 7.40, 43.70),
        fix(10, 0.0, 0.0),  # zero: rejected
        {"time": ahead, "lon": 7.4, "lat": 43.7},  # future: rejected
        fix(20, 7.90, 43.70),  # 40 km in 10 s: flagged jump
        fix(30, 7.4005, 43.7001, valid=False),  # invalid: flagged
        fix(40, 7.401, 43.7002),
    ]
    body = (
        await client.post("/api/v1/positions", json={"fixes": batch}, headers=auth(token))
    ).json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["stored", "rejected", "rejected", "stored", "stored", "stored"]
    assert body["results"][1]["errors"][0]["field"] == "lon"
    assert body["results"][2]["errors"][0]["field"] == "time"
    assert body["results"][3]["flags"] == 16 and body["results"][4]["flags"] == 8
    flags = [r[14] for r in stored_rows(db, vid)]
    assert flags == [0, 16, 8, 0]


async def test_streams_and_latest_in_redis(
    client: AsyncClient, fleet: Any, rdb: redis.Redis
) -> None:
    vid, token = fleet.truck("A-010")
    await client.post(
        "/api/v1/positions", json={"fixes": [fix(0), fix(10, 7.421)]}, headers=auth(token)
    )
    await client.app.state.platform.publisher.stop()  # type: ignore[attr-defined]
    entries = [e for key in rdb.keys(f"{STREAM_PREFIX}*") for e in rdb.xrange(key)]
    published = [f for _, e in entries for f in decode_fixes(e[b"fixes"])]
    assert [f.lon for f in published] == [7.42, 7.421]
    assert all(f.vehicle_id == vid for f in published)
    latest = orjson.loads(rdb.hget(LATEST_KEY, str(vid)) or b"{}")
    assert latest["geometry"]["coordinates"] == [7.421, 43.73]
    assert latest["properties"]["time"] == fix(10)["time"].replace("+00:00", "Z")
