"""Department feeds (issue 16 item 4): share grants, pull pages with an opaque cursor that
never skip or repeat a row, even while other transactions insert and commit out of order."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from export_world import World
from httpx import AsyncClient


def department(accounts: Any, world: World) -> tuple[int, dict[str, str]]:
    headers = accounts.headers("department")
    row = world.db.execute("SELECT max(id) FROM users WHERE role = 'department'").fetchone()
    assert row is not None
    return int(row[0]), headers


async def grant(client: AsyncClient, staff: dict[str, str], **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/feeds/grants", json=body, headers=staff)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def pull_all(
    client: AsyncClient, url: str, headers: dict[str, str], cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    items: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        r = await client.get(url, params=params, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not page["more"]:
            return items, cursor


async def pull_until(
    client: AsyncClient, url: str, headers: dict[str, str], cursor: str | None, want: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Poll like a consumer until ``want`` rows came (transactions elsewhere in the cluster,
    short as they are, hold the horizon back for a moment)."""
    items: list[dict[str, Any]] = []
    for _ in range(100):
        more, cursor = await pull_all(client, url, headers, cursor, 7)
        items += more
        if len(items) >= want:
            break
        await asyncio.sleep(0.05)
    return items, cursor


def insert_incident(conn: psycopg.Connection[Any], incident_id: str, world: World) -> None:
    conn.execute(
        "INSERT INTO incidents (incident_id, type, vehicle_id, company_id, opened_at,"
        " detected_at, lon, lat) VALUES (%s, 'no_permit', %s, %s, now(), now(), 108.3, 22.8)",
        (incident_id, world.truck_a, world.company_a),
    )


async def test_grants_are_the_admins_and_a_department_sees_only_its_own(
    client: AsyncClient, staff: dict[str, str], accounts: Any, world: World
) -> None:
    user_id, dept = department(accounts, world)
    body = {"department": "交警支队", "user_id": user_id, "kinds": ["incidents"],
            "company_ids": [world.company_a]}  # fmt: skip
    r = await client.post("/api/v1/feeds/grants", json=body, headers=dept)
    assert r.status_code == 403  # a department does not grant itself
    g = await grant(client, staff, **body)
    assert g["position_interval_s"] == 30 and g["active"]
    audit = world.db.execute(
        "SELECT action, entity, entity_id FROM audit_log WHERE entity = 'share_grant'"
    ).fetchall()
    assert audit == [("create", "share_grant", g["id"])]
    r = await client.get("/api/v1/feeds/mine", headers=dept)
    assert [x["id"] for x in r.json()["grants"]] == [g["id"]]
    r = await client.get(f"/api/v1/feeds/{g['id']}/positions", headers=dept)
    assert r.status_code == 400 and r.json()["field"] == "kind"  # not granted
    _, other = department(accounts, world)
    r = await client.get(f"/api/v1/feeds/{g['id']}/incidents", headers=other)
    assert r.status_code == 404  # another department's grant
    r = await client.get("/api/v1/incidents", headers=dept)
    assert r.status_code == 403  # a department account is not staff …
    r = await client.get("/api/v1/auth/me", headers=dept)
    assert r.json()["role"] == "department"  # … but knows who it is
    r = await client.post(
        "/api/v1/users",
        json={"username": "env-bureau", "password": "a-long-password-1", "role": "department"},
        headers=staff,
    )
    assert r.status_code == 201 and r.json()["role"] == "department"
    r = await client.get(
        f"/api/v1/feeds/{g['id']}/incidents", params={"cursor": "bm9wZQ"}, headers=dept
    )
    assert r.status_code == 400 and r.json()["field"] == "cursor"
    bad = [
        ({**body, "company_ids": []}, None),  # no scope
        ({**body, "user_id": 999_999}, "user_id"),
        ({**body, "kinds": ["trips"], "company_ids": [], "bbox": [108, 22, 109, 23]}, None),
        ({**body, "bbox": [109, 22, 108, 23]}, None),
    ]
    for payload, field in bad:
        r = await client.post("/api/v1/feeds/grants", json=payload, headers=staff)
        assert r.status_code in (400, 422), (payload, r.text)
        if field:
            assert r.json()["field"] == field
    r = await client.post(f"/api/v1/feeds/grants/{g['id']}/end", headers=staff)
    assert r.status_code == 200 and not r.json()["active"]
    r = await client.get(f"/api/v1/feeds/{g['id']}/incidents", headers=dept)
    assert r.status_code == 404


async def test_the_incident_feed_waits_for_a_transaction_that_commits_late(
    client: AsyncClient, staff: dict[str, str], accounts: Any, world: World, database_url: str
) -> None:
    user_id, dept = department(accounts, world)
    g = await grant(client, staff, department="城管局", user_id=user_id,
                    kinds=["incidents", "trips"], vehicle_ids=[world.truck_a])  # fmt: skip
    url = f"/api/v1/feeds/{g['id']}/incidents"
    insert_incident(world.db, "a1", world)
    insert_incident(world.db, "b-other", world)
    world.db.execute("UPDATE incidents SET vehicle_id = %s WHERE incident_id = 'b-other'",
                     (world.truck_b,))  # fmt: skip
    with psycopg.connect(database_url) as slow:  # a transaction that began first, commits last
        insert_incident(slow, "late", world)
        insert_incident(world.db, "a2", world)
        items, cursor = await pull_until(client, url, dept, None, 1)
        assert [i["incident_id"] for i in items] == ["a1"]
        assert items[0]["plate"] == "桂A12345"
        for _ in range(5):  # a2 waits behind the open transaction however often one asks
            more, cursor = await pull_all(client, url, dept, cursor, 10)
            assert more == []
        slow.commit()
    items, cursor = await pull_until(client, url, dept, cursor, 2)
    assert [i["incident_id"] for i in items] == ["late", "a2"]
    items, cursor = await pull_all(client, url, dept, cursor, 10)
    assert items == []
    world.db.execute("UPDATE incidents SET status = 'confirmed' WHERE incident_id = 'a1'")
    items, _ = await pull_until(client, url, dept, cursor, 1)
    assert [(i["incident_id"], i["status"]) for i in items] == [("a1", "confirmed")]

    world.db.execute(
        "INSERT INTO trips (trip_id, vehicle_id, loading_at) VALUES ('t1', %s, now()),"
        " ('t2', %s, now())",
        (world.truck_a, world.truck_b),
    )
    items, _ = await pull_until(client, f"/api/v1/feeds/{g['id']}/trips", dept, None, 1)
    assert [i["trip_id"] for i in items] == ["t1"]


