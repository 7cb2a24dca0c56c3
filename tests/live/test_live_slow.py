"""Slow clients: their queues stay bounded and coalesced, and fast clients still get every fix."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from live_world import LiveServer, ago, post_fix

from tracker.live.queue import CoalescingQueue
from tracker.live.subscription import Subscription, SubscriptionIndex, cells_of

CITY = (104.00, 30.60, 104.10, 30.70)
TRUCKS, ROUNDS = 12, 5


async def test_slow_client_coalesces_while_fast_client_gets_everything(
    live: LiveServer, http: AsyncClient, fleet: Any, open_live: Any
) -> None:
    trucks = [fleet.truck(f"SLOW-{i:02d}") for i in range(TRUCKS)]
    fast = await open_live()
    await fast.subscribe(bbox=list(CITY))
    slow = live.hub.connect()  # a client whose socket never drains: its sender is stuck
    live.hub.subscribe(slow, Subscription(bbox=CITY), "slow")
    await slow.queue.take()  # the snapshot went out; nothing more is ever taken

    start = ago(ROUNDS * 10 + 5)
    seen: set[tuple[int, str]] = set()
    for r in range(ROUNDS):  # each round once the fast client has had the previous one
        at = start + timedelta(seconds=10 * r)
        await asyncio.gather(
            *(
                post_fix(http, token, 104.01 + i * 0.005, 30.61 + r * 0.001, at=at)
                for i, (_, token) in enumerate(trucks)
            )
        )
        async with asyncio.timeout(5):
            while len(seen) < TRUCKS * (r + 1):
                message = await fast.expect("fixes")
                seen |= {(v["vehicle_id"], v["time"]) for v in message["vehicles"]}
    assert len(seen) == TRUCKS * ROUNDS

    assert slow.queue.pending_fixes == TRUCKS  # one entry per vehicle, however long it lags
    assert slow.queue.coalesced == TRUCKS * (ROUNDS - 1)
    batch = await slow.queue.take()
    assert {round(v["lat"], 3) for v in batch.fixes} == {round(30.61 + (ROUNDS - 1) * 0.001, 3)}


async def test_queue_overflow_turns_into_a_resync_snapshot() -> None:
    queue = CoalescingQueue(max_vehicles=3, max_events=2)
    for vid in range(3):
        queue.put_fix(vid, 10, {"vehicle_id": vid})
    queue.put_fix(1, 5, {"vehicle_id": 1, "late": True})  # older than held: kept out
    queue.put_fix(99, 10, {"vehicle_id": 99})  # a fourth vehicle: over the bound
    assert queue.overflows == 1 and len(queue) == 0
    queue.put_fix(7, 20, {"vehicle_id": 7})  # the snapshot to come has it
    for n in range(3):
        queue.put_event({"type": "incident", "n": n})
    assert queue.dropped_events == 1

    batch = await queue.take()
    assert batch.snapshot == "resync" and batch.snapshot_reason == "overflow"
    assert batch.fixes == [] and [e["n"] for e in batch.events] == [1, 2]
    assert len(queue) == 0


def test_index_routes_by_cell_vehicle_and_wide() -> None:
    index = SubscriptionIndex()
    index.put(1, Subscription(bbox=CITY))
    index.put(2, Subscription(bbox=(-180.0, -90.0, 180.0, 90.0)))  # too many cells: wide
    index.put(3, Subscription(vehicle_ids=frozenset({42})))
    index.put(4, Subscription(bbox=(105.0, 31.0, 105.1, 31.1)))
    assert set(index.candidates(7, 104.05, 30.65)) == {1, 2}
    assert set(index.candidates(42, 0.0, 0.0)) == {2, 3}
    index.put(1, Subscription(bbox=(105.0, 31.0, 105.01, 31.01)))  # the map moved
    assert set(index.candidates(7, 104.05, 30.65)) == {2}
    index.remove(2)
    assert set(index.candidates(7, 105.005, 31.005)) == {1, 4}
    assert len(index) == 3
    assert cells_of((-180.0, -90.0, 180.0, 90.0)) is None
