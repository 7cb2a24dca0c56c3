"""The KPI rollup: each vehicle's data-quality figures per UTC hour and per UTC day.

``kpi_vehicle_hours`` holds a row per vehicle and hour with fixes, ``kpi_vehicle_days`` the
same per day (built from the hour rows once all 24 hours of the day are rolled up), and
``kpi_rollup_state`` the rolled range ``[rolled_from, rolled_to)``. A maintenance task
(``kpi-rollup``) rolls up each hour once it has ended (plus ``SETTLE`` for uploads in flight),
re-rolls the hours that ended within ``LOOKBACK`` every round, so fixes that arrive late (a
terminal leaving a blind area uploads its stored fixes) are counted from the next round on, and
backfills older hours, ``BATCH`` a round, back to ``BACKFILL`` before now. Rolling is delete and
insert of whole hours (and of the days around them) in one transaction: idempotent. Fixes
arriving more than ``LOOKBACK`` after their hour's end are missed until those hours are rolled
again (``roll``, ``roll_days``); re-rolling a fixed lookback was chosen over tracking
``received_at`` per hour because ``pings`` has no index on it.

A row keeps the steps inside its hour or day (the short ones, up to ``SHORT_STEP_S``, as a count
and a sum; each longer one with how far the truck moved over it) and its first and last fix, so
the step that crosses into it is joined at query time from the previous row's last fix: the
figures for any gap threshold ``gap_s >= SHORT_STEP_S`` and any move threshold are those of the
raw fixes. The KPI query (hour or day buckets) reads the rolled whole days and hours of its
window from here and the edges (partial hours, hours not rolled yet) live from ``pings`` with
the same SQL as the rollup.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tracker.geo import EARTH_RADIUS_M
from tracker.wire import FixFlag

log = logging.getLogger(__name__)

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
SHORT_STEP_S = 60.0  # steps up to this are kept as a count and a sum: the rollup needs gap_s >= it
HOUR = timedelta(hours=1)
SETTLE = timedelta(minutes=5)  # an hour is rolled up this long after it ended
LOOKBACK = timedelta(hours=3)  # each round re-rolls the hours that ended this recently
BATCH = timedelta(hours=6)  # at most this many hours advanced, and backfilled, per round
BACKFILL = timedelta(days=32)  # how far back the rollup reaches (the API's window is <= 31 d)
_LOCK = 0x6B70695F726F6C6C  # advisory lock: one rollup round at a time across API workers

# Per vehicle with fixes and UTC hour of [lo, hi): the hour's counts, its steps (a step is the
# time since the vehicle's previous fix in the same hour: lag over the index-ordered scan, reset
# where the hour changes) and its first and last fix. Same expressions as the raw query
# (tracker.kpi.repo) so that the float figures are the same.
_HOURS = f"""
SELECT v.id AS vehicle_id, h.*
  FROM vehicles v
 CROSS JOIN LATERAL (
    SELECT s.hour,
           count(*)::int AS fixes,
           count(*) FILTER (WHERE NOT s.valid)::int AS invalid,
           count(*) FILTER (WHERE s.flags <> 0)::int AS filtered,
           count(*) FILTER (WHERE s.flags & %(drift_flag)s <> 0)::int AS drift,
           count(*) FILTER (WHERE s.flags = 0 AND s.valid)::int AS good,
           count(s.step_s) FILTER (WHERE s.step_s <= {SHORT_STEP_S})::int AS short_steps,
           COALESCE(sum(s.step_s) FILTER (WHERE s.step_s <= {SHORT_STEP_S}), 0)::float8
               AS short_step_s,
           COALESCE(array_agg(s.step_s) FILTER (WHERE s.step_s > {SHORT_STEP_S}),
                    '{{}}')::float8[] AS long_step_s,
           COALESCE(array_agg({EARTH_RADIUS_M} * sqrt(
                        power(radians(s.lon - s.prev_lon) * cos(radians((s.lat + s.prev_lat) / 2)),
                              2)
                        + power(radians(s.lat - s.prev_lat), 2)))
                        FILTER (WHERE s.step_s > {SHORT_STEP_S}), '{{}}')::float8[] AS long_moved_m,
           min(s.fix_time) AS first_fix,
           min(s.lon) FILTER (WHERE s.step_s IS NULL) AS first_lon,
           min(s.lat) FILTER (WHERE s.step_s IS NULL) AS first_lat,
           max(s.fix_time) AS last_fix,
           min(s.lon) FILTER (WHERE s.is_last) AS last_lon,
           min(s.lat) FILTER (WHERE s.is_last) AS last_lat
      FROM (
        SELECT p.fix_time, p.valid, p.flags, p.lon, p.lat, p.hour,
               CASE WHEN lag(p.hour) OVER w = p.hour THEN p.epoch - lag(p.epoch) OVER w END
                   AS step_s,
               lag(p.lon) OVER w AS prev_lon,
               lag(p.lat) OVER w AS prev_lat,
               lead(p.hour) OVER w IS DISTINCT FROM p.hour AS is_last
          FROM (
            SELECT p.fix_time, p.valid, p.flags, p.lon, p.lat,
                   time_bucket('1 hour'::interval, p.fix_time) AS hour,
                   date_part('epoch', p.fix_time) AS epoch
              FROM pings p
             WHERE p.vehicle_id = v.id AND p.fix_time >= %(LO)s AND p.fix_time < %(HI)s
          ) p
        WINDOW w AS (ORDER BY p.fix_time)
      ) s
     GROUP BY s.hour
 ) h
 WHERE %(company)s::bigint IS NULL OR v.company_id = %(company)s
