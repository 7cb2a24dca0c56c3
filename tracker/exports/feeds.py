"""Department feeds: share grants and the pages a department pulls with an opaque cursor.

A grant (admin-made, audited) binds a department account to kinds (positions, incidents, trips)
and a scope: companies and/or vehicles (either), and/or a bbox (and). Pages come in order and a
row is never skipped nor repeated across pages:

- incidents and trips page by commit order: ``feed_stamps`` (migration 0016) holds each row's
  (transaction id, sequence) of its last insert or update; a page serves stamps below the
  oldest running transaction only (``pg_snapshot_xmin``, read in the page's REPEATABLE READ
  snapshot), so a transaction that commits later can only add stamps above the cursor. A row
  changed again is served again, as its new version.
- positions page by (time bucket, vehicle): the first fix of each vehicle in each
  ``position_interval_s`` bucket, for buckets that ended ``exports.feed_settle_s`` ago (a fix
  stored later than that is in the exports, not in the feed). A page reads at most one day of
  buckets; an empty page still moves the cursor on.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, Field, model_validator

from tracker.errors import BadRequest

FeedKind = Literal["positions", "incidents", "trips"]
AConn = AsyncConnection[Any]
POSITION_WINDOW = timedelta(days=1)
GRANT_COLS = (
    "id, department, user_id, kinds, company_ids, vehicle_ids, bbox, position_interval_s,"
    " daily_files, active, created_by, created_at"
)


class GrantIn(BaseModel):
    department: str = Field(min_length=1, max_length=200)
    user_id: int = Field(ge=1, le=2**62)
    kinds: list[FeedKind] = Field(min_length=1, max_length=3)
    company_ids: list[int] = Field(default=[], max_length=1000)
    vehicle_ids: list[int] = Field(default=[], max_length=10_000)
    bbox: tuple[float, float, float, float] | None = None  # min_lon, min_lat, max_lon, max_lat
    position_interval_s: int = Field(default=30, ge=1, le=86_400)
    daily_files: bool = True

    @model_validator(mode="after")
    def _scoped(self) -> GrantIn:
        if not (self.company_ids or self.vehicle_ids or self.bbox):
            raise ValueError("a grant needs a scope: company_ids, vehicle_ids or bbox")
        if self.bbox is not None:
            x0, y0, x1, y1 = self.bbox
            if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
                raise ValueError("bbox is min_lon,min_lat,max_lon,max_lat, in range and order")
        if "trips" in self.kinds and not (self.company_ids or self.vehicle_ids):
            raise ValueError("trips have no position: their scope is companies or vehicles")
        return self


@dataclass(frozen=True, slots=True)
class Grant:
    id: int
    department: str
    user_id: int
    kinds: list[str]
    company_ids: list[int]
    vehicle_ids: list[int]
    bbox: list[float] | None
    position_interval_s: int
    daily_files: bool
    active: bool
    created_by: str
    created_at: datetime

    def scope_sql(self, vehicle: str, lon: str | None, lat: str | None) -> str:
        """The grant's scope over a query's vehicle id, company (``v.company_id``) and point;
        its parameters are :meth:`scope_params`."""
        clauses = []
        if self.company_ids or self.vehicle_ids:
            clauses.append(
                f"({vehicle} = ANY(%(g_vehicles)s) OR v.company_id = ANY(%(g_companies)s))"
            )
        if self.bbox is not None:
            if lon is None or lat is None:
                clauses.append("false")
            else:
                clauses.append(
                    f"{lon} BETWEEN %(g_x0)s AND %(g_x1)s AND {lat} BETWEEN %(g_y0)s AND %(g_y1)s"
                )
        return " AND ".join(clauses) or "true"

    def scope_params(self) -> dict[str, Any]:
        x0, y0, x1, y1 = self.bbox or (0.0, 0.0, 0.0, 0.0)
        return {
            "g_vehicles": self.vehicle_ids,
            "g_companies": self.company_ids,
            "g_x0": x0,
            "g_y0": y0,
            "g_x1": x1,
            "g_y1": y1,
        }


async def create_grant(conn: AConn, body: GrantIn, by: str) -> Grant:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT role FROM users WHERE id = %s AND active", (body.user_id,))
        user = await cur.fetchone()
        if user is None or user["role"] != "department":
            raise BadRequest("user_id must be an active department account", field="user_id")
        await cur.execute(
            f"""INSERT INTO share_grants (department, user_id, kinds, company_ids, vehicle_ids,
                                          bbox, position_interval_s, daily_files, created_by)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {GRANT_COLS}""".encode(),
            (
                body.department,
                body.user_id,
                list(body.kinds),
                body.company_ids,
                body.vehicle_ids,
                None if body.bbox is None else list(body.bbox),
                body.position_interval_s,
                body.daily_files,
                by,
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return Grant(**row)


async def grants(
    conn: AConn, *, user_id: int | None = None, active_only: bool = False
) -> list[Grant]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {GRANT_COLS} FROM share_grants
                 WHERE (%(u)s::bigint IS NULL OR user_id = %(u)s) AND (active OR NOT %(a)s)
                 ORDER BY id""".encode(),
            {"u": user_id, "a": active_only},
        )
        return [Grant(**r) for r in await cur.fetchall()]