async def test_pages_never_skip_or_repeat_under_concurrent_inserts(
    client: AsyncClient, staff: dict[str, str], accounts: Any, world: World, database_url: str
) -> None:
    user_id, dept = department(accounts, world)
    g = await grant(client, staff, department="生态环境局", user_id=user_id,
                    kinds=["incidents"], company_ids=[world.company_a])  # fmt: skip
    url = f"/api/v1/feeds/{g['id']}/incidents"
    inserted: list[str] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        rng = random.Random(n)
        with psycopg.connect(database_url) as conn:
            for i in range(25):
                incident_id = f"w{n}-{i}"
                insert_incident(conn, incident_id, world)
                time.sleep(rng.random() * 0.02)  # commits land out of sequence order
                conn.commit()
                with lock:
                    inserted.append(incident_id)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    served: list[str] = []
    cursor = None
    while any(t.is_alive() for t in threads):
        items, cursor = await pull_all(client, url, dept, cursor, 7)
        served += [i["incident_id"] for i in items]
    for t in threads:
        t.join()
    items, cursor = await pull_until(client, url, dept, cursor, 100 - len(served))
    served += [i["incident_id"] for i in items]
    items, cursor = await pull_all(client, url, dept, cursor, 7)
    served += [i["incident_id"] for i in items]
    assert len(served) == len(set(served)) == 100  # nothing repeated …
    assert set(served) == set(inserted)  # … nothing skipped


async def test_positions_come_at_the_grants_rate_in_order(
    client: AsyncClient, staff: dict[str, str], accounts: Any, world: World
) -> None:
    user_id, dept = department(accounts, world)
    g = await grant(client, staff, department="交通运输局", user_id=user_id,
                    kinds=["positions"], company_ids=[world.company_a],
                    position_interval_s=60)  # fmt: skip
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    world.track(world.truck_a, start, 180, 10, flagged={0})  # 30 min, first fix flagged
    world.track(world.truck_b, start, 180, 10)  # another company's: not shared
    url = f"/api/v1/feeds/{g['id']}/positions"
    r = await client.get(url, params={"since": start.isoformat(), "limit": 7}, headers=dept)
    page = r.json()
    items, cursor = page["items"], page["next_cursor"]
    more_items, _ = await pull_all(client, url, dept, cursor, 7)
    items += more_items
    times = [datetime.fromisoformat(i["fix_time"]) for i in items]
    assert len(items) == 30 and {i["vehicle_id"] for i in items} == {world.truck_a}
    assert times == sorted(times) and len(set(times)) == 30
    assert times[0] == start + timedelta(seconds=10)  # the first unflagged fix of the minute
    assert all(t.second == 0 for t in times[1:])  # then the first fix of each minute
    assert [items[0]["lon"], items[0]["lat"]] == [108.3 + 1e-5, 22.8 + 1e-5]


async def test_daily_files_hold_yesterday_of_each_grant(
    client: AsyncClient, staff: dict[str, str], accounts: Any, world: World, export_dir: Any
) -> None:
    from tracker.exports.daily import write_yesterday

    user_id, _ = department(accounts, world)
    g = await grant(client, staff, department="交警支队", user_id=user_id,
                    kinds=["positions", "incidents"], vehicle_ids=[world.truck_a],
                    position_interval_s=300)  # fmt: skip
    now = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)  # 17:00 on the 3rd in Shanghai
    day_start = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # 00:00 on the 2nd in Shanghai
    world.track(world.truck_a, day_start - timedelta(minutes=10), 24 * 60 + 20, 60)
    world.db.execute(
        "INSERT INTO incidents (incident_id, type, vehicle_id, opened_at, detected_at) VALUES"
        " ('in', 'dumping', %s, %s, %s), ('out', 'dumping', %s, %s, %s)",
        (world.truck_a, day_start + timedelta(hours=3), day_start,
         world.truck_a, day_start - timedelta(hours=1), day_start),
    )  # fmt: skip
    platform: Any = client.app.state.platform  # type: ignore[attr-defined]
    written = await write_yesterday(platform.pool, platform.settings, now)
    base = f"grant-{g['id']}/2026-11-02"
    assert sorted(written) == [f"{base}/incidents.csv", f"{base}/positions.csv"]
    lines = (export_dir / "daily" / base / "positions.csv").read_text("utf-8-sig").splitlines()
    assert len(lines) == 1 + 24 * 12  # one fix per 5 minutes of the local day
    assert lines[1].split(",")[3] == "2026-11-02 00:00:00"
    incidents = (export_dir / "daily" / base / "incidents.csv").read_text("utf-8-sig")
    assert len(incidents.splitlines()) == 2 and incidents.splitlines()[1].startswith("in,")
    assert await write_yesterday(platform.pool, platform.settings, now) == []  # done once