"""

_COLUMNS = (
    "vehicle_id, hour, fixes, invalid, filtered, drift, good, short_steps, short_step_s, "
    "long_step_s, long_moved_m, first_fix, first_lon, first_lat, last_fix, last_lon, last_lat"
)

_STORED = f"""
SELECT k.*
  FROM vehicles v
 CROSS JOIN LATERAL (
    SELECT {_COLUMNS} FROM TABLE k
     WHERE k.vehicle_id = v.id AND k.hour >= %(LO)s AND k.hour < %(HI)s) k
 WHERE %(company)s::bigint IS NULL OR v.company_id = %(company)s
"""

# The day rows of [lo, hi) (whole days, all their hours rolled up) from the hour rows: the step
# into each hour after the day's first is joined from the previous hour row, as _COMBINE does,
# and kept among the day's short or long steps. (kpi_vehicle_days names its day ``hour``.)
_DAYS = f"""
WITH j AS (
    SELECT k.*, time_bucket('1 day'::interval, k.hour) AS day,
           CASE WHEN lag(k.hour) OVER w >= time_bucket('1 day'::interval, k.hour)
                THEN date_part('epoch', k.first_fix) - lag(date_part('epoch', k.last_fix)) OVER w
           END AS join_s,
           {EARTH_RADIUS_M} * sqrt(
               power(radians(k.first_lon - lag(k.last_lon) OVER w)
                     * cos(radians((k.first_lat + lag(k.last_lat) OVER w) / 2)), 2)
               + power(radians(k.first_lat - lag(k.last_lat) OVER w), 2)) AS join_m,
           lead(k.hour) OVER w IS NULL
               OR lead(k.hour) OVER w >= time_bucket('1 day'::interval, k.hour) + interval '1 day'
               AS is_last
      FROM kpi_vehicle_hours k
     WHERE k.hour >= %(lo)s AND k.hour < %(hi)s
    WINDOW w AS (PARTITION BY k.vehicle_id ORDER BY k.hour)
)
SELECT j.vehicle_id, j.day, sum(j.fixes), sum(j.invalid), sum(j.filtered), sum(j.drift),
       sum(j.good),
       sum(j.short_steps) + count(*) FILTER (WHERE j.join_s <= {SHORT_STEP_S}),
       sum(j.short_step_s) + COALESCE(sum(j.join_s) FILTER (WHERE j.join_s <= {SHORT_STEP_S}), 0),
       kpi_array_cat(CASE WHEN j.join_s > {SHORT_STEP_S} THEN j.long_step_s || j.join_s
                          ELSE j.long_step_s END),
       kpi_array_cat(CASE WHEN j.join_s > {SHORT_STEP_S} THEN j.long_moved_m || j.join_m
                          ELSE j.long_moved_m END),
       min(j.first_fix),
       min(j.first_lon) FILTER (WHERE j.join_s IS NULL),
       min(j.first_lat) FILTER (WHERE j.join_s IS NULL),
       max(j.last_fix),
       min(j.last_lon) FILTER (WHERE j.is_last),
       min(j.last_lat) FILTER (WHERE j.is_last)
  FROM j
 GROUP BY j.vehicle_id, j.day
