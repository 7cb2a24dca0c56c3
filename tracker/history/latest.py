"""Latest position per vehicle: kept in Redis by the stream publisher, rebuilt from the database.

Redis holds each vehicle's newest fix as a rendered GeoJSON feature, so "latest of all" is read
and answered without parsing. When the hash is missing (a fresh or flushed Redis), the newest
stored fix of every vehicle is read back from ``pings`` and written to Redis again, rendered by
the same ``tracker.wire.latest_feature`` as the publisher's; when Redis cannot be reached, reads
fall back to the database.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from tracker.history import repo
from tracker.wire import LATEST_KEY, LATEST_TIME_KEY, epoch_us, latest_feature

log = logging.getLogger(__name__)
REBUILD_WINDOW = timedelta(days=7)


async def _from_db(pool: AsyncConnectionPool) -> list[tuple[int, datetime, bytes]]:
    async with pool.connection() as conn:
        rows = await repo.latest_from_db(conn, datetime.now(UTC) - REBUILD_WINDOW)
    return [(fix.vehicle_id, fix.fix_time, latest_feature(fix)) for fix in rows]


async def rebuild(pool: AsyncConnectionPool, redis: aioredis.Redis) -> int:
    """Write the newest stored fix of every vehicle to Redis; return how many."""
    found = await _from_db(pool)
    if not found:
        return 0
    async with redis.pipeline(transaction=True) as pipe:
        for vehicle_id, fix_time, feature in found:
            t_us = str(epoch_us(fix_time))
            pipe.hsetnx(LATEST_TIME_KEY, str(vehicle_id), t_us)
            pipe.hsetnx(LATEST_KEY, str(vehicle_id), feature)  # type: ignore[arg-type]
        await pipe.execute()
    log.info("rebuilt latest positions of %d vehicles from the database", len(found))
    return len(found)


async def ensure_latest(pool: AsyncConnectionPool, redis: aioredis.Redis) -> None:
    try:
        if not await redis.exists(LATEST_KEY):
            await rebuild(pool, redis)
    except aioredis.RedisError as exc:
        log.warning("cannot check latest positions in Redis: %s", exc)


async def latest_all(pool: AsyncConnectionPool, redis: aioredis.Redis) -> dict[int, bytes]:
    """Vehicle id → rendered feature of its newest fix."""
    try:
        raw: dict[bytes, bytes] = await redis.hgetall(LATEST_KEY)  # type: ignore[misc]
    except aioredis.RedisError as exc:
        log.warning("Redis unavailable for latest positions (%s); reading the database", exc)
        return {vid: feature for vid, _, feature in await _from_db(pool)}
    return {int(k): v for k, v in raw.items()}
