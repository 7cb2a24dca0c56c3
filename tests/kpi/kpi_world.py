"""A small fleet hour for the KPI tests (shared with the dashboard's browser test).

One hour ``[start, start + 1 h)``, lon/lat near Chengdu:

- company A: ``a1`` drives, a fix every 30 s for 30 min, then loses 10 min while moving ~4.8 km
  (one gap: 600 s, 480 s beyond the 120 s threshold), then 10 more fixes; one fix before the
  window. ``a2`` stands: a fix every 20 s for 10 min, a 2,200 s parked silence (no gap), then 5
  fixes ending 2 min before the end; 3 of its fixes are invalid, 2 flagged as jumps. ``a3`` has
  no terminal and no fix.
- company B: ``b1`` one fix 5 min before the end.
- incidents: 2 of A (``no_permit``, ``route_deviation``) and 1 of B (``no_permit``) in the window,
  1 before it; trips: 2 completed in the window (one at a yard, one elsewhere), 1 after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tracker.registry import repo
from tracker.wire import FixFlag

LAT = 30.65


@dataclass
class KpiWorld:
    start: datetime
    end: datetime
    company_a: int
    company_b: int
    vehicles: dict[str, int]


def _ping(
    vid: int, at: datetime, lon: float, *, valid: bool = True, flags: int = 0
) -> tuple[Any, ...]:
    return (vid, at, at, 1, lon, LAT, 0, valid, flags, 1)


def _incident(kind: str, vid: int, company: int, at: datetime) -> tuple[Any, ...]:
    return (f"v{vid}:{kind}:{at.timestamp()}", kind, vid, company, at, at)


def make_kpi_world(db: psycopg.Connection[Any]) -> KpiWorld:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    end = start + timedelta(hours=1)
    a = repo.ensure_company(db, "Alpha Haulage")
    b = repo.ensure_company(db, "Beta Earthworks")
    vids: dict[str, int] = {}
    for name, company in (("a1", a), ("a2", a), ("a3", a), ("b1", b)):
        vids[name] = repo.ensure_vehicle(db, f"KPI-{name}", company, 16.0)
        if name != "a3":
            repo.ensure_terminal(db, f"T-KPI-{name}", vids[name])
    s = timedelta(seconds=1)
    rows = [_ping(vids["a1"], start - 60 * s, 104.0)]
    rows += [_ping(vids["a1"], start + i * 30 * s, 104.0 + i * 0.0005) for i in range(61)]
    rows += [_ping(vids["a1"], start + (2400 + i * 30) * s, 104.08 + i * 0.0005) for i in range(10)]
    a2_times = [600 + i * 20 for i in range(31)] + [3400 + i * 20 for i in range(5)]
    for i, t in enumerate(a2_times):
        bad = {3: (False, int(FixFlag.INVALID)), 4: (False, int(FixFlag.INVALID))}
        bad |= {5: (False, int(FixFlag.INVALID)), 10: (True, int(FixFlag.JUMP))}
        bad |= {33: (True, int(FixFlag.JUMP))}
        valid, flags = bad.get(i, (True, 0))
        rows.append(_ping(vids["a2"], start + t * s, 104.2, valid=valid, flags=flags))
    rows.append(_ping(vids["b1"], end - 300 * s, 104.3))
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO pings (vehicle_id, fix_time, received_at, terminal_id, lon, lat, h3_cell,"
            " valid, flags, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        cur.executemany(
            "INSERT INTO incidents (incident_id, type, vehicle_id, company_id, opened_at,"
            " detected_at) VALUES (%s, %s, %s, %s, %s, %s)",
            [
                _incident("no_permit", vids["a1"], a, start + 100 * s),
                _incident("route_deviation", vids["a1"], a, start + 900 * s),
                _incident("no_permit", vids["b1"], b, end - 200 * s),
                _incident("no_permit", vids["b1"], b, start - 100 * s),
            ],
        )
        cur.executemany(
            "INSERT INTO trips (trip_id, vehicle_id, company_id, outcome, completed_at, volume_m3)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                ("t1", vids["a1"], a, "yard", start + 1000 * s, 15.0),
                ("t2", vids["a1"], a, "elsewhere", start + 2000 * s, 12.5),
                ("t3", vids["b1"], b, "yard", end + 10 * s, 16.0),
            ],
        )
    return KpiWorld(start, end, a, b, vids)