"""

DAY = timedelta(days=1)


def _stored_sql(table: str, lo: str, hi: str) -> str:
    return (
        _STORED.replace("TABLE", table)
        .replace("%(LO)s", f"%({lo})s")
        .replace("%(HI)s", f"%({hi})s")
    )


# The window's figures from its hour rows (stored and live): the step into each hour is joined
# from the vehicle's previous hour row in the window; then every step longer than SHORT_STEP_S
# (the hour's long ones and the joining one) is judged against gap_s and move_m as the raw query
# does. Needs gap_s >= SHORT_STEP_S (the short steps are then all under gap_s).
_COMBINE = f"""
WITH seg AS ({{parts}}),
j AS (
    SELECT seg.*,
           date_part('epoch', seg.first_fix) - lag(date_part('epoch', seg.last_fix)) OVER w
               AS join_s,
           {EARTH_RADIUS_M} * sqrt(
               power(radians(seg.first_lon - lag(seg.last_lon) OVER w)
                     * cos(radians((seg.first_lat + lag(seg.last_lat) OVER w) / 2)), 2)
               + power(radians(seg.first_lat - lag(seg.last_lat) OVER w), 2)) AS join_m
      FROM seg
    WINDOW w AS (PARTITION BY seg.vehicle_id ORDER BY seg.hour)
)
SELECT time_bucket(%(bucket)s::interval, j.hour) AS at,
       sum(j.fixes)::bigint AS fixes,
       sum(j.invalid)::bigint AS invalid,
       sum(j.filtered)::bigint AS filtered,
       sum(j.drift)::bigint AS drift,
       sum(j.good)::bigint AS good,
       sum(x.gaps)::bigint AS gaps,
       sum(x.gap_time_s)::float8 AS gap_time_s,
       sum(j.short_step_s + x.step_time_s + x.gap_step_s)::float8 AS tracked_s,
       sum(j.short_steps + x.steps)::bigint AS steps,
       sum(j.short_step_s + x.step_time_s)::float8 AS step_time_s,
       count(DISTINCT j.vehicle_id) AS reporting
  FROM j
 CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE l.s <= %(gap_s)s) AS steps,
           COALESCE(sum(l.s) FILTER (WHERE l.s <= %(gap_s)s), 0) AS step_time_s,
           count(*) FILTER (WHERE l.s > %(gap_s)s AND l.m > %(move_m)s) AS gaps,
           COALESCE(sum(l.s - %(gap_s)s) FILTER (WHERE l.s > %(gap_s)s AND l.m > %(move_m)s), 0)
               AS gap_time_s,
           COALESCE(sum(l.s) FILTER (WHERE l.s > %(gap_s)s AND l.m > %(move_m)s), 0)
               AS gap_step_s
      FROM unnest(j.long_step_s || j.join_s, j.long_moved_m || j.join_m) AS l(s, m)
 ) x
 GROUP BY GROUPING SETS ((), (1))
 ORDER BY 1 NULLS FIRST
