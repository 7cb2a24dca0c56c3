"""KPI benchmark: the dashboard's queries over a day of a fleet's fixes.

Builds a scratch database (``tracker_bench_kpi``), registers ``--vehicles`` trucks with
terminals and generates, server-side, one fix every ``--interval-s`` per truck for ``--hours``
hours ending now (about 1 % invalid, 1 % flagged as jumps, a 10 min tunnel gap per truck every
few hours, 300 incidents and 2,000 trips), then vacuums and analyses as autovacuum would. Each
KPI request of ``GET /api/v1/kpi`` is then run as the API runs it (the same SQL, one
connection), ``--repeat`` times per window (1 h and 24 h), and the median time kept.

Then the hours are rolled up as the API's task does (``tracker.kpi.rollup``: ``rollup_s``) and
the 24 h request timed again reading the rollup plus the live edges (``kpi_24h_rollup_ms``).

Run as ``python -m tracker.bench.kpi``. Last line: one JSON object with ``rows``,
``kpi_1h_ms``, ``kpi_24h_ms`` (raw), ``kpi_24h_rollup_ms`` and ``kpi_24h_speedup``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tracker.bench.common import scratch_database
from tracker.kpi import repo, rollup
from tracker.settings import Settings

DB_NAME = "tracker_bench_kpi"

_FLEET = """
INSERT INTO companies (name) SELECT 'Bench Co ' || c FROM generate_series(1, 20) c;
INSERT INTO vehicles (plate, company_id, rated_volume_m3)
SELECT 'BENCH-' || v, (SELECT min(id) FROM companies) + v %% 20, 16
  FROM generate_series(1, %(vehicles)s) v;
INSERT INTO terminals (identity, vehicle_id) SELECT 'T-' || id, id FROM vehicles;
"""

# A truck drives east-west and back at ~40 km/h; its fix every interval, except during a 10 min
# tunnel every 4 h (phase per truck); about 1 % invalid and 1 % jumps.
_PINGS = """
INSERT INTO pings (vehicle_id, fix_time, received_at, terminal_id, lon, lat, h3_cell, valid,
                   flags, source, speed_kmh)
SELECT v.id, t, t + interval '2 s', v.id,
       104.0 + 0.05 * sin(extract(epoch FROM t) / 600.0 + v.id), 30.6 + (v.id %% 100) * 0.002,
       0, r >= 10, CASE WHEN r < 10 THEN 8 WHEN r < 20 THEN 16 ELSE 0 END, 1, 40
  FROM vehicles v
 CROSS JOIN LATERAL generate_series(%(start)s::timestamptz + (v.id %% 30) * interval '1 s',
                                    %(end)s::timestamptz, %(step)s::interval) t
 CROSS JOIN LATERAL (SELECT (v.id * 7919 + extract(epoch FROM t)::bigint / 30) %% 1000 AS r) x
 WHERE (extract(epoch FROM t)::bigint + v.id * 977) %% 14400 >= 600
"""

_EVENTS = """
INSERT INTO incidents (incident_id, type, vehicle_id, company_id, opened_at, detected_at)
SELECT 'bench-' || i,
       (ARRAY['no_permit', 'route_deviation', 'speeding', 'illegal_dumping'])[1 + i %% 4],
       v.id, v.company_id, %(end)s::timestamptz - i * interval '4 min',
       %(end)s::timestamptz - i * interval '4 min'
  FROM generate_series(1, 300) i JOIN vehicles v ON v.id = 1 + i %% %(vehicles)s;
INSERT INTO trips (trip_id, vehicle_id, company_id, outcome, completed_at, volume_m3)
SELECT 'bench-' || i, v.id, v.company_id, CASE WHEN i %% 10 = 0 THEN 'elsewhere' ELSE 'yard' END,
       %(end)s::timestamptz - i * interval '40 s', 15
  FROM generate_series(1, 2000) i JOIN vehicles v ON v.id = 1 + i %% %(vehicles)s;
"""


def build(url: str, vehicles: int, hours: float, interval_s: float, end: datetime) -> int:
    params: dict[str, Any] = {
        "vehicles": vehicles,
        "start": end - timedelta(hours=hours),
        "end": end,
        "step": timedelta(seconds=interval_s),
    }
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in (_FLEET, _EVENTS):
            for part in statement.split(";"):
                if part.strip():
                    conn.execute(part.encode(), params)
        conn.execute(_PINGS.encode(), params)
        conn.execute("VACUUM ANALYZE pings")
        conn.execute("VACUUM ANALYZE")
        row = conn.execute("SELECT count(*) FROM pings").fetchone()
    return int(row[0]) if row else 0


async def one_kpi(url: str, start: datetime, end: datetime, use_rollup: bool) -> float:
    """The queries of one ``GET /api/v1/kpi`` (as the API runs them): milliseconds."""
    async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
        await repo.prepare(conn, 600_000)
        started = time.perf_counter()
        await repo.fleet(conn, end, end - timedelta(minutes=10), None)
        await repo.quality(
            conn, start, end, None, gap_s=120, move_m=200, bucket="1 hour", use_rollup=use_rollup
        )
        await repo.incidents(conn, start, end, None)
        await repo.trips(conn, start, end, None)
        return (time.perf_counter() - started) * 1000


async def roll_up(url: str, now: datetime, oldest: datetime) -> tuple[datetime, datetime]:
    """Rollup rounds as the API's task runs them at ``now``, until ``oldest`` is rolled."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            got = await rollup.rollup_round(conn, now)
            if got is None or got[0] <= oldest:
                break
    assert got is not None
    return got


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracker.bench.kpi", description=__doc__)
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--interval-s", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    settings = Settings.load()
    url = scratch_database(settings, DB_NAME)
    end = datetime.now(UTC)
    built = time.perf_counter()
    rows = build(url, args.vehicles, args.hours, args.interval_s, end)
    build_s = time.perf_counter() - built
    figures: dict[str, Any] = {
        "vehicles": args.vehicles,
        "rows": rows,
        "interval_s": args.interval_s,
        "build_s": round(build_s, 1),
    }
    for label, span in (("1h", timedelta(hours=1)), ("24h", timedelta(hours=24))):
        times = [asyncio.run(one_kpi(url, end - span, end, False)) for _ in range(args.repeat)]
        figures[f"kpi_{label}_ms"] = round(statistics.median(times), 1)
        print(f"kpi {label} raw: {', '.join(f'{t:.0f} ms' for t in times)}")
    rolled = time.perf_counter()
    rolled_from, rolled_to = asyncio.run(roll_up(url, end, end - timedelta(hours=args.hours)))
    figures["rollup_s"] = round(time.perf_counter() - rolled, 1)
    figures["rolled_h"] = int((rolled_to - rolled_from).total_seconds() // 3600)
    span = timedelta(hours=24)
    times = [asyncio.run(one_kpi(url, end - span, end, True)) for _ in range(args.repeat)]
    figures["kpi_24h_rollup_ms"] = round(statistics.median(times), 1)
    print(f"kpi 24h rollup: {', '.join(f'{t:.0f} ms' for t in times)}")
    figures["kpi_24h_speedup"] = round(figures["kpi_24h_ms"] / figures["kpi_24h_rollup_ms"], 1)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
