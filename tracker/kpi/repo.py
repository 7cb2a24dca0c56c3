"""The KPI queries: fleet (install and online rates), data quality of the fixes, incidents, trips.

Every query is bounded in time. ``pings`` has no time index (one covering unique index on
``(vehicle_id, fix_time DESC)``), so the data-quality query walks it vehicle by vehicle: each
vehicle is one index-only range scan of the window, already in time order, so the steps
between consecutive fixes (``lag``) come without a sort, and chunks outside the window are
never opened. Windows with hour or day buckets read their rolled-up whole hours and days from
the rollup instead (tracker.kpi.rollup), with the same figures.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tracker.geo import EARTH_RADIUS_M
from tracker.kpi import rollup
from tracker.wire import FixFlag

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]

_FLEET = """
SELECT count(*) AS registered,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM terminals t WHERE t.vehicle_id = v.id AND t.active)) AS with_terminal,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM pings p
            WHERE p.vehicle_id = v.id
              AND p.fix_time > %(online_since)s AND p.fix_time <= %(to)s)) AS online
  FROM vehicles v
 WHERE v.active AND (%(company)s::bigint IS NULL OR v.company_id = %(company)s)
"""

# Per vehicle (one index-only range scan, in time order) and time bucket, then summed. The step
# of a fix is the time since the vehicle's previous fix in the window. A gap is a step longer
# than gap_s over which the truck moved more than move_m: a hole in its track. A longer
# silence without moving is a parked truck (terminals sleep), neither gap nor tracked time.
_QUALITY = f"""
SELECT b.at,
       sum(b.fixes)::bigint AS fixes,
       sum(b.invalid)::bigint AS invalid,
       sum(b.filtered)::bigint AS filtered,
       sum(b.drift)::bigint AS drift,
       sum(b.good)::bigint AS good,
       sum(b.gaps)::bigint AS gaps,
       sum(b.gap_time_s)::float8 AS gap_time_s,
       sum(b.tracked_s)::float8 AS tracked_s,
       sum(b.steps)::bigint AS steps,
       sum(b.step_time_s)::float8 AS step_time_s
  FROM vehicles v
 CROSS JOIN LATERAL (
    SELECT time_bucket(%(bucket)s::interval, m.fix_time) AS at,
           count(*) AS fixes,
           count(*) FILTER (WHERE NOT m.valid) AS invalid,
           count(*) FILTER (WHERE m.flags <> 0) AS filtered,
           count(*) FILTER (WHERE m.flags & %(drift_flag)s <> 0) AS drift,
           count(*) FILTER (WHERE m.flags = 0 AND m.valid) AS good,
           count(*) FILTER (WHERE m.moved_m > %(move_m)s) AS gaps,
           COALESCE(sum(m.step_s - %(gap_s)s) FILTER (WHERE m.moved_m > %(move_m)s), 0)
               AS gap_time_s,
           COALESCE(sum(m.step_s) FILTER (WHERE m.step_s <= %(gap_s)s
                                           OR m.moved_m > %(move_m)s), 0) AS tracked_s,
           count(m.step_s) FILTER (WHERE m.step_s <= %(gap_s)s) AS steps,
           COALESCE(sum(m.step_s) FILTER (WHERE m.step_s <= %(gap_s)s), 0) AS step_time_s
      FROM (
        SELECT s.fix_time, s.valid, s.flags, s.step_s,
               -- how far the truck moved over a long step (rare: its previous fix is looked up
               -- only then; equirectangular, the distances are short)
               CASE WHEN s.step_s > %(gap_s)s THEN (
                   SELECT {EARTH_RADIUS_M} * sqrt(
                       power(radians(s.lon - q.lon) * cos(radians((s.lat + q.lat) / 2)), 2)
                       + power(radians(s.lat - q.lat), 2))
                     FROM pings q
                    WHERE q.vehicle_id = v.id AND q.fix_time < s.fix_time
                      AND q.fix_time >= %(from)s
                    ORDER BY q.fix_time DESC LIMIT 1) END AS moved_m
          FROM (
            -- one lag over epoch seconds as float8 (extract() would be numeric: slower)
            SELECT p.fix_time, p.valid, p.flags, p.lon, p.lat,
                   date_part('epoch', p.fix_time)
                       - lag(date_part('epoch', p.fix_time)) OVER (ORDER BY p.fix_time) AS step_s
              FROM pings p
             WHERE p.vehicle_id = v.id AND p.fix_time >= %(from)s AND p.fix_time < %(to)s
          ) s
      ) m
     GROUP BY 1
 ) b
 WHERE %(company)s::bigint IS NULL OR v.company_id = %(company)s
 GROUP BY GROUPING SETS ((), (b.at))
 ORDER BY b.at NULLS FIRST
"""

_REPORTING = """
SELECT count(*) AS reporting
  FROM vehicles v
 WHERE (%(company)s::bigint IS NULL OR v.company_id = %(company)s)
   AND EXISTS (SELECT 1 FROM pings p
                WHERE p.vehicle_id = v.id AND p.fix_time >= %(from)s AND p.fix_time < %(to)s)