"""


def floor_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    down = floor_hour(t)
    return down if down == t else down + HOUR


def floor_day(t: datetime) -> datetime:
    return floor_hour(t).replace(hour=0)


def ceil_day(t: datetime) -> datetime:
    down = floor_day(t)
    return down if down == t else down + DAY


def _hours_sql(lo: str, hi: str) -> str:
    return _HOURS.replace("%(LO)s", f"%({lo})s").replace("%(HI)s", f"%({hi})s")


async def state(conn: AConn) -> tuple[datetime, datetime] | None:
    """The rolled range ``[rolled_from, rolled_to)``, or None before the first round."""
    cur = await conn.execute(b"SELECT rolled_from, rolled_to FROM kpi_rollup_state")
    row = await cur.fetchone()
    return None if row is None else (row[0], row[1])


async def quality(
    conn: AConn,
    start: datetime,
    end: datetime,
    company: int | None,
    *,
    gap_s: float,
    move_m: float,
    bucket: str,
    rolled: tuple[datetime, datetime],
) -> list[Row]:
    """The window's data-quality rows (the total first, then per bucket; buckets of whole
    hours), from the rolled hours within ``rolled`` plus the edges live from ``pings``."""
    assert gap_s >= SHORT_STEP_S and rolled[0] < rolled[1]
    params: dict[str, Any] = {
        "from": start,
        "to": end,
        "rolled_lo": rolled[0],
        "rolled_hi": rolled[1],
        "company": company,
        "gap_s": gap_s,
        "move_m": move_m,
        "bucket": bucket,
        "drift_flag": int(FixFlag.JUMP),
    }
    parts = [_stored_sql("kpi_vehicle_hours", "rolled_lo", "rolled_hi")]
    if bucket == "1 day":  # whole days from the day rows, the hours around them from the hours'
        params["days_lo"], params["days_hi"] = ceil_day(rolled[0]), floor_day(rolled[1])
        if params["days_lo"] < params["days_hi"]:
            parts = [
                _stored_sql("kpi_vehicle_days", "days_lo", "days_hi"),
                _stored_sql("kpi_vehicle_hours", "rolled_lo", "days_lo"),
                _stored_sql("kpi_vehicle_hours", "days_hi", "rolled_hi"),
            ]
    if start < rolled[0]:
        parts.append(_hours_sql("from", "rolled_lo"))
    if rolled[1] < end:
        parts.append(_hours_sql("rolled_hi", "to"))
    query = _COMBINE.replace("{parts}", " UNION ALL ".join(f"({p})" for p in parts))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query.encode(), params)
        return await cur.fetchall()


async def roll(conn: AConn, lo: datetime, hi: datetime) -> int:
    """(Re)build the hour rows of ``[lo, hi)`` (whole hours); returns the rows written."""
    if lo >= hi:
        return 0
    params = {"lo": lo, "hi": hi, "company": None, "drift_flag": int(FixFlag.JUMP)}
    await conn.execute(
        b"DELETE FROM kpi_vehicle_hours WHERE hour >= %(lo)s AND hour < %(hi)s", params
    )
    cur = await conn.execute(
        f"INSERT INTO kpi_vehicle_hours ({_COLUMNS}) {_hours_sql('lo', 'hi')}".encode(), params
    )
    return cur.rowcount


async def roll_days(conn: AConn, lo: datetime, hi: datetime) -> int:
    """(Re)build the day rows of ``[lo, hi)`` (whole days whose hours are all rolled up)."""
    if lo >= hi:
        return 0
    params = {"lo": lo, "hi": hi}
    await conn.execute(
        b"DELETE FROM kpi_vehicle_days WHERE hour >= %(lo)s AND hour < %(hi)s", params
    )
    cur = await conn.execute(f"INSERT INTO kpi_vehicle_days ({_COLUMNS}) {_DAYS}".encode(), params)
    return cur.rowcount


async def _roll_both(
    conn: AConn, lo: datetime, hi: datetime, rolled: tuple[datetime, datetime]
) -> None:
    """Roll the hours of ``[lo, hi)``, then the whole days around them within ``rolled``."""
    if lo >= hi:
        return
    await roll(conn, lo, hi)
    days_lo = max(floor_day(lo), ceil_day(rolled[0]))
    await roll_days(conn, days_lo, min(ceil_day(hi), floor_day(rolled[1])))


async def rollup_round(
    conn: AConn, now: datetime | None = None
) -> tuple[datetime, datetime] | None:
    """One round in its own transaction: re-roll the last LOOKBACK, advance to the last settled
    hour, backfill older hours (each by at most BATCH). Returns the rolled range, or None when
    another worker's round holds the lock."""
    now = now or datetime.now(UTC)
    async with conn.transaction():
        cur = await conn.execute(b"SELECT pg_try_advisory_xact_lock(%s)", (_LOCK,))
        got = await cur.fetchone()
        if not got or not got[0]:
            return None
        await conn.execute(b"SET LOCAL jit = off")
        # a backfill round may scan many hours: longer than the pool's statement timeout
        await conn.execute(b"SET LOCAL statement_timeout = '10min'")
        settled = floor_hour(now - SETTLE)  # hours ending by then are rolled
        found = await state(conn)
        rolled_from, rolled_to = found if found else (settled, settled)
        new_to = max(rolled_to, min(settled, rolled_to + BATCH))
        oldest = floor_hour(now - BACKFILL)
        new_from = max(oldest, rolled_from - BATCH) if rolled_from > oldest else rolled_from
        rolled = (new_from, new_to)
        await _roll_both(conn, max(rolled_from, rolled_to - LOOKBACK), new_to, rolled)
        await _roll_both(conn, new_from, rolled_from, rolled)
        await conn.execute(
            b"INSERT INTO kpi_rollup_state (rolled_from, rolled_to) VALUES (%s, %s)"
            b" ON CONFLICT (id) DO UPDATE SET rolled_from = excluded.rolled_from,"
            b" rolled_to = excluded.rolled_to, rolled_at = now()",
            (new_from, new_to),
        )
    log.debug("kpi rollup: [%s, %s)", new_from, new_to)
    return new_from, new_to
