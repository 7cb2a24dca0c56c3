"""The engine's SQL: effects (incidents, trips) and checkpoints, written in one transaction per
batch; the commit-log reads that give the engine every stored fix, and its lag. Upserts key on
the core's deterministic ids, so even a replay that got past the checkpoint could not double an
incident or a trip."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from psycopg import AsyncConnection, AsyncCursor
from psycopg.types.json import Jsonb

from tracker.trips.core.events import (
    Event,
    IncidentClosed,
    IncidentOpened,
    IncidentRetracted,
    IncidentUpdated,
    IncidentView,
    TripStarted,
)
from tracker.trips.core.state import EvidencePoint, VehicleState, from_us
from tracker.wire import STREAM_SELECT


@dataclass(frozen=True, slots=True)
class _Upsert:
    """An upsert of many rows: pipelined ``executemany`` for a few, and for more a ``COPY`` into
    a temporary table followed by one ``INSERT ... SELECT`` (one statement instead of one per
    row: several times less work for the server at the engine's batch sizes). Rows must not
    repeat a key within one call (``ON CONFLICT DO UPDATE`` cannot touch a row twice)."""

    table: str
    columns: tuple[str, ...]
    conflict: str

    def values_sql(self) -> str:
        cols = ", ".join(self.columns)
        marks = ", ".join(["%s"] * len(self.columns))
        return f"INSERT INTO {self.table} ({cols}) VALUES ({marks}) {self.conflict}"

    async def run(self, cur: AsyncCursor[Any], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if len(rows) < STAGE_MIN_ROWS:
            await cur.executemany(self.values_sql(), rows)
            return
        stage, cols = f"{self.table}_stage", ", ".join(self.columns)
        await cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {self.table} INCLUDING DEFAULTS)"
        )
        await cur.execute(f"TRUNCATE {stage}")
        async with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)
        await cur.execute(
            f"INSERT INTO {self.table} ({cols}) SELECT {cols} FROM {stage} {self.conflict}"
        )


STAGE_MIN_ROWS = 64  # from this many rows on, an upsert goes through a staging table

_INCIDENT_COLUMNS = (
    "incident_id", "type", "vehicle_id", "company_id", "permit_id", "trip_id", "severity",
    "opened_at", "detected_at", "ended_at", "late", "lon", "lat", "detail", "evidence",
)  # fmt: skip
_INCIDENT = _Upsert(
    "incidents",
    _INCIDENT_COLUMNS,
    """ON CONFLICT (incident_id) DO UPDATE SET
    severity = EXCLUDED.severity, trip_id = EXCLUDED.trip_id, permit_id = EXCLUDED.permit_id,
    detail = EXCLUDED.detail, evidence = EXCLUDED.evidence,
    ended_at = coalesce(EXCLUDED.ended_at, incidents.ended_at), updated_at = now()""",
)

_TRIP_STARTED = _Upsert(
    "trips",
    ("trip_id", "vehicle_id", "company_id", "permit_id", "origin_id", "loading_at", "late"),
    "ON CONFLICT (trip_id) DO NOTHING",
)

_TRIP_COMPLETED = _Upsert(
    "trips",
    ("trip_id", "vehicle_id", "company_id", "permit_id", "origin_id", "yard_id", "loading_at",
     "departed_at", "arrived_at", "completed_at", "volume_m3", "volume_source", "outcome",
     "late"),
    """ON CONFLICT (trip_id) DO UPDATE SET
    permit_id = EXCLUDED.permit_id, origin_id = EXCLUDED.origin_id, yard_id = EXCLUDED.yard_id,
    departed_at = EXCLUDED.departed_at, arrived_at = EXCLUDED.arrived_at,
    completed_at = EXCLUDED.completed_at, volume_m3 = EXCLUDED.volume_m3,
    volume_source = EXCLUDED.volume_source, outcome = EXCLUDED.outcome, updated_at = now()""",
)  # fmt: skip

_CHECKPOINT = _Upsert(
    "engine_checkpoints",
    ("vehicle_id", "shard", "state", "stream_id", "last_fix_at"),
    """ON CONFLICT (vehicle_id) DO UPDATE SET
    shard = EXCLUDED.shard, state = EXCLUDED.state, stream_id = EXCLUDED.stream_id,
    last_fix_at = EXCLUDED.last_fix_at, updated_at = now()""",
)

_RETRACT = """
UPDATE incidents SET detail = detail || %s, updated_at = now() WHERE incident_id = %s
"""

_POSITION = """
INSERT INTO engine_shards (shard, stream_id) VALUES (%s, %s)
ON CONFLICT (shard) DO UPDATE SET stream_id = EXCLUDED.stream_id, updated_at = now()
"""

# The stream position with the commit-log watermark and the rows processed above it.
_POSITION_MARK = """
INSERT INTO engine_shards (shard, stream_id, commit_xid, commit_done_seqs, commit_done_xids)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (shard) DO UPDATE SET stream_id = EXCLUDED.stream_id,
    commit_xid = EXCLUDED.commit_xid, commit_done_seqs = EXCLUDED.commit_done_seqs,
    commit_done_xids = EXCLUDED.commit_done_xids, updated_at = now()
"""

# One vehicle's stored fixes in a fix-time range (the rewind's window), same columns.
_WINDOW = f"""
SELECT {STREAM_SELECT}
FROM pings
WHERE vehicle_id = %s AND fix_time > %s AND fix_time <= %s
ORDER BY vehicle_id, fix_time
"""


def evidence_geojson(points: Iterable[EvidencePoint]) -> dict[str, Any]:
    """The evidence points as a GeoJSON FeatureCollection (lon, lat; UTC times as datetimes,
    which ``_json`` writes as RFC 3339 with a ``Z``)."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
            "properties": {
                "time": p.time,
                "speed_kmh": p.speed_kmh,
                "distance_m": p.distance_m,
                "fence_ids": p.fence_ids,
                "loaded": p.loaded,
                "body_lifted": p.body_lifted,
                "cover_closed": p.cover_closed,
            },
        }
        for p in points
    ]
    return {"type": "FeatureCollection", "features": features}


