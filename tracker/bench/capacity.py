"""``tracker bench capacity``: what the ledger costs the engine, and what capacity reads cost.

In a scratch database: completes ``--trips`` trips through the engine's own upsert (batches of
200, one transaction each, as a worker commits) with the ledger trigger, then the same number
without it (trigger disabled) for the overhead per trip; replays them all (the upsert again) to
show a replay books nothing; then times the capacity list over ``--yards`` yards with all rows
unfolded and after the fold, one yard's 30-day history, the fold, and the reconciliation report.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tracker.bench.common import scratch_database
from tracker.capacity import reconcile, service
from tracker.settings import Settings
from tracker.trips.core.events import TripCompleted
from tracker.trips.worker import repo as engine_repo

BATCH = 200


def _world(url: str, yards: int, vehicles: int) -> tuple[list[int], list[int]]:
    with psycopg.connect(url, autocommit=True) as conn:
        company = conn.execute("INSERT INTO companies (name) VALUES ('Bench') RETURNING id")
        company_id = company.fetchone()[0]  # type: ignore[index]
        vids = [
            r[0]
            for r in conn.execute(
                "INSERT INTO vehicles (plate, company_id, rated_volume_m3) "
                "SELECT 'B-' || i, %s, 16 FROM generate_series(1, %s) i RETURNING id",
                (company_id, vehicles),
            ).fetchall()
        ]
        yids = []
        for i in range(yards):
            fence = conn.execute(
                "INSERT INTO fences (kind, role, name, geometry) VALUES "
                "('polygon', 'yard', %s, '{\"type\": \"Polygon\", \"coordinates\": []}') "
                "RETURNING id",
                (f"yard {i}",),
            ).fetchone()
            assert fence is not None
            row = conn.execute(
                "INSERT INTO yards (name, fence_id, capacity_m3, created_at) "
                "VALUES (%s, %s, 1000000, now() - interval '60 days') RETURNING id",
                (f"yard {i}", fence[0]),
            ).fetchone()
            assert row is not None
            yids.append(int(row[0]))
    return vids, yids


def _events(n: int, vids: list[int], yids: list[int], tag: str) -> list[TripCompleted]:
    rng = random.Random(7)
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        end = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        out.append(
            TripCompleted(
                time=end,
                late=False,
                trip_id=f"{tag}-{i}",
                vehicle_id=rng.choice(vids),
                origin_id="1",
                yard_id=str(rng.choice(yids)),
                permit_id=None,
                loading_at=end - timedelta(hours=1),
                departed_at=end - timedelta(minutes=50),
                arrived_at=end - timedelta(minutes=10),
                volume_m3=None if i % 3 else round(rng.uniform(8, 20), 1),
                volume_source="rated" if i % 3 else "weighbridge",
                outcome="yard",
            )
        )
    return out


async def _write(url: str, events: list[TripCompleted]) -> float:
    """Seconds to store ``events`` in engine-sized transactions."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        t0 = time.perf_counter()
        for i in range(0, len(events), BATCH):
            async with conn.transaction():
                await engine_repo.save_events(conn, events[i : i + BATCH], {})
        return time.perf_counter() - t0


async def _timed(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Median milliseconds of ``repeat`` runs of the coroutine function ``fn``."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return round(sorted(runs)[len(runs) // 2], 2)


async def _reads(url: str, yids: list[int]) -> dict[str, float]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        unfolded = await _timed(lambda: service.all_yards(conn, 14))
        t0 = time.perf_counter()
        await service.check_alerts(conn)
        fold_ms = round((time.perf_counter() - t0) * 1000, 2)
        folded = await _timed(lambda: service.all_yards(conn, 14))
        one = await _timed(lambda: service.one_yard(conn, yids[0], 14, 30))
    return {
        "list_unfolded_ms": unfolded,
        "fold_ms": fold_ms,
        "list_folded_ms": folded,
        "one_yard_30d_ms": one,
    }


async def _run(url: str, trips: int, yards: int) -> dict[str, Any]:
    vids, yids = _world(url, yards, 200)
    with_ledger = _events(trips, vids, yids, "a")
    with_s = await _write(url, with_ledger)
    replay_s = await _write(url, with_ledger)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE trips DISABLE TRIGGER trips_yard_ledger")
    without = _events(trips, vids, yids, "b")
    without_s = await _write(url, without)
    replay_without_s = await _write(url, without)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM trips WHERE trip_id LIKE 'b-%'")
        conn.execute("ALTER TABLE trips ENABLE TRIGGER trips_yard_ledger")
        rows = conn.execute("SELECT count(*) FROM yard_ledger").fetchone()
    figures: dict[str, Any] = {
        "bench": "capacity",
        "trips": trips,
        "yards": yards,
        "ledger_rows": rows[0] if rows else None,
        "upsert_with_ledger_us_per_trip": round(with_s / trips * 1e6, 1),
        "upsert_without_ledger_us_per_trip": round(without_s / trips * 1e6, 1),
        "replay_with_ledger_us_per_trip": round(replay_s / trips * 1e6, 1),
        "replay_without_ledger_us_per_trip": round(replay_without_s / trips * 1e6, 1),
    }
    figures.update(await _reads(url, yids))
    with psycopg.connect(url, autocommit=True) as conn:
        t0 = time.perf_counter()
        diffs = reconcile.report(conn)
        figures["reconcile_report_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        figures["reconcile_ok"] = all(d.ok for d in diffs)
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker bench capacity", description=__doc__)
    parser.add_argument("--trips", type=int, default=20_000)
    parser.add_argument("--yards", type=int, default=50)
    args = parser.parse_args(argv)
    url = scratch_database(Settings.load(), "tracker_bench_capacity")
    print(json.dumps(asyncio.run(_run(url, args.trips, args.yards))))
    return 0
