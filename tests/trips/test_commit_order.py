"""Each vehicle's fixes reach the engine in commit order, even when the stream lost a commit
(a publish backlog overflowed, an API died before publishing): a later entry of the same vehicle
waits until the lost commit is old enough to take from ``pings`` (``commit_grace_s``), instead
of being processed first and the lost fixes replayed as stragglers (which can open and then
retract an alarm an undisturbed run never raised). Other vehicles' entries do not wait."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from httpx import AsyncClient

from tracker.trips.worker.worker import EngineWorker, WorkerConfig
from tracker.wire import shard_of, stream_key

GRACE_S = 8.0  # longer than posting and reading take on a loaded machine
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def drive(start_s: int, n: int) -> list[dict[str, Any]]:
    return [
        {"time": (T0 + timedelta(seconds=start_s + 10 * i)).isoformat(),
         "lon": 7.42 + (start_s + 10 * i) * 1e-5, "lat": 43.73, "speed_kmh": 30.0}
        for i in range(n)
    ]  # fmt: skip


def same_shard_trucks(fleet: Any) -> tuple[tuple[int, str], tuple[int, str]]:
    trucks = [fleet.truck(f"CO-{i:02d}") for i in range(20)]
    for a in trucks:
        for b in trucks:
            if a is not b and shard_of(a[0], 8) == shard_of(b[0], 8):
                return a, b
    raise AssertionError("no two trucks on one shard")


async def post(client: AsyncClient, token: str, fixes: list[dict[str, Any]]) -> None:
    resp = await client.post(
        "/api/v1/positions", json={"fixes": fixes}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200 and resp.json()["accepted"] == len(fixes), resp.text


async def lose_first_entry(client: AsyncClient, rdb: redis.Redis, shard: int) -> None:
    """Flush the publisher, then delete the shard's first entry: a commit the stream lost."""
    platform = client.app.state.platform  # type: ignore[attr-defined]
    await platform.publisher.stop()
    await platform.publisher.start()
    first = rdb.xrange(stream_key(shard), count=1)
    assert first
    rdb.xdel(stream_key(shard), first[0][0])


def worker_of(client: AsyncClient) -> EngineWorker:
    platform = client.app.state.platform  # type: ignore[attr-defined]
    config = WorkerConfig(tuple(range(8)), 8, block_ms=20, commit_grace_s=GRACE_S)
    return EngineWorker(platform.pool, platform.redis, config)


async def test_a_later_entry_waits_for_its_vehicles_lost_commit(
    client: AsyncClient, fleet: Any, rdb: redis.Redis
) -> None:
    (vehicle, token), _ = same_shard_trucks(fleet)
    await post(client, token, drive(0, 6))  # commit 1: lost by the stream
    await post(client, token, drive(60, 6))  # commit 2: its entry arrives
    await lose_first_entry(client, rdb, shard_of(vehicle, 8))
    worker = worker_of(client)
    await worker.start()
    try:
        await worker.step()
        assert worker.fixes_processed == 0  # not before the commit that precedes it
        deadline = time.monotonic() + GRACE_S + 10
        while worker.fixes_processed < 12 and time.monotonic() < deadline:
            await worker.step()
            await asyncio.sleep(0.01)
    finally:
        await worker.stop()
    assert worker.fixes_processed == 12
    assert worker.fixes_from_db == 6  # the lost commit, from pings, first


async def test_another_vehicles_entry_does_not_wait(
    client: AsyncClient, fleet: Any, rdb: redis.Redis
) -> None:
    (vehicle, token), (_, other) = same_shard_trucks(fleet)
    await post(client, token, drive(0, 6))  # lost by the stream
    await post(client, other, drive(0, 5))  # another truck on the shard
    await lose_first_entry(client, rdb, shard_of(vehicle, 8))
    worker = worker_of(client)
    await worker.start()
    try:
        await worker.step()
        assert worker.fixes_processed == 5  # at once: no vehicle of it is waiting
    finally:
        await worker.stop()