"""

_INCIDENTS_BY_TYPE = """
SELECT type, count(*) AS count
  FROM incidents
 WHERE opened_at >= %(from)s AND opened_at < %(to)s
   AND (%(company)s::bigint IS NULL OR company_id = %(company)s)
 GROUP BY type
 ORDER BY count(*) DESC, type
"""

_INCIDENTS_BY_COMPANY = """
SELECT i.company_id, c.name, count(*) AS count
  FROM incidents i
  LEFT JOIN companies c ON c.id = i.company_id
 WHERE i.opened_at >= %(from)s AND i.opened_at < %(to)s
   AND (%(company)s::bigint IS NULL OR i.company_id = %(company)s)
 GROUP BY i.company_id, c.name
 ORDER BY count(*) DESC, i.company_id NULLS LAST
"""

_TRIPS = """
SELECT count(*) AS completed,
       count(*) FILTER (WHERE outcome = 'yard') AS to_yard,
       count(*) FILTER (WHERE outcome IS DISTINCT FROM 'yard') AS elsewhere,
       COALESCE(sum(volume_m3), 0)::float8 AS volume_m3
  FROM trips
 WHERE completed_at >= %(from)s AND completed_at < %(to)s
   AND (%(company)s::bigint IS NULL OR company_id = %(company)s)
"""


async def prepare(conn: AConn, statement_timeout_ms: int) -> None:
    """Session settings of the KPI transaction. JIT is off: its compile time (0.3-0.6 s here)
    exceeds what it saves on these scans."""
    await conn.execute(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}".encode())
    await conn.execute(b"SET LOCAL jit = off")


async def _rows(conn: AConn, query: str, params: dict[str, Any]) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query.encode(), params)
        return await cur.fetchall()


async def fleet(conn: AConn, to: datetime, online_since: datetime, company: int | None) -> Row:
    params = {"to": to, "online_since": online_since, "company": company}
    return (await _rows(conn, _FLEET, params))[0]


async def quality(
    conn: AConn,
    start: datetime,
    end: datetime,
    company: int | None,
    *,
    gap_s: float,
    move_m: float,
    bucket: str,
    use_rollup: bool = True,
) -> tuple[Row, list[Row]]:
    """The whole window's figures and the same per time bucket (``bucket``: an interval).

    Buckets of whole hours with ``gap_s >= rollup.SHORT_STEP_S`` read the window's rolled-up
    hours from ``kpi_vehicle_hours`` and only its edges from ``pings`` (same figures); otherwise,
    or with ``use_rollup=False``, everything comes from ``pings``. ``total["rollup_hours"]``:
    the hours read from the rollup."""
    if use_rollup and bucket in ("1 hour", "1 day") and gap_s >= rollup.SHORT_STEP_S:
        rolled = await _rolled_quality(conn, start, end, company, gap_s, move_m, bucket)
        if rolled is not None:
            return rolled
    params = {
        "from": start,
        "to": end,
        "company": company,
        "gap_s": gap_s,
        "move_m": move_m,
        "bucket": bucket,
        "drift_flag": int(FixFlag.JUMP),
    }
    rows = await _rows(conn, _QUALITY, params)
    total = next((r for r in rows if r["at"] is None), None)
    buckets = [r for r in rows if r["at"] is not None]
    if total is None:  # no fix at all: GROUPING SETS still yields the () row, but be safe
        total = {"fixes": 0}
    reporting = await _rows(conn, _REPORTING, params)
    total["reporting"] = reporting[0]["reporting"]
    total["rollup_hours"] = 0
    return total, buckets


async def _rolled_quality(
    conn: AConn, start: datetime, end: datetime, company: int | None, gap_s: float,
    move_m: float, bucket: str,
) -> tuple[Row, list[Row]] | None:  # fmt: skip
    """``quality`` from the rollup, or None when no whole hour of the window is rolled up."""
    rolled = await rollup.state(conn)
    if rolled is None:
        return None
    lo = max(rollup.ceil_hour(start), rolled[0])
    hi = min(rollup.floor_hour(end), rolled[1])
    if lo >= hi:
        return None
    rows = await rollup.quality(
        conn, start, end, company, gap_s=gap_s, move_m=move_m, bucket=bucket, rolled=(lo, hi)
    )
    total: Row = next((r for r in rows if r["at"] is None), {"fixes": 0, "reporting": 0})
    total["rollup_hours"] = int((hi - lo) / rollup.HOUR)
    return total, [r for r in rows if r["at"] is not None]


async def incidents(
    conn: AConn, start: datetime, end: datetime, company: int | None
) -> tuple[list[Row], list[Row]]:
    params = {"from": start, "to": end, "company": company}
    by_type = await _rows(conn, _INCIDENTS_BY_TYPE, params)
    by_company = await _rows(conn, _INCIDENTS_BY_COMPANY, params)
    return by_type, by_company


async def trips(conn: AConn, start: datetime, end: datetime, company: int | None) -> Row:
    params = {"from": start, "to": end, "company": company}
    return (await _rows(conn, _TRIPS, params))[0]