async def grant(conn: AConn, grant_id: int) -> Grant | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {GRANT_COLS} FROM share_grants WHERE id = %s".encode(), (grant_id,)
        )
        row = await cur.fetchone()
    return None if row is None else Grant(**row)


async def end_grant(conn: AConn, grant_id: int) -> Grant | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"UPDATE share_grants SET active = false WHERE id = %s RETURNING {GRANT_COLS}".encode(),
            (grant_id,),
        )
        row = await cur.fetchone()
    return None if row is None else Grant(**row)


# --- cursors ---------------------------------------------------------------------------------


def encode_cursor(grant_id: int, kind: str, a: str | int, b: int) -> str:
    raw = orjson.dumps({"g": grant_id, "k": kind, "a": a, "b": b})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, grant_id: int, kind: str) -> tuple[str | int, int]:
    bad = BadRequest("not a cursor of this feed", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("g") != grant_id or data.get("k") != kind:
        raise bad
    a, b = data.get("a"), data.get("b")
    if not isinstance(b, int) or isinstance(b, bool) or not 0 <= b < 2**63:
        raise bad
    if kind == "positions":
        if not isinstance(a, int) or isinstance(a, bool) or not 0 <= a < 2**40:
            raise bad
    elif not (isinstance(a, str) and a.isdigit() and len(a) <= 20):
        raise bad
    return a, b


# --- pages ------------------------------------------------------------------------------------

_ROWS = {
    "incidents": (
        "i.incident_id, i.type, i.vehicle_id, v.plate, v.company_id, i.permit_id, i.trip_id,"
        " i.severity, i.status, i.opened_at, i.detected_at, i.ended_at, i.closed_at, i.late,"
        " i.lon, i.lat, i.detail, i.updated_at",
        "JOIN incidents i ON i.incident_id = s.key LEFT JOIN vehicles v ON v.id = i.vehicle_id",
        "incident",
        ("i.vehicle_id", "i.lon", "i.lat"),
    ),
    "trips": (
        "t.trip_id, t.vehicle_id, v.plate, v.company_id, t.permit_id, t.origin_id, t.yard_id,"
        " t.loading_at, t.departed_at, t.arrived_at, t.completed_at, t.volume_m3,"
        " t.volume_source, t.outcome, t.late, t.updated_at",
        "JOIN trips t ON t.trip_id = s.key LEFT JOIN vehicles v ON v.id = t.vehicle_id",
        "trip",
        ("t.vehicle_id", None, None),
    ),
}


async def stamped_page(
    conn: AConn, g: Grant, kind: str, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str, bool]:
    """A page of incidents or trips in commit order: (rows, next cursor, more to come now)."""
    xid, seq = ("0", 0) if cursor is None else decode_cursor(cursor, g.id, kind)
    cols, join, entity, (vehicle, lon, lat) = _ROWS[kind]
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # one snapshot for the horizon and the page
        await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        await cur.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS h")
        horizon = (await cur.fetchone() or {"h": "0"})["h"]
        await cur.execute(
            f"""SELECT s.xid::text AS feed_xid, s.seq AS feed_seq, {cols}
                  FROM feed_stamps s {join}
                 WHERE s.entity = %(entity)s AND (s.xid, s.seq) > (%(x)s::xid8, %(s)s)
                   AND s.xid < %(h)s::xid8 AND {g.scope_sql(vehicle, lon, lat)}
                 ORDER BY s.xid, s.seq LIMIT %(limit)s""".encode(),
            {"entity": entity, "x": xid, "s": seq, "h": horizon, "limit": limit,
             **g.scope_params()},
        )  # fmt: skip
        rows = await cur.fetchall()
    if len(rows) == limit:
        last = rows[-1]
        nxt = encode_cursor(g.id, kind, last["feed_xid"], last["feed_seq"])
        return _strip(rows), nxt, True
    # all of the grant's rows below the horizon are served: the next page starts at it
    return _strip(rows), encode_cursor(g.id, kind, horizon, 0), False


def _strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in rows:
        del r["feed_xid"], r["feed_seq"]
    return rows


async def positions_page(
    conn: AConn,
    g: Grant,
    cursor: str | None,
    start: datetime,
    limit: int,
    settle_s: float,
) -> tuple[list[dict[str, Any]], str, bool]:
    """A page of positions at the grant's rate: (rows, next cursor, more to come now)."""
    step = g.position_interval_s
    if cursor is None:
        bucket, vehicle_after = int(start.timestamp()) // step * step, 0
    else:
        a, vehicle_after = decode_cursor(cursor, g.id, "positions")
        bucket = int(a)
    now_s = datetime.now(UTC).timestamp()
    horizon = int(now_s - settle_s) // step * step  # buckets before it have ended and settled
    window_end = min(horizon, bucket + int(POSITION_WINDOW.total_seconds()))
    if window_end <= bucket:
        return [], encode_cursor(g.id, "positions", bucket, vehicle_after), False
    b = "(floor(extract(epoch FROM p.fix_time) / %(step)s) * %(step)s)::bigint"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT DISTINCT ON ({b}, p.vehicle_id) {b} AS bucket, p.vehicle_id, v.plate,
                       v.company_id, p.fix_time, p.lon, p.lat, p.speed_kmh, p.heading_deg,
                       p.loaded, p.body_lifted, p.cover_closed
                  FROM pings p JOIN vehicles v ON v.id = p.vehicle_id
                 WHERE p.fix_time >= to_timestamp(%(lo)s) AND p.fix_time < to_timestamp(%(hi)s)
                   AND p.flags = 0 AND ({b}, p.vehicle_id) > (%(lo)s, %(after)s)
                   AND {g.scope_sql("p.vehicle_id", "p.lon", "p.lat")}
                 ORDER BY {b}, p.vehicle_id, p.fix_time LIMIT %(limit)s""".encode(),
            {"step": step, "lo": bucket, "hi": window_end, "after": vehicle_after,
             "limit": limit, **g.scope_params()},
        )  # fmt: skip
        rows = await cur.fetchall()
    if len(rows) == limit:
        last = rows[-1]
        nxt = encode_cursor(g.id, "positions", int(last["bucket"]), int(last["vehicle_id"]))
        more = True
    else:
        nxt = encode_cursor(g.id, "positions", window_end, 0)
        more = window_end < horizon
    for r in rows:
        del r["bucket"]
    return rows, nxt, more
