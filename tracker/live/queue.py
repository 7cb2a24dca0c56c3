"""A live client's outbox: bounded, and coalescing to the newest fix per vehicle.

A slow client never slows the others or grows memory: fixes replace the queued fix of the same
vehicle, so the queue holds at most one entry per vehicle; if even that exceeds ``max_vehicles``
the queue drops its fixes and asks for a fresh snapshot instead. Events (incidents) are few and
kept in a ring: when it is full the oldest is dropped and counted.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tracker import metrics

Item = dict[str, Any]


@dataclass(slots=True)
class Batch:
    """What the sender writes next: a snapshot request (its id) or deltas, and events."""

    snapshot: str | None = None
    snapshot_reason: str = "subscribe"
    fixes: list[Item] = field(default_factory=list)
    events: list[Item] = field(default_factory=list)


class CoalescingQueue:
    def __init__(self, max_vehicles: int = 10_000, max_events: int = 256) -> None:
        self.max_vehicles = max_vehicles
        self._fixes: dict[int, tuple[int, Item]] = {}
        self._events: deque[Item] = deque(maxlen=max_events)
        self._snapshot: str | None = None
        self._snapshot_reason = "subscribe"
        self._ready = asyncio.Event()
        self.enqueued = 0
        self.coalesced = 0
        self.overflows = 0
        self.dropped_events = 0

    def __len__(self) -> int:
        return len(self._fixes) + len(self._events)

    @property
    def pending_fixes(self) -> int:
        return len(self._fixes)

    def put_fix(self, vehicle_id: int, t_us: int, item: Item) -> None:
        if self._snapshot is not None:
            return  # the coming snapshot is read after this fix was applied: it has it
        held = self._fixes.get(vehicle_id)
        if held is not None:
            self.coalesced += 1
            if held[0] > t_us:
                return  # a late fix must not replace a newer one
        elif len(self._fixes) >= self.max_vehicles:
            self.overflows += 1
            metrics.WS_DROPPED_DELTAS.labels("fixes").inc()
            self.request_snapshot("resync", reason="overflow")
            return
        self._fixes[vehicle_id] = (t_us, item)
        self.enqueued += 1
        self._ready.set()

    def put_event(self, item: Item) -> None:
        if item.get("type") == "fences_changed" and item in self._events:
            return  # one notice is enough: the client re-reads all fences
        if len(self._events) == self._events.maxlen:
            self.dropped_events += 1
            metrics.WS_DROPPED_DELTAS.labels("events").inc()
        self._events.append(item)
        self._ready.set()

    def request_snapshot(self, request_id: str, reason: str = "subscribe") -> None:
        """The next batch is a fresh snapshot: queued fixes are dropped (it supersedes them)."""
        self._fixes.clear()
        self._snapshot = request_id
        self._snapshot_reason = reason
        self._ready.set()

    async def take(self) -> Batch:
        """Wait for something to send, and take all of it."""
        while not (self._fixes or self._events or self._snapshot is not None):
            self._ready.clear()
            await self._ready.wait()
        batch = Batch(
            snapshot=self._snapshot,
            snapshot_reason=self._snapshot_reason,
            fixes=[item for _, item in self._fixes.values()],
            events=list(self._events),
        )
        self._fixes.clear()
        self._events.clear()
        self._snapshot = None
        return batch
