"""``tracker bench exports``: a month's track as CSV and a table of incidents as XLSX, streamed
(server-side cursor, one batch at a time) against a naive baseline in the same run (``fetchall``
then encode everything at once).

Loads one truck's 31 days at 10 s (267,840 fixes) and 100,000 incidents into a scratch database,
then per case: rows/s of each way (untraced), and the Python heap's peak of each way (a second,
traced pass: tracemalloc). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from tracker.accounts.models import BOOTSTRAP
from tracker.bench.common import scratch_database
from tracker.exports import datasets, formats
from tracker.exports.stream import export_bytes
from tracker.settings import Settings
from tracker.sim.seed import seed_fleet

BENCH_DB = "tracker_bench_exports"
START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 31
STEP_S = 10
ZONE = ZoneInfo("Asia/Shanghai")

_LOAD_TRACK = """
INSERT INTO pings (vehicle_id, fix_time, received_at, terminal_id, lon, lat, h3_cell, speed_kmh,
                   heading_deg, valid, ignition, loaded, flags, source)
SELECT 1, t, t, 1, 108.3 + 0.05 * sin(extract(epoch FROM t) / 3600),
       22.8 + 0.05 * cos(extract(epoch FROM t) / 3600), 0,
       (extract(epoch FROM t)::bigint %% 60)::real, 90, true, true, true, 0, 1
  FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '10 s',
                       interval '10 s') AS t
"""
_LOAD_INCIDENTS = """
INSERT INTO incidents (incident_id, type, vehicle_id, company_id, status, note, opened_at,
                       detected_at, lon, lat)
SELECT 'b-' || n, 'no_permit', 1, 1, 'open', '夜间未密闭运输 ' || n,
       %(start)s::timestamptz + n * interval '20 s', %(start)s::timestamptz + n * interval '20 s',
       108.3, 22.8
  FROM generate_series(1, %(n)s) AS n
"""


def _load(settings: Settings, incidents: int) -> str:
    db_url = scratch_database(settings, BENCH_DB)
    seed_fleet(db_url, 1, prefix="EXP")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(_LOAD_TRACK.encode(), {"start": START, "end": START + timedelta(days=DAYS)})
        conn.execute(_LOAD_INCIDENTS.encode(), {"start": START, "n": incidents})
        conn.execute("VACUUM (ANALYZE) pings")
        conn.execute("VACUUM (ANALYZE) incidents")
    return db_url


async def _streamed(pool: AsyncConnectionPool[Any], q: datasets.ExportQuery, fmt: str) -> int:
    sent = 0
    async for chunk in export_bytes(pool, q, fmt, "zh", ZONE, 5000):
        sent += len(chunk)
    return sent


async def _naive(pool: AsyncConnectionPool[Any], q: datasets.ExportQuery, fmt: str) -> int:
    """Everything read at once, then encoded at once: what the list endpoints would do."""
    async with pool.connection() as conn:
        cur = await conn.execute(q.rows_sql().encode(), q.params)
        rows = await cur.fetchall()
    enc = formats.encoder(fmt, q.dataset.columns, "zh", ZONE, q.filename)
    body = enc.head() + enc.encode(rows)
    end = enc.finish()
    if isinstance(end, bytes):
        return len(body + end)
    size = end.stat().st_size
    end.unlink()
    return size


async def _measure(run: Callable[[], Awaitable[int]], rows: int) -> tuple[float, float, int]:
    """(rows/s untraced, peak traced heap MB, bytes)."""
    started = time.perf_counter()
    size = await run()
    rate = rows / (time.perf_counter() - started)
    tracemalloc.start()
    try:
        await run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return round(rate), round(peak / 1e6, 1), size


async def _bench(db_url: str, settings: Settings) -> dict[str, Any]:
    cfg = settings.exports
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        db_url, min_size=1, max_size=2, open=False, kwargs={"autocommit": True}
    )
    await pool.open(wait=True)
    out: dict[str, Any] = {}
    try:
        track = datasets.ExportParams(vehicle_id=1, since=START, until=START + timedelta(days=DAYS))
        table = datasets.ExportParams(since=START, until=START + timedelta(days=DAYS))
        cases = [
            ("track_csv", "track", "csv", track, DAYS * 86_400 // STEP_S),
            ("incidents_xlsx", "incidents", "xlsx", table, None),
        ]
        for name, kind, fmt, params, rows in cases:
            q = datasets.build(kind, fmt, params, BOOTSTRAP, cfg)
            if rows is None:
                async with pool.connection() as conn:
                    cur = await conn.execute(q.count_sql().encode(), q.params)
                    rows = int((await cur.fetchone() or (0,))[0])
            print(f"{name}: {rows:,} rows, streamed …", file=sys.stderr)
            rate, peak, size = await _measure(partial(_streamed, pool, q, fmt), rows)
            print(f"{name}: baseline (fetchall) …", file=sys.stderr)
            b_rate, b_peak, _ = await _measure(partial(_naive, pool, q, fmt), rows)
            out[name] = {
                "rows": rows,
                "bytes": size,
                "rows_per_s": rate,
                "peak_heap_mb": peak,
                "baseline_rows_per_s": b_rate,
                "baseline_peak_heap_mb": b_peak,
                "speed_vs_baseline": round(rate / b_rate, 2),
                "memory_vs_baseline": round(peak / max(b_peak, 1e-3), 3),
            }
    finally:
        await pool.close()
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker bench exports", description=__doc__)
    parser.add_argument("--incidents", type=int, default=100_000)
    opts = parser.parse_args(argv)
    settings = Settings.load()
    print(f"loading {DAYS} days of one truck at {STEP_S} s and incidents …", file=sys.stderr)
    db_url = _load(settings, opts.incidents)
    print(orjson.dumps(asyncio.run(_bench(db_url, settings))).decode())
    return 0
