"""Truck states for the live map: published on change after each commit and kept in a hash."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import redis
from engine_scenario import build_world, chunks, truck_fixes
from httpx import AsyncClient

from tracker import wire
from tracker.trips.core.state import LastFix, VehicleState, to_us
from tracker.trips.core.vstate import state_at
from tracker.trips.worker.worker import EngineWorker, WorkerConfig
from tracker.wire import VEHICLE_STATES, VSTATE_KEY

KEYS = {"vehicle_id", "state", "trip_id", "permit_id", "at"}


def drain(pubsub: Any) -> list[dict[str, Any]]:
    out = []
    while (message := pubsub.get_message(timeout=0.05)) is not None:
        if message["type"] == "message":
            out.append(json.loads(message["data"]))
    return out


async def test_truck_states_are_published_on_change_and_kept_current(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
    rdb: redis.Redis,
) -> None:
    vehicle_id, token = fleet.truck("VS-1")
    await build_world(client, staff, db, [vehicle_id])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    fixes = truck_fixes(1, start)  # three trips, a dumping stop on each
    pubsub = rdb.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(wire.channel(rdb, wire.Channel.VEHICLE_STATES))
    platform = client.app.state.platform  # type: ignore[attr-defined]
    worker = EngineWorker(
        platform.pool, platform.redis, WorkerConfig(tuple(range(8)), 8, block_ms=50)
    )
    await worker.start()
    messages: list[dict[str, Any]] = []
    try:
        for chunk in chunks(fixes, 3):  # a commit every 30 s of driving
            resp = await client.post(
                "/api/v1/positions",
                json={"fixes": chunk},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert resp.status_code == 200, resp.text
            await platform.publisher.stop()  # flush this chunk to the stream
            await platform.publisher.start()
            while await worker.step():
                pass
            messages += drain(pubsub)
    finally:
        await worker.stop()
        pubsub.close()

    assert messages and all(set(m) == KEYS for m in messages)
    # Test processes share one Redis database: keep this engine's messages (its vehicle, at
    # fix times within this drive) and leave other tests' ones aside.
    end = start + timedelta(seconds=10 * len(fixes))
    messages = [
        m
        for m in messages
        if m["vehicle_id"] == vehicle_id
        and datetime.fromisoformat(m["at"].replace("Z", "+00:00")) <= end
    ]
    states = [m["state"] for m in messages]
    assert set(states) <= set(VEHICLE_STATES)
    for wanted in ("loading", "hauling", "in_incident", "unloading", "idle"):
        assert wanted in states, states
    changes = [(m["state"], m["trip_id"], m["permit_id"]) for m in messages]
    assert all(a != b for a, b in itertools.pairwise(changes)), "only changes"
    hauling = [m for m in messages if m["state"] == "hauling"]
    assert all(m["trip_id"] and m["permit_id"] for m in hauling)
    ats = [datetime.fromisoformat(m["at"].replace("Z", "+00:00")) for m in messages]
    assert all(a.tzinfo is not None for a in ats) and ats == sorted(ats)
    current = rdb.hget(VSTATE_KEY, str(vehicle_id))
    assert current is not None and json.loads(current) == messages[-1]


async def test_a_silent_loaded_truck_turns_offline(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
    rdb: redis.Redis,
) -> None:
    vehicle_id, token = fleet.truck("VS-2")
    await build_world(client, staff, db, [vehicle_id])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=400)
    fixes = truck_fixes(0, start)[:40]  # loads, leaves the site, then nothing more arrives
    resp = await client.post(
        "/api/v1/positions", json={"fixes": fixes}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200, resp.text
    platform = client.app.state.platform  # type: ignore[attr-defined]
    await platform.publisher.stop()
    await platform.publisher.start()
    worker = EngineWorker(
        platform.pool, platform.redis, WorkerConfig(tuple(range(8)), 8, block_ms=50)
    )
    await worker.start()
    try:
        while await worker.step():
            pass
        before = json.loads(rdb.hget(VSTATE_KEY, str(vehicle_id)) or b"{}")
        await worker.tick(datetime.now(UTC) + timedelta(minutes=6))  # the clock moves on
    finally:
        await worker.stop()
    after = json.loads(rdb.hget(VSTATE_KEY, str(vehicle_id)) or b"{}")
    assert before["state"] == "hauling"
    assert after["state"] == "offline" and after["trip_id"] == before["trip_id"]


def test_state_time_never_goes_back() -> None:
    """A tick marks a silent truck offline at 12:05; its held-back fixes (12:03) then turn
    it back to hauling: that message must not look older than the offline one."""
    state = VehicleState(vehicle_id=1)
    tick_at = datetime(2026, 5, 4, 12, 5, tzinfo=UTC)
    assert state_at(state, tick_at, None) == tick_at
    state.last = LastFix(to_us(datetime(2026, 5, 4, 12, 3, tzinfo=UTC)), 7.4, 43.7, 30.0)
    assert state_at(state, None, tick_at) == tick_at
    later = datetime(2026, 5, 4, 12, 7, tzinfo=UTC)
    state.last = LastFix(to_us(later), 7.4, 43.7, 30.0)
    assert state_at(state, None, tick_at) == later
