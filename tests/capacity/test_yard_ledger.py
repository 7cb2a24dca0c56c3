"""The capacity ledger (issue 6): trips book once, adjustments, fill, forecast, alerts, closure,
and the reconciliation command."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg
import pytest
import redis
from httpx import AsyncClient
from ledger_world import LedgerWorld, make_world

from tracker import wire
from tracker.capacity import reconcile, service
from tracker.maintenance import MaintenanceRunner


@pytest.fixture
async def world(client: AsyncClient, staff: dict[str, str], database_url: str) -> LedgerWorld:
    return await make_world(client, staff, database_url)


def fill_of(db: psycopg.Connection[Any], yard_id: int) -> float:
    row = db.execute("SELECT yard_fill_m3(%s)::float8", (yard_id,)).fetchone()
    assert row is not None
    return float(row[0])


async def refresh(client: AsyncClient) -> list[Any]:
    platform = client.app.state.platform  # type: ignore[attr-defined]
    return list(await service.refresh(platform.pool, platform.redis))


async def test_a_completed_trip_books_once_even_when_written_again(
    world: LedgerWorld, db: psycopg.Connection[Any]
) -> None:
    yard = await world.yard("East", 1000)
    ids = await world.trips(yard, [12.5, None])
    assert fill_of(db, yard) == 12.5 + 16.0  # None: the truck's rated volume
    await world.trips(yard, [12.5, None])  # the engine re-upserts the same trips on a replay
    await world.trips(yard, [99.0, 99.0])  # even with other figures: the first booking stands
    rows = db.execute(
        "SELECT trip_id, volume_m3::float8, volume_source FROM yard_ledger ORDER BY trip_id"
    ).fetchall()
    assert rows == [(ids[0], 12.5, "weighbridge"), (ids[1], 16.0, "rated")]
    assert fill_of(db, yard) == 28.5
    # a trip under way, or one that ended elsewhere, books nothing
    db.execute(
        "INSERT INTO trips (trip_id, vehicle_id, yard_id, outcome, completed_at, volume_m3) "
        "VALUES ('x1', %s, %s, 'elsewhere', now(), 5), ('x2', %s, %s, NULL, NULL, 5)",
        (world.vehicle_ids[0], str(yard), world.vehicle_ids[0], str(yard)),
    )
    assert fill_of(db, yard) == 28.5
    await refresh(world.client)  # folding into the counter keeps the total
    assert fill_of(db, yard) == 28.5
    assert db.execute("SELECT count(*) FROM yard_ledger WHERE folded").fetchone() == (2,)


async def test_capacity_api_fill_forecast_and_history(
    world: LedgerWorld, db: psycopg.Connection[Any]
) -> None:
    yard = await world.yard("East", 1000)
    db.execute("UPDATE yards SET created_at = now() - interval '60 days'")
    await world.trips(yard, [50.0, 50.0], days_ago=20)  # outside the 14-day inflow window
    await world.trips(yard, [70.0, 70.0], days_ago=3, first=10)  # 140 m³ in 14 days: 10/day
    resp = await world.get("/yards/capacity")
    assert resp.status_code == 200, resp.text
    (listed,) = resp.json()
    assert listed == {
        "yard_id": yard, "name": "East", "capacity_m3": 1000.0, "fill_m3": 240.0,
        "remaining_m3": 760.0, "fill_pct": 24.0, "status": "open", "days_to_full": 76.0,
    }  # fmt: skip
    one = (await world.get(f"/yards/{yard}/capacity?days=30")).json()
    assert {k: one[k] for k in listed} == listed
    assert one["inflow_m3_per_day"] == 10.0
    history = one["history"]
    assert len(history) == 30
    assert history[-1]["fill_m3"] == 240.0 and history[0]["fill_m3"] == 0.0
    fills = [p["fill_m3"] for p in history]
    assert fills == sorted(fills) and 100.0 in fills  # the curve steps at 20 and 3 days ago
    other = await world.yard("Empty", 500, lon=7.440)
    empty = (await world.get(f"/yards/{other}/capacity")).json()
    assert empty["days_to_full"] is None and empty["fill_pct"] == 0.0
    assert (await world.get("/yards/9999/capacity")).status_code == 404
    bad = await world.get(f"/yards/{yard}/capacity?days=0")
    assert bad.status_code == 422 and bad.json()["field"] == "days"


async def test_adjustments_are_audited_and_checked(
    world: LedgerWorld, db: psycopg.Connection[Any], accounts: Any
) -> None:
    yard = await world.yard("East", 1000)
    await world.trips(yard, [100.0])
    resp = await world.post(
        f"/yards/{yard}/adjustments",
        {"kind": "survey", "volume_m3": 25.5, "reason": "drone survey 2026-11"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["capacity"]["fill_m3"] == 125.5
    dug = await world.post(
        f"/yards/{yard}/adjustments",
        {"kind": "excavation", "volume_m3": -40, "reason": "fill sold to a road project"},
    )
    assert dug.json()["capacity"]["fill_m3"] == 85.5
    ledger = (await world.get(f"/yards/{yard}/ledger")).json()["entries"]
    assert [(e["kind"], e["volume_m3"], e["actor"]) for e in ledger] == [
        ("excavation", -40.0, "bootstrap"),
        ("survey", 25.5, "bootstrap"),
        ("trip", 100.0, "engine"),
    ]
    audited = db.execute(
        "SELECT count(*) FROM audit_log WHERE entity = 'yard_capacity' AND entity_id = %s",
        (yard,),
    ).fetchone()
    assert audited == (2,)
    for body, field in [
        ({"kind": "excavation", "volume_m3": 10, "reason": "x"}, "volume_m3"),
        ({"kind": "survey", "volume_m3": 0, "reason": "x"}, "volume_m3"),
        ({"kind": "survey", "volume_m3": 1, "reason": ""}, "reason"),
        ({"kind": "survey", "volume_m3": 1, "reason": "   "}, "reason"),
        ({"kind": "guess", "volume_m3": 1, "reason": "x"}, "kind"),
        ({"kind": "survey", "volume_m3": 1, "reason": "x", "at": "2999-01-01T00:00:00Z"}, "at"),
    ]:
        bad = await world.post(f"/yards/{yard}/adjustments", body)
        assert bad.status_code in (400, 422) and bad.json()["field"] == field, bad.text
    viewer = accounts.headers("viewer")
    denied = await world.post(
        f"/yards/{yard}/adjustments", {"kind": "survey", "volume_m3": 1, "reason": "x"}, viewer
    )
    assert denied.status_code == 403
    assert (await world.get("/yards/capacity", viewer)).status_code == 200
    missing = await world.post("/yards/999/adjustments", {"kind": "survey", "volume_m3": 1,
                                                          "reason": "x"})  # fmt: skip
    assert missing.status_code == 404


async def test_alerts_once_per_crossing_and_a_full_yard_blocks_approval(
    world: LedgerWorld, db: psycopg.Connection[Any], redis_url: str
) -> None:
    yard = await world.yard("East", 100)
    r = redis.Redis.from_url(redis_url)
    sub = r.pubsub()
    sub.subscribe(wire.channel(r, wire.Channel.YARDS))
    try:
        # (the app's own capacity task may run a round too: the messages tell what was sent)
        await world.trips(yard, [85.0])
        await refresh(world.client)
        messages = _drain(sub, 1)
        assert [m["level"] for m in messages] == [80]
        await refresh(world.client)
        assert _drain(sub, 1, tries=10) == []  # once per crossing
        await world.trips(yard, [15.0], first=1)
        await refresh(world.client)
        messages += _drain(sub, 2)
        assert [m["level"] for m in messages] == [80, 95, 100]
        assert messages[-1] == {
            "type": "yard_capacity", "yard_id": yard, "level": 100, "fill_pct": 100.0,
            "closed": True, "at": messages[-1]["at"],
        }  # fmt: skip
        assert messages[-1]["at"].endswith("Z") and messages[0]["closed"] is False

        status = (await world.get(f"/yards/{yard}/capacity")).json()
        assert status["status"] == "closed" and status["days_to_full"] == 0.0
        refused = await world.approve(yard)
        assert refused.status_code == 409, refused.text
        codes = [d["code"] for d in refused.json()["details"]]
        assert "yard_full" in codes
        assert "closed to new permits" in refused.json()["message"]

        dug = await world.post(
            f"/yards/{yard}/adjustments",
            {"kind": "excavation", "volume_m3": -50, "reason": "dug out"},
        )
        assert dug.json()["capacity"]["status"] == "open"  # fmt: skip
        approved = await world.approve(yard)
        assert approved.status_code == 200, approved.text
        await world.trips(yard, [35.0], first=2)  # 85 %: crosses 80 again
        await refresh(world.client)
        assert [m["level"] for m in _drain(sub, 1)] == [80]
        stored = db.execute(
            "SELECT level FROM yard_alerts WHERE yard_id = %s ORDER BY id", (yard,)
        ).fetchall()
        assert [level for (level,) in stored] == [80, 95, 100, 80]
        assert db.execute("SELECT count(*) FROM yard_alerts WHERE published_at IS NULL"
                          ).fetchone() == (0,)  # fmt: skip
    finally:
        sub.close()
        r.close()


def _drain(sub: Any, n: int, tries: int = 200) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(tries):
        msg = sub.get_message(timeout=0.05)
        if msg and msg["type"] == "message":
            out.append(json.loads(msg["data"]))
        if len(out) >= n:
            break
    return out


async def test_reconciliation_finds_and_repairs_a_corrupted_fill(
    world: LedgerWorld, db: psycopg.Connection[Any], database_url: str, capsys: Any
) -> None:
    east = await world.yard("East", 1000)
    west = await world.yard("West", 1000, lon=7.440)
    ids = await world.trips(east, [10.0, 20.0, None])
    await world.trips(west, [5.0, 5.0])
    await world.post(f"/yards/{west}/adjustments", {"kind": "survey", "volume_m3": 3,
                                                    "reason": "survey"})  # fmt: skip
    await refresh(world.client)
    assert reconcile.main(["reconcile", "--database-url", database_url]) == 0
    assert "every yard's fill matches" in capsys.readouterr().out

    db.execute("UPDATE yard_fill SET fill_m3 = fill_m3 + 123.4 WHERE yard_id = %s", (east,))
    db.execute("DELETE FROM yard_ledger WHERE trip_id = %s", (ids[1],))  # a lost ledger row
    # a weighbridge correction of one trip after it was booked
    db.execute(
        "UPDATE trips SET volume_m3 = 6 WHERE trip_id = "
        "(SELECT min(trip_id) FROM trips WHERE yard_id = %s)",
        (str(west),),
    )
    found = {d.yard_id: d for d in reconcile.report(db)}
    assert float(found[east].difference_m3) == pytest.approx(123.4)  # the counter kept the 20
    assert (found[east].missing_trips, found[east].stale_rows) == (1, 0)
    assert float(found[west].difference_m3) == pytest.approx(-1.0)
    assert (found[west].missing_trips, found[west].stale_rows) == (1, 1)
    assert reconcile.main(["reconcile", "--database-url", database_url]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS" in out and "+123.400" in out and "2 yard(s) differ" in out

    assert reconcile.main(["reconcile", "--fix", "--database-url", database_url]) == 0
    assert "repaired 2 yard(s)" in capsys.readouterr().out
    assert all(d.ok for d in reconcile.report(db))
    assert fill_of(db, east) == 46.0 and fill_of(db, west) == 14.0
    audited = db.execute("SELECT count(*) FROM audit_log WHERE action = 'reconcile'").fetchone()
    assert audited == (2,)


async def test_the_capacity_task_alerts_by_itself(world: LedgerWorld, redis_url: str) -> None:
    yard = await world.yard("Small", 10)
    r = redis.Redis.from_url(redis_url)
    sub = r.pubsub()
    sub.subscribe(wire.channel(r, wire.Channel.YARDS))
    platform = world.client.app.state.platform  # type: ignore[attr-defined]
    fast = platform.settings.model_copy(update={"capacity_interval_s": 0.05})
    task = MaintenanceRunner(fast, platform.pool, platform.redis, only=["yard-capacity"])
    task.start()
    try:
        await world.trips(yard, [None])  # 16 m³ into 10: 160 %
        for _ in range(100):
            await asyncio.sleep(0.05)
            got = _drain(sub, 3, tries=1)
            if got:
                break
        got += _drain(sub, 3 - len(got))
        assert [(m["yard_id"], m["level"], m["closed"]) for m in got] == [
            (yard, 80, False),
            (yard, 95, False),
            (yard, 100, True),
        ]
        assert got[0]["fill_pct"] == 160.0
    finally:
        await task.stop()
        sub.close()
        r.close()


async def test_a_broken_volume_books_the_rated_volume_and_never_fails_the_engine(
    world: LedgerWorld, db: psycopg.Connection[Any]
) -> None:
    yard = await world.yard("East", 1000)
    await world.trips(yard, [1e15, float("nan"), -3.0, 0.0])  # broken sensors
    rows = db.execute("SELECT volume_m3::float8, volume_source FROM yard_ledger").fetchall()
    assert rows == [(16.0, "rated")] * 4
    # a yard id the registry does not know (or not a number) books nothing, and fails nothing
    db.execute(
        "INSERT INTO trips (trip_id, vehicle_id, yard_id, outcome, completed_at, volume_m3) "
        "VALUES ('u1', %s, '424242', 'yard', now(), 5), ('u2', %s, 'Y1', 'yard', now(), 5)",
        (world.vehicle_ids[0], world.vehicle_ids[0]),
    )
    assert db.execute("SELECT count(*) FROM yard_ledger").fetchone() == (4,)
    assert all(d.ok for d in reconcile.report(db))
