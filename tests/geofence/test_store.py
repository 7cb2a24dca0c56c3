"""Fences in the real database, change notices through the real Redis, FenceSync in workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from tracker.geofence import GeometryError
from tracker.geofence.store import delete, load_all, save
from tracker.geofence.sync import FenceSync

SQUARE = [[9.0, 45.0], [9.01, 45.0], [9.01, 45.01], [9.0, 45.01], [9.0, 45.0]]
INSIDE = (9.005, 45.005)


def site(name: str = "north pit") -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
        "properties": {"role": "site", "name": name},
    }


def yard(radius_m: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(INSIDE)},
        "properties": {"role": "yard", "radius_m": radius_m},
    }


@pytest.fixture
async def pool(database_url: str, clean: None) -> AsyncIterator[AsyncConnectionPool[Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE fences RESTART IDENTITY CASCADE")  # registry rows refer to fences
    async with AsyncConnectionPool(
        database_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
    ) as opened:
        yield opened


@pytest.fixture
async def rds(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def eventually(check: Callable[[], bool], within_s: float = 1.0) -> float:
    """Seconds until ``check()`` holds; fails after ``within_s``."""
    t0 = time.perf_counter()
    while not check():
        if time.perf_counter() - t0 > within_s:
            pytest.fail(f"not seen within {within_s} s")
        await asyncio.sleep(0.005)
    return time.perf_counter() - t0


async def started(pool: AsyncConnectionPool[Any], redis_url: str, name: str) -> FenceSync:
    sync = FenceSync(pool, aioredis.Redis.from_url(redis_url, client_name=name), retry_s=0.05)
    await sync.start()
    return sync


async def stopped(*syncs: FenceSync) -> None:
    for sync in syncs:
        await sync.stop()
        await sync.redis.aclose()


async def test_save_load_replace_delete(pool: AsyncConnectionPool[Any]) -> None:
    async with pool.connection() as conn:
        fence_id = await save(conn, site())
        fences = await load_all(conn)
        assert [(f.fence_id, f.kind, f.role) for f in fences] == [
            (str(fence_id), "polygon", "site")
        ]
        assert await save(conn, {**yard(50.0), "id": fence_id}) == fence_id
        (fence,) = await load_all(conn)
        assert fence.kind == "circle"
        cur = await conn.execute("SELECT version FROM fences WHERE id = %s", (fence_id,))
        assert await cur.fetchone() == (2,)
        assert await delete(conn, fence_id) is True
        assert await delete(conn, fence_id) is False
        assert await load_all(conn) == []
        with pytest.raises(KeyError):
            await save(conn, {**site(), "id": 999})


@pytest.mark.parametrize(
    ("feature", "field"),
    [
        ({**site(), "geometry": {"type": "Polygon", "coordinates": [SQUARE[:3]]}}, "coordinates"),
        ({**site(), "properties": {"name": "no role"}}, "properties.role"),
        (yard(-5.0), "radius_m"),
    ],
)
async def test_invalid_fences_are_refused_and_not_written(
    pool: AsyncConnectionPool[Any], feature: dict[str, Any], field: str
) -> None:
    async with pool.connection() as conn:
        with pytest.raises(GeometryError) as refused:
            await save(conn, feature)
        assert field in refused.value.field
        assert await load_all(conn) == []


async def test_a_change_reaches_another_worker_within_a_second(
    pool: AsyncConnectionPool[Any], rds: aioredis.Redis, redis_url: str
) -> None:
    async with pool.connection() as conn:
        first = await save(conn, site())
    a, b = await started(pool, redis_url, "fence-a"), await started(pool, redis_url, "fence-b")
    try:
        assert [k for k, _ in b.index.containing(*INSIDE)] == [str(first)]  # built from the DB
        async with pool.connection() as conn:
            second = await save(conn, yard(30.0), rds)
        seen_s = await eventually(lambda: len(b.index.containing(*INSIDE)) == 2)
        assert seen_s < 1.0
        await eventually(lambda: len(a.index.containing(*INSIDE)) == 2)
        async with pool.connection() as conn:
            await delete(conn, first, rds)
        await eventually(lambda: [k for k, _ in b.index.containing(*INSIDE)] == [str(second)])
    finally:
        await stopped(a, b)


async def test_a_worker_that_lost_its_subscription_catches_up(
    pool: AsyncConnectionPool[Any], rds: aioredis.Redis, redis_url: str
) -> None:
    async with pool.connection() as conn:
        kept, dropped = await save(conn, site("kept")), await save(conn, yard(30.0))
    sync = await started(pool, redis_url, "fence-lossy")
    try:
        resyncs = sync.resyncs
        async with pool.connection() as conn:  # changes nobody announces: the notices are lost
            await delete(conn, dropped)
            await save(conn, {**yard(80.0), "id": kept})
            added = await save(conn, site("added"))
        await _kill_client(rds, "fence-lossy")
        await eventually(lambda: sync.resyncs > resyncs)
        expected = {str(kept): "circle", str(added): "polygon"}
        await eventually(lambda: dict(sync.index.containing(*INSIDE)) == expected)
        assert sync.versions == {kept: 2, added: 1}
    finally:
        await stopped(sync)


async def _kill_client(rds: aioredis.Redis, name: str) -> None:
    """Drop one named connection (only ours: other clients of this Redis are left alone)."""
    clients = await rds.client_list()
    ids = [c["id"] for c in clients if c.get("name") == name]
    assert ids, f"no redis client named {name}"
    for client_id in ids:
        await rds.client_kill_filter(_id=client_id)
