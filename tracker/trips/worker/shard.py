"""One shard's consumer: its stream position, its vehicles' states, and the batch step.

A batch is one ``XREAD`` result. Entries are processed in stream order, and within an entry each
vehicle's fixes go through ``prepare_batch`` then ``process`` (so the outcome depends only on
the stream's contents, not on how reads happened to group entries). Stragglers (fixes not newer
than the vehicle's last one) are replayed into history (``rewind.replay``) when the caller
supplies the vehicle's stored window (``window_wanted`` says which); the window is cut at the
entry's newest receive time, so a replay sees what had arrived by then, whatever the batching.
The batch's effects and the touched vehicles' states commit in one transaction with the id of
its last entry. Commits the stream did not deliver come as parsed entries too (``parse_stored``:
one per commit-log row, read back from ``pings``), so they take the same path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from psycopg import AsyncConnection

from tracker.geofence import GeofenceIndex
from tracker.trips.core.annotate import annotate
from tracker.trips.core.engine import tick
from tracker.trips.core.events import Event
from tracker.trips.core.rewind import (
    Annotator,
    advance,
    note,
    prepare_timed,
    window_start_us,
)
from tracker.trips.core.state import VehicleState, to_us
from tracker.trips.core.view import RegistryView
from tracker.trips.worker import repo
from tracker.wire import Fix, Timed, entry_rows, stream_key, timed_from_row

__all__ = [
    "Batch",
    "Entry",
    "Parsed",
    "ShardRunner",
    "Timed",
    "prepare_timed",
]

Entry = tuple[bytes | str, dict[bytes, bytes]]
Parsed = list[tuple[str, dict[int, list[Timed]]]]  # entry id, each vehicle's fixes in it


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
    # The ingest commit log: every row of the shard with an xid below ``commit_xid`` is
    # processed, and so are the rows in ``done`` (seq -> xid) above it.
    commit_xid: int = 0
    done: dict[int, int] = field(default_factory=dict)
    states: dict[int, VehicleState] = field(default_factory=dict)
    # How late each vehicle's newest fix arrived: silences are measured from delivery, so a
    # blind-area upload hours late does not look like hours of silence.
    lag: dict[int, timedelta] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return stream_key(self.shard)

    async def load(self, conn: AsyncConnection[Any]) -> None:
        self.position = await repo.load_position(conn, self.shard)
        self.commit_xid, self.done = await repo.load_commit_mark(conn, self.shard)
        self.states = await repo.load_states(conn, self.shard)

    def state_of(self, vehicle_id: int) -> VehicleState:
        state = self.states.get(vehicle_id)
        if state is None:
            state = self.states[vehicle_id] = VehicleState(vehicle_id=vehicle_id)
        return state

    def run_fixes(
        self, index: GeofenceIndex, view: RegistryView, fixes: list[Fix], batch: Batch, tag: str
    ) -> None:
        """One vehicle's fixes (one entry's worth) through the core."""
        timed = [(to_us(f.fix_time), to_us(f.received_at), f) for f in fixes]
        self.run_timed(index, view, timed, batch, tag)

    def run_timed(
        self,
        index: GeofenceIndex,
        view: RegistryView,
        timed: list[Timed],
        batch: Batch,
        tag: str,
        window: list[Timed] | None = None,
    ) -> None:
        """``run_fixes`` on fixes that carry their epoch-µs fix and receive times. With
        ``window`` (the vehicle's stored fixes since its oldest snapshot), stragglers among
        them are replayed into history; without it they are skipped (counted)."""
        vehicle_id = timed[0][2].vehicle_id
        state, ctx = self.state_of(vehicle_id), view.context(vehicle_id)
        if window is not None:
            newest_received_us = max(t[1] for t in timed)
            window = [t for t in window if t[1] <= newest_received_us]
        annotator: Annotator = partial(annotate, index, view, ctx)
        state, events, _ = advance(state, ctx, timed, window, annotator)
        self.states[vehicle_id] = state
        if events:
            batch.events += events
        newest_us, newest_received_us, _ = max(timed, key=lambda t: t[0])
        if state.last is not None and newest_us == state.last.t_us:
            lag_us = max(newest_received_us - newest_us, 0)
            self.lag[vehicle_id] = timedelta(microseconds=lag_us)
        batch.touched[vehicle_id] = tag
        batch.fixes += len(timed)

    def consume(self, index: GeofenceIndex, view: RegistryView, entries: list[Entry]) -> Batch:
        """Entries through the core; stragglers are skipped (no stored window at hand).
        Decoded entry by entry, as before the rewind."""
        batch = Batch()
        for entry in entries:
            self.consume_parsed(index, view, self.parse([entry]), None, batch)
        return batch

    @staticmethod
    def parse(entries: list[Entry]) -> Parsed:
        parsed: Parsed = []
        for raw_id, fields in entries:
            per_vehicle: dict[int, list[Timed]] = {}
            for values in entry_rows(fields):
                timed = timed_from_row(values)
                per_vehicle.setdefault(timed[2].vehicle_id, []).append(timed)
            parsed.append((_text(raw_id), per_vehicle))
        return parsed

    def window_wanted(self, parsed: Parsed) -> dict[int, tuple[int, int]]:
        """Vehicles that may meet a straggler in these entries (a fix not newer than what
        they will have seen by then), with the fix-time range (epoch µs, ``(low, high]``) of
        stored fixes a replay could need: from the oldest snapshot (or, without one yet, from
        the batch's first fix of the vehicle) to the newest fix seen."""
        newest: dict[int, int] = {}
        first: dict[int, int] = {}
        wanted: dict[int, tuple[int, int]] = {}
        for _, per_vehicle in parsed:
            for vehicle_id, timed in per_vehicle.items():
                oldest = min(t[0] for t in timed)
                seen = newest.get(vehicle_id)
                if seen is None:
                    state = self.states.get(vehicle_id)
                    seen = state.last.t_us if state is not None and state.last else -1
                    first[vehicle_id] = oldest
                if seen >= 0 and oldest <= seen:
                    state = self.states.get(vehicle_id)
                    start = None if state is None else window_start_us(state)
                    low = first[vehicle_id] - 1 if start is None else start
                    high = seen
                    if vehicle_id in wanted:
                        low, high = (
                            min(low, wanted[vehicle_id][0]),
                            max(high, wanted[vehicle_id][1]),
                        )
                    wanted[vehicle_id] = (low, high)
                newest[vehicle_id] = max(seen, max(t[0] for t in timed))
        return wanted

    def consume_parsed(
        self,
        index: GeofenceIndex,
        view: RegistryView,
        parsed: Parsed,
        windows: dict[int, list[Timed]] | None,
        batch: Batch | None = None,
    ) -> Batch:
        """``consume`` on parsed entries; ``windows``: stored fixes per vehicle (as asked by
        ``window_wanted``) for the replay of stragglers."""
        batch = Batch() if batch is None else batch
        for entry_id, per_vehicle in parsed:
            for vehicle_id, timed_fixes in per_vehicle.items():
                window = None if windows is None else windows.get(vehicle_id)
                self.run_timed(index, view, timed_fixes, batch, entry_id, window)
        return batch

    @staticmethod
    def parse_stored(rows: list[tuple[Any, ...]]) -> Parsed:
        """Fixes read back from ``pings`` for commit-log rows (``repo.commit_fixes``: the row's
        seq, then a stream row), as one parsed entry per commit-log row, like its stream entry
        would have been."""
        parsed: Parsed = []
        current: int | None = None
        per_vehicle: dict[int, list[Timed]] = {}
        for row in rows:
            seq = int(row[0])
            if seq != current:
                current, per_vehicle = seq, {}
                parsed.append((f"commit:{seq}", per_vehicle))
            timed = timed_from_row(row[1:])
            per_vehicle.setdefault(timed[2].vehicle_id, []).append(timed)
        return parsed

    def silent(self, now: datetime, after_s: float = 60.0) -> list[int]:
        """Vehicles in a loaded phase (loading, hauling) without a fix for ``after_s``: the
        ones whose heartbeats (``HEARD_KEY``) the clock needs."""
        now_us = to_us(now)
        return [
            vehicle_id
            for vehicle_id, state in self.states.items()
            if state.last is not None
            and state.trip.phase in ("loading", "hauling")
            and now_us - state.last.t_us >= after_s * 1_000_000
        ]

    def tick_all(
        self, view: RegistryView, now: datetime, heard: dict[int, int] | None = None
    ) -> Batch:
        """The clock for every vehicle; ``heard``: when the gateway last heard a vehicle's
        terminal without a position (epoch µs, ``HEARD_KEY``)."""
        batch = Batch()
        heard = heard or {}
        for vehicle_id, state in self.states.items():
            lag = self.lag.get(vehicle_id, timedelta(0))
            before = state.suspected_us, len(state.offline_pending)
            heard_us = heard.get(vehicle_id)
            if heard_us is not None:  # on the vehicle's clock, as its fixes
                heard_us -= int(lag.total_seconds() * 1_000_000)
            _, events = tick(state, view.context(vehicle_id), now - lag, heard_us)
            if events or before != (state.suspected_us, len(state.offline_pending)):
                note(state, events)
                batch.events += events
                batch.touched[vehicle_id] = self.position or "0-0"
        return batch

    def checkpoints(self, batch: Batch) -> list[repo.Checkpoint]:
        return [repo.Checkpoint(v, self.states[v], sid) for v, sid in batch.touched.items()]