def _json(obj: Any) -> str:
    """JSON for the engine's JSONB columns: orjson, aware datetimes as ``...Z``, dataclasses as
    dicts (the standard library's encoder costs several times more, per event and per state)."""
    return orjson.dumps(obj, option=orjson.OPT_UTC_Z).decode()


def _incident_params(
    view: IncidentView, time: datetime, late: bool, ended: bool, company_id: int | None
) -> dict[str, Any]:
    where = view.lon_lat
    return {
        "incident_id": view.incident_id,
        "type": view.type,
        "vehicle_id": view.vehicle_id,
        "company_id": company_id,
        "permit_id": view.permit_id,
        "trip_id": view.trip_id,
        "severity": view.severity,
        "opened_at": view.started_at,
        "detected_at": time,
        "ended_at": time if ended else None,
        "late": late,
        "lon": where[0] if where else None,
        "lat": where[1] if where else None,
        "detail": Jsonb(view.detail, dumps=_json),
        "evidence": Jsonb(evidence_geojson(view.evidence), dumps=_json),
    }


def _merged(first: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """Two events of one incident in a batch as the one row their upserts would leave: the
    insert's columns from the first, the updated ones from the later, the end once ended."""
    row = {**later, "opened_at": first["opened_at"], "detected_at": first["detected_at"]}
    row["late"], row["lon"], row["lat"] = first["late"], first["lon"], first["lat"]
    if later["ended_at"] is None:
        row["ended_at"] = first["ended_at"]
    return row


@dataclass(frozen=True, slots=True)
class Checkpoint:
    vehicle_id: int
    state: VehicleState
    stream_id: str


async def save_events(
    conn: AsyncConnection[Any], events: Sequence[Event], companies: dict[int, int | None]
) -> None:
    """Incidents, then started trips, then completed ones, each kind as one upsert of many
    rows (see ``_Upsert``): one row per incident or trip, holding what its events' upserts one
    after the other would have left. The kinds touch different rows, so their relative order
    does not matter; a trip's start still goes before its end."""
    incidents: dict[str, dict[str, Any]] = {}  # one row per incident, in first-event order
    started: dict[str, tuple[Any, ...]] = {}
    completed: dict[str, tuple[Any, ...]] = {}
    retracted: dict[str, tuple[Any, ...]] = {}
    for ev in events:
        if isinstance(ev, IncidentOpened | IncidentUpdated | IncidentClosed):
            company = companies.get(ev.incident.vehicle_id)
            ended = isinstance(ev, IncidentClosed)
            row = _incident_params(ev.incident, ev.time, ev.late, ended, company)
            first = incidents.get(ev.incident.incident_id)
            incidents[ev.incident.incident_id] = row if first is None else _merged(first, row)
        elif isinstance(ev, IncidentRetracted):
            retracted[ev.incident_id] = (Jsonb({"retracted": True, "retracted_at": ev.time},
                                               dumps=_json), ev.incident_id)  # fmt: skip
        elif isinstance(ev, TripStarted):
            started.setdefault(  # DO NOTHING: the first one stays
                ev.trip_id,
                (ev.trip_id, ev.vehicle_id, companies.get(ev.vehicle_id), ev.permit_id,
                 ev.origin_id, ev.loading_at, ev.late),
            )  # fmt: skip
        else:
            done = (ev.trip_id, ev.vehicle_id, companies.get(ev.vehicle_id), ev.permit_id,
                    ev.origin_id, ev.yard_id, ev.loading_at, ev.departed_at, ev.arrived_at,
                    ev.time, ev.volume_m3, ev.volume_source, ev.outcome, ev.late)  # fmt: skip
            earlier = completed.get(ev.trip_id)
            if earlier is not None:  # the update keeps the inserted vehicle, loading and late
                done = (*done[:1], *earlier[1:3], *done[3:6], earlier[6], *done[7:13], earlier[13])
            completed[ev.trip_id] = done
    rows = [tuple(r[c] for c in _INCIDENT_COLUMNS) for r in incidents.values()]
    async with conn.cursor() as cur:
        await _INCIDENT.run(cur, rows)
        await _TRIP_STARTED.run(cur, list(started.values()))
        await _TRIP_COMPLETED.run(cur, list(completed.values()))
        if retracted:  # after the incidents: one may have been written in this batch
            await cur.executemany(_RETRACT, list(retracted.values()))


def state_json(state: VehicleState) -> str:
    """A checkpoint's JSON: ``state.to_dict()`` as JSON, by orjson straight from the dataclasses
    (``asdict`` and the standard library's encoder cost far more, per vehicle per batch)."""
    return orjson.dumps(state).decode()


@dataclass(frozen=True, slots=True)
class CommitProgress:
    """A shard's progress through the ingest commit log: every row with ``xid`` below
    ``watermark`` is processed, and so are the rows in ``done`` (seq -> xid) above it."""

    watermark: int
    done: dict[int, int]


async def save_checkpoints(
    conn: AsyncConnection[Any],
    shard: int,
    position: str | None,
    checkpoints: list[Checkpoint],
    mark: CommitProgress | None = None,
) -> None:
    rows = [
        (c.vehicle_id, shard, Jsonb(c.state, dumps=state_json), c.stream_id,
         _last_fix_at(c.state))
        for c in checkpoints
    ]  # fmt: skip
    async with conn.cursor() as cur:
        await _CHECKPOINT.run(cur, rows)
        if position is not None and mark is not None:
            seqs = list(mark.done)
            params = (shard, position, mark.watermark, seqs, [mark.done[s] for s in seqs])
            await cur.execute(_POSITION_MARK, params)
        elif position is not None:
            await cur.execute(_POSITION, (shard, position))


def _last_fix_at(state: VehicleState) -> datetime | None:
    return from_us(state.last.t_us) if state.last is not None else None


async def load_position(conn: AsyncConnection[Any], shard: int) -> str | None:
    cur = await conn.execute("SELECT stream_id FROM engine_shards WHERE shard = %s", (shard,))
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def load_states(conn: AsyncConnection[Any], shard: int) -> dict[int, VehicleState]:
    cur = await conn.execute(
        "SELECT vehicle_id, state FROM engine_checkpoints WHERE shard = %s", (shard,)
    )
    return {int(vid): VehicleState.from_dict(state) for vid, state in await cur.fetchall()}


async def window_rows(
    conn: AsyncConnection[Any], vehicle_id: int, after: datetime, until: datetime
) -> list[tuple[Any, ...]]:
    """A vehicle's stored fixes with ``after < fix_time <= until``, in time order (rows as
    ``commit_fixes``, without the seq): what a replay of late fixes re-runs."""
    cur = await conn.execute(_WINDOW, (vehicle_id, after, until))
    return list(await cur.fetchall())


# --- the ingest commit log ---------------------------------------------------------------

XID_MAX = 2**62  # above every transaction id: no cap


@dataclass(frozen=True, slots=True)
class CommitRow:
    """A commit-log row the worker takes from the database: which fixes to read from ``pings``."""

    seq: int
    xid: int
    vehicle_ids: list[int]
    fix_times: list[datetime]


@dataclass(frozen=True, slots=True)
class CommitSync:
    """What one look at a shard's commit log found: the horizon (every transaction below it is
    settled), the rows to take from the database now (in seq order), and the lowest xid of a
    settled row left for later (None: none), which the watermark may not pass."""

    horizon: int
    taken: list[CommitRow]
    pending_xid: int | None


# One small query per look: final rows (xid below the snapshot's xmin) of the shard at or above
# the watermark and below ``upto``, not among ``skip`` (processed above the watermark, or in the
# batch at hand); those older than the grace are taken (up to ``limit``), the lowest xid of the
# rest is reported. The (shard, xid) index bounds the scan to the watermark's range.
_SYNC = """
WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS x, now() AS t),
c AS (
    SELECT c.seq, c.xid, c.committed_at < h.t - make_interval(secs => %(grace)s) AS old
    FROM ingest_commits c, h
    WHERE c.shard = %(shard)s AND c.xid >= %(w)s AND c.xid < least(h.x, %(upto)s)
      AND NOT c.seq = ANY(%(skip)s)
),
taken AS (SELECT seq, xid FROM c WHERE old ORDER BY seq LIMIT %(limit)s)
SELECT h.x, (SELECT min(xid) FROM c WHERE seq NOT IN (SELECT seq FROM taken)),
       t.seq, t.xid, k.vehicle_ids, k.fix_times
FROM h LEFT JOIN taken t ON true LEFT JOIN ingest_commits k ON k.seq = t.seq
ORDER BY t.seq
"""

# The fixes of commit-log rows, as stream rows (``STREAM_SELECT``) with the row's seq, in seq
# order and per vehicle in time order.
_COMMIT_FIXES = f"""
SELECT k.seq, {STREAM_SELECT}
FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) AS k(seq, v, t)
JOIN pings ON pings.vehicle_id = k.v AND pings.fix_time = k.t
ORDER BY k.seq, pings.vehicle_id, pings.fix_time
"""


async def commit_sync(
    conn: AsyncConnection[Any],
    shard: int,
    watermark: int,
    skip: Iterable[int],
    *,
    upto: int = XID_MAX,
    grace_s: float,
    limit: int,
) -> CommitSync:
    params = {"shard": shard, "w": watermark, "upto": upto, "skip": list(skip),
              "grace": grace_s, "limit": limit}  # fmt: skip
    cur = await conn.execute(_SYNC, params)
    rows = await cur.fetchall()
    horizon, pending = int(rows[0][0]), rows[0][1]
    taken = [CommitRow(int(r[2]), int(r[3]), r[4], r[5]) for r in rows if r[2] is not None]
    return CommitSync(horizon, taken, None if pending is None else int(pending))


_WAITING = """
SELECT DISTINCT v
FROM ingest_commits c, unnest(c.vehicle_ids) AS v
WHERE c.shard = %(shard)s AND c.xid >= %(w)s AND c.xid < %(upto)s
  AND NOT c.seq = ANY(%(skip)s)
  AND c.committed_at >= now() - make_interval(secs => %(grace)s)
"""


async def waiting_vehicles(
    conn: AsyncConnection[Any],
    shard: int,
    watermark: int,
    skip: Iterable[int],
    *,
    upto: int,
    grace_s: float,
) -> set[int]:
    """The vehicles of committed rows below ``upto`` that are neither processed (``skip``) nor
    old enough to take from ``pings``: their stream entries may still come (publishers race), or
    were lost and will be taken once the grace has passed. Committed is enough (not settled
    below the horizon): a long transaction elsewhere must not let a later entry overtake."""
    params = {"shard": shard, "w": watermark, "upto": upto, "skip": list(skip), "grace": grace_s}
    cur = await conn.execute(_WAITING, params)
    return {int(r[0]) for r in await cur.fetchall()}


async def commit_fixes(
    conn: AsyncConnection[Any], rows: Sequence[CommitRow]
) -> list[tuple[Any, ...]]:
    """The stored fixes of commit-log rows: ``(seq, *stream row)``, in seq order."""
    seqs: list[int] = []
    vids: list[int] = []
    times: list[datetime] = []
    for row in rows:
        seqs += [row.seq] * len(row.vehicle_ids)
        vids += row.vehicle_ids
        times += row.fix_times
    cur = await conn.execute(_COMMIT_FIXES, (seqs, vids, times))
    return list(await cur.fetchall())


async def load_commit_mark(conn: AsyncConnection[Any], shard: int) -> tuple[int, dict[int, int]]:
    """A shard's committed watermark and the rows processed above it (seq -> xid)."""
    cur = await conn.execute(
        "SELECT commit_xid, commit_done_seqs, commit_done_xids FROM engine_shards WHERE shard = %s",
        (shard,),
    )
    row = await cur.fetchone()
    if row is None:
        return 0, {}
    return int(row[0]), dict(zip(row[1], row[2], strict=True))


async def prune_commits(conn: AsyncConnection[Any], shard: int, keep_s: float) -> int:
    """Delete the shard's commit-log rows below its committed watermark, once older than
    ``keep_s`` (kept a while for an engine reset to the stream's start). Returns how many."""
    cur = await conn.execute(
        "DELETE FROM ingest_commits WHERE shard = %s AND committed_at < now() - make_interval("
        "secs => %s) AND xid < (SELECT commit_xid FROM engine_shards WHERE shard = %s)",
        (shard, keep_s, shard),
    )
    return cur.rowcount


@dataclass(frozen=True, slots=True)
class ShardLag:
    """How far a shard's engine is behind the commit log, by the database's own account."""

    shard: int
    head_seq: int | None  # the newest commit-log row of the shard
    behind_rows: int  # settled rows not yet processed
    behind_fixes: int
    oldest_behind_s: float | None  # age of the oldest of them
    in_flight_rows: int  # rows of transactions not yet settled (counted as not behind)

    @property
    def caught_up(self) -> bool:
        return self.behind_rows == 0


LAG_SQL = """
WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS x)
SELECT s.shard,
       (SELECT max(seq) FROM ingest_commits WHERE shard = s.shard),
       count(c.seq) FILTER (WHERE c.xid < h.x),
       coalesce(sum(cardinality(c.vehicle_ids)) FILTER (WHERE c.xid < h.x), 0),
       extract(epoch FROM now() - min(c.committed_at) FILTER (WHERE c.xid < h.x)),
       count(c.seq) FILTER (WHERE c.xid >= h.x)
FROM h, unnest(%s::int[]) AS s(shard)
LEFT JOIN engine_shards e ON e.shard = s.shard
LEFT JOIN ingest_commits c ON c.shard = s.shard AND c.xid >= coalesce(e.commit_xid, 0)
     AND NOT c.seq = ANY(coalesce(e.commit_done_seqs, '{}'))
GROUP BY s.shard
ORDER BY s.shard
"""


async def shard_lag(conn: AsyncConnection[Any], shards: Sequence[int]) -> list[ShardLag]:
    """Per shard: is every settled commit-log row processed, and if not, how far behind."""
    cur = await conn.execute(LAG_SQL, (list(shards),))
    out = []
    for r in await cur.fetchall():
        age = None if r[4] is None else float(r[4])
        out.append(ShardLag(int(r[0]), r[1], int(r[2]), int(r[3]), age, int(r[5])))
    return out
