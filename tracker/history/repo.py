"""Track and latest-position queries against ``pings``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from tracker.wire import STREAM_COLUMNS, STREAM_SELECT, Fix, fix_from_row

# The columns the covering index holds (a track from these is an index-only scan) …
_COVERED = (
    "fix_time, lon, lat, speed_kmh, heading_deg, valid, ignition, loaded, body_lifted, "
    "cover_closed, flags"
)
# … and the rest of what a stream row carries, read from the heap when a caller asks for detail.
_DETAIL = ", ".join(
    c.name
    for c in STREAM_COLUMNS
    if c.name not in _COVERED.split(", ") and c.name not in ("vehicle_id", "source")
)
_FIELDS = f"{_COVERED}, {_DETAIL}"
AConn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True, slots=True)
class TrackQuery:
    vehicle_id: int
    start: datetime
    end: datetime
    after: datetime | None = None  # pagination cursor: fixes strictly after this time
    interval_s: int | None = None  # downsample: the first fix of each interval
    include_flagged: bool = False
    limit: int = 5000
    detail: bool = False


def track_columns(detail: bool) -> tuple[str, ...]:
    return tuple(c.strip() for c in (_FIELDS if detail else _COVERED).split(","))


async def track(conn: AConn, q: TrackQuery) -> list[tuple[Any, ...]]:
    """Rows in ``track_columns(q.detail)`` order (binary transfer and tuples: long tracks)."""
    fields = _FIELDS if q.detail else _COVERED
    where = ["vehicle_id = %(vehicle_id)s", "fix_time >= %(start)s", "fix_time < %(end)s"]
    params: dict[str, Any] = {
        "vehicle_id": q.vehicle_id,
        "start": q.start,
        "end": q.end,
        "limit": q.limit,
        "interval_s": q.interval_s,
    }
    if q.after is not None:
        where.append("fix_time > %(after)s")
        params["after"] = q.after
    if not q.include_flagged:
        where.append("flags = 0")
    cond = " AND ".join(where)
    if q.interval_s:
        bucket = (
            "time_bucket(make_interval(secs => %(interval_s)s), fix_time, %(start)s::timestamptz)"
        )
        sql = (
            f"SELECT DISTINCT ON ({bucket}) {fields} FROM pings WHERE {cond} "
            f"ORDER BY {bucket}, fix_time LIMIT %(limit)s"
        )
    else:
        sql = f"SELECT {fields} FROM pings WHERE {cond} ORDER BY fix_time LIMIT %(limit)s"
    async with conn.cursor(binary=True) as cur:
        await cur.execute(sql.encode(), params)
        return await cur.fetchall()


async def latest_from_db(conn: AConn, since: datetime) -> list[Fix]:
    """Newest unflagged fix per registered vehicle since a time (one index probe per vehicle),
    read as a stream row and decoded by the wire."""
    sql = f"""SELECT p.* FROM vehicles v CROSS JOIN LATERAL (
                SELECT {STREAM_SELECT} FROM pings
                 WHERE vehicle_id = v.id AND fix_time >= %s AND flags = 0
                 ORDER BY fix_time DESC LIMIT 1) p"""
    cur = await conn.execute(sql.encode(), (since,))
    return [fix_from_row(row) for row in await cur.fetchall()]
