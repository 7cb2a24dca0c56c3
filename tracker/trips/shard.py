"""One shard's consumer: its stream position, its vehicles' states, and the batch step.

A batch is one ``XREAD`` result. Entries are processed in stream order, and within an entry each
vehicle's fixes go through ``prepare_batch`` then ``process`` (so the outcome depends only on
the stream's contents, not on how reads happened to group entries). The batch's effects and the
touched vehicles' states commit in one transaction with the id of its last entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from psycopg import AsyncConnection

from tracker.geofence import GeofenceIndex
from tracker.ingest.models import Fix
from tracker.ingest.stream import STREAM_FIELDS, stream_key
from tracker.trips import repo
from tracker.trips.annotate import annotate
from tracker.trips.context import RegistryView
from tracker.trips.engine import fix_from_row, fix_from_values, process, tick
from tracker.trips.events import Event
from tracker.trips.models import AnnotatedFix, RuleConfig
from tracker.trips.state import VehicleState, to_us

Entry = tuple[bytes | str, dict[bytes, bytes]]
Timed = tuple[int, int, Fix]  # fix time and receive time in epoch µs, the fix
T_US, RECEIVED_US = STREAM_FIELDS.index("t_us"), STREAM_FIELDS.index("received_us")


def prepare_timed(timed: list[Timed], rules: RuleConfig) -> list[Timed]:
    """``engine.prepare_batch`` on timed fixes: fix-time order, exact duplicates (same fix
    time; the first received wins) dropped, fixes flagged with ``skip_flags`` left out."""
    ordered = sorted(timed, key=lambda t: (t[0], t[1])) if len(timed) > 1 else timed
    kept: list[Timed] = []
    skip = rules.skip_flags
    for item in ordered:
        if item[2].flags & skip:
            continue
        if kept and kept[-1][0] == item[0]:
            continue
        kept.append(item)
    return kept


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def stream_id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class Batch:
    events: list[Event] = field(default_factory=list)
    touched: dict[int, str] = field(default_factory=dict)  # vehicle -> last entry id
    fixes: int = 0


@dataclass
class ShardRunner:
    shard: int
    shard_count: int
    position: str | None = None
    states: dict[int, VehicleState] = field(default_factory=dict)
    # How late each vehicle's newest fix arrived: silences are measured from delivery, so a
    # blind-area upload hours late does not look like hours of silence.
    lag: dict[int, timedelta] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return stream_key(self.shard)

    async def load(self, conn: AsyncConnection[Any]) -> None:
        self.position = await repo.load_position(conn, self.shard)
        self.states = await repo.load_states(conn, self.shard)

    def state_of(self, vehicle_id: int) -> VehicleState:
        state = self.states.get(vehicle_id)
        if state is None:
            state = self.states[vehicle_id] = VehicleState(vehicle_id=vehicle_id)
        return state

    def run_fixes(
        self, index: GeofenceIndex, view: RegistryView, fixes: list[Fix], batch: Batch, tag: str
    ) -> None:
        """One vehicle's fixes (one entry's worth, or a catch-up run) through the core."""
        timed = [(to_us(f.fix_time), to_us(f.received_at), f) for f in fixes]
        self.run_timed(index, view, timed, batch, tag)

    def run_timed(
        self, index: GeofenceIndex, view: RegistryView, timed: list[Timed], batch: Batch, tag: str
    ) -> None:
        """``run_fixes`` on fixes that carry their epoch-µs fix and receive times."""
        vehicle_id = timed[0][2].vehicle_id
        state, ctx = self.state_of(vehicle_id), view.context(vehicle_id)
        events = batch.events
        for t_us, received_us, fix in prepare_timed(timed, ctx.rules):
            last = state.last
            if last is not None and t_us <= last.t_us:
                afix = AnnotatedFix(fix=fix)  # skipped (and counted) by the core
            else:
                prev = (last.lon, last.lat) if last is not None else None
                afix = annotate(index, view, ctx, fix, prev, t_us, received_us)
            state, new = process(state, afix, ctx)
            if new:
                events += new
        newest_us, newest_received_us, _ = max(timed, key=lambda t: t[0])
        if state.last is not None and newest_us == state.last.t_us:
            lag_us = max(newest_received_us - newest_us, 0)
            self.lag[vehicle_id] = timedelta(microseconds=lag_us)
        batch.touched[vehicle_id] = tag
        batch.fixes += len(timed)

    def consume(self, index: GeofenceIndex, view: RegistryView, entries: list[Entry]) -> Batch:
        batch = Batch()
        for raw_id, fields in entries:
            entry_id = _text(raw_id)
            per_vehicle: dict[int, list[Timed]] = {}
            for values in orjson.loads(fields[b"fixes"]):
                fix = fix_from_values(values)
                timed = (int(values[T_US]), int(values[RECEIVED_US]), fix)
                per_vehicle.setdefault(fix.vehicle_id, []).append(timed)
            for timed_fixes in per_vehicle.values():
                self.run_timed(index, view, timed_fixes, batch, entry_id)
        return batch

    def catch_up(
        self, index: GeofenceIndex, view: RegistryView, rows: list[tuple[Any, ...]]
    ) -> Batch:
        """Stored fixes from the database (per vehicle in time order) through the core."""
        batch = Batch()
        per_vehicle: dict[int, list[Fix]] = {}
        for row in rows:
            fix = fix_from_row(dict(zip(STREAM_FIELDS, row, strict=True)))
            per_vehicle.setdefault(fix.vehicle_id, []).append(fix)
        for fixes in per_vehicle.values():
            self.run_fixes(index, view, fixes, batch, self.position or "0-0")
        return batch

    def catch_up_since(self, lookback: timedelta, now: datetime) -> datetime:
        """From the oldest last fix among the shard's vehicles, no further back than
        ``lookback`` (vehicles without state start there too)."""
        floor = now - lookback
        lasts = [s.last.t_us for s in self.states.values() if s.last is not None]
        if not lasts:
            return floor
        oldest = datetime.fromtimestamp(min(lasts) / 1e6, tz=UTC)
        return max(oldest, floor)

    def tick_all(self, view: RegistryView, now: datetime) -> Batch:
        batch = Batch()
        for vehicle_id, state in self.states.items():
            lag = self.lag.get(vehicle_id, timedelta(0))
            _, events = tick(state, view.context(vehicle_id), now - lag)
            if events:
                batch.events += events
                batch.touched[vehicle_id] = self.position or "0-0"
        return batch

    def checkpoints(self, batch: Batch) -> list[repo.Checkpoint]:
        return [repo.Checkpoint(v, self.states[v], sid) for v, sid in batch.touched.items()]
