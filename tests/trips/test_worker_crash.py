"""Crash test (issue 5): an engine worker killed with SIGKILL mid-stream and restarted yields
exactly the incidents (and trips) of an uninterrupted run over the same stored input, a late
upload replayed into history included. Outage test: a worker whose Redis and database
connections are all cut mid-stream keeps running and yields the same."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from engine_process import EngineProcess, wait_consumed, wait_for
from engine_scenario import TRIPS as HAULS
from engine_scenario import build_world, chunks, truck_fixes
from httpx import AsyncClient
from outages import cut_db_sessions, cut_redis_clients

SNAPSHOT = (
    "SELECT incident_id, type, vehicle_id, company_id, permit_id, trip_id, severity, status,"
    " opened_at, detected_at, ended_at, late, lon, lat, detail, evidence"
    " FROM incidents ORDER BY incident_id"
)
TRIPS = "SELECT * FROM trips ORDER BY trip_id"
ENGINE_TABLES = "TRUNCATE incidents, trips, engine_checkpoints, engine_shards"


Posts = list[tuple[str, list[dict[str, Any]]]]


def interleaved(
    trucks: list[tuple[int, str]], per_truck: list[list[list[dict[str, Any]]]]
) -> Posts:
    """The trucks' uploads, one of each in turn: (token, fixes)."""
    return [
        (token, part[i])
        for i in range(max(len(p) for p in per_truck))
        for (_, token), part in zip(trucks, per_truck, strict=True)
        if i < len(part)
    ]


async def post_all(client: AsyncClient, posts: Posts) -> None:
    """As a terminal does: each upload again after a 503 (nothing acknowledged) until taken."""
    for token, fixes in posts:
        for _ in range(50):
            resp = await client.post(
                "/api/v1/positions",
                json={"fixes": fixes},
                headers={"Authorization": f"Bearer {token}"},
            )
            if resp.status_code == 200:
                break
            assert resp.status_code == 503, resp.text
        else:
            raise AssertionError("never acknowledged")


async def hauls(
    client: AsyncClient,
    staff: dict[str, str],
    db: psycopg.Connection[Any],
    trucks: list[tuple[int, str]],
) -> tuple[datetime, list[list[list[dict[str, Any]]]]]:
    """The engine scenario's world for four trucks, and their days in uploads of 8 fixes."""
    await build_world(client, staff, db, [vid for vid, _ in trucks])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    return start, [chunks(truck_fixes(kind, start), 8) for kind in range(4)]


async def uninterrupted_run(
    db: psycopg.Connection[Any], rdb: redis.Redis, worker: EngineProcess, entries: int
) -> tuple[list[Any], list[Any]]:
    """The reference: the engine's tables emptied, the same stored input in one run."""
    db.execute(ENGINE_TABLES)
    worker.start()
    await wait_consumed(db, rdb, entries)
    worker.stop(signal.SIGTERM)
    return db.execute(SNAPSHOT).fetchall(), db.execute(TRIPS).fetchall()


@pytest.fixture
def worker(
    database_url: str, redis_url: str, tmp_path: Path, clean: None
) -> Iterator[EngineProcess]:
    w = EngineProcess(database_url, redis_url, tmp_path / "engine.log")
    yield w
    w.stop(signal.SIGKILL)


async def test_sigkill_mid_stream_yields_the_incidents_of_an_uninterrupted_run(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
    rdb: redis.Redis,
    worker: EngineProcess,
) -> None:
    trucks = [fleet.truck(f"K-{i}") for i in range(4)]
    start, per_truck = await hauls(client, staff, db, trucks)
    # Truck 2 holds its first deviation back and uploads it after 6 more uploads (~4.5 min
    # later): the worker replays it into history (``rewind``), so it is found, once.
    deviating = truck_fixes(2, start)
    held, rest = deviating[21:32], deviating[:21] + deviating[32:]
    per_truck[2] = chunks(rest, 8)
    per_truck[2].insert(6, held)
    posts = interleaved(trucks, per_truck)

    half = len(posts) // 2
    worker.start()
    await post_all(client, posts[:half])

    def some_progress() -> bool:
        row = db.execute("SELECT count(*) FROM engine_shards").fetchone()
        return row is not None and row[0] > 0

    await wait_for(some_progress, 15, "the first commit")
    worker.stop(signal.SIGKILL)
    seen_at_kill = db.execute(
        "SELECT coalesce(sum((state->>'fixes_seen')::int), 0) FROM engine_checkpoints"
    ).fetchone()
    await post_all(client, posts[half:])
    worker.start()
    await wait_consumed(db, rdb, len(posts))
    worker.stop(signal.SIGTERM)
    crashed, crashed_trips = db.execute(SNAPSHOT).fetchall(), db.execute(TRIPS).fetchall()

    reference, reference_trips = await uninterrupted_run(db, rdb, worker, len(posts))

    total = sum(len(f) for _, f in posts)
    print(f"fixes={total} entries={len(posts)} seen_at_kill={seen_at_kill} "
          f"incidents={len(reference)} trips={len(reference_trips)}")  # fmt: skip
    assert crashed == reference
    assert [t[:-1] for t in crashed_trips] == [t[:-1] for t in reference_trips]
    by_truck = {(vid, kind) for _, kind, vid, *_ in reference}
    ids = [vid for vid, _ in trucks]
    assert (ids[1], "dumping") in by_truck
    assert (ids[2], "route_deviation") in by_truck
    deviations = [r for r in reference if r[1] == "route_deviation" and r[2] == ids[2]]
    assert len(deviations) == HAULS, deviations  # the held-back one too, and only once
    assert (ids[3], "no_go_zone") in by_truck
    assert not any(vid == ids[0] for vid, _ in by_truck), reference


async def test_redis_and_database_outages_do_not_end_the_worker_or_change_its_results(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
    rdb: redis.Redis,
    worker: EngineProcess,
) -> None:
    trucks = [fleet.truck(f"O-{i}") for i in range(4)]
    _, per_truck = await hauls(client, staff, db, trucks)
    posts = interleaved(trucks, per_truck)

    third = len(posts) // 3
    worker.start()
    await post_all(client, posts[:third])
    await wait_consumed(db, rdb, third)
    assert cut_redis_clients(rdb) + cut_db_sessions(db) >= 2
    await post_all(client, posts[third : 2 * third])
    assert cut_redis_clients(rdb) + cut_db_sessions(db) >= 2
    await post_all(client, posts[2 * third :])
    await wait_consumed(db, rdb, len(posts), timeout_s=40)
    assert worker.proc is not None and worker.proc.poll() is None, "the worker ended"
    worker.stop(signal.SIGTERM)
    assert "retrying" in worker.log.read_text()
    outage, outage_trips = db.execute(SNAPSHOT).fetchall(), db.execute(TRIPS).fetchall()

    reference, reference_trips = await uninterrupted_run(db, rdb, worker, len(posts))
    assert outage == reference
    assert [t[:-1] for t in outage_trips] == [t[:-1] for t in reference_trips]
    assert {(r[1], r[2]) for r in reference} >= {(("dumping"), trucks[1][0])}
