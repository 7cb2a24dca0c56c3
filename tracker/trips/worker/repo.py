"""The engine's SQL: effects (incidents, trips) and checkpoints, written in one transaction per
batch, and the catch-up read from ``pings``. Upserts key on the core's deterministic ids, so
even a replay that got past the checkpoint could not double an incident or a trip."""

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
from tracker.wire import SHARD_SQL, STREAM_SELECT


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

# Catch-up rows: stored fixes as stream rows (``tracker.wire.fix_from_row`` decodes them).
_CATCH_UP = f"""
SELECT {STREAM_SELECT}
FROM pings
WHERE {SHARD_SQL} AND fix_time > %s
ORDER BY vehicle_id, fix_time
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


async def save_checkpoints(
    conn: AsyncConnection[Any], shard: int, position: str | None, checkpoints: list[Checkpoint]
) -> None:
    rows = [
        (c.vehicle_id, shard, Jsonb(c.state, dumps=state_json), c.stream_id,
         _last_fix_at(c.state))
        for c in checkpoints
    ]  # fmt: skip
    async with conn.cursor() as cur:
        await _CHECKPOINT.run(cur, rows)
        if position is not None:
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


async def catch_up_rows(
    conn: AsyncConnection[Any], shards: int, shard: int, since: datetime
) -> list[tuple[Any, ...]]:
    """Stored fixes of the shard's vehicles newer than ``since``, per vehicle in time order."""
    cur = await conn.execute(_CATCH_UP, (shards, shard, since))
    return list(await cur.fetchall())


async def window_rows(
    conn: AsyncConnection[Any], vehicle_id: int, after: datetime, until: datetime
) -> list[tuple[Any, ...]]:
    """A vehicle's stored fixes with ``after < fix_time <= until``, in time order (rows as
    ``catch_up_rows``): what a replay of late fixes re-runs."""
    cur = await conn.execute(_WINDOW, (vehicle_id, after, until))
    return list(await cur.fetchall())
