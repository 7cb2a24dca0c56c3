"""Latest position per vehicle: kept in Redis by the stream publisher, rebuilt from the database.

Redis is the fast path. When its hash is missing (a fresh or flushed Redis), the newest stored
fix of every vehicle is read back from ``pings`` and written to Redis again; when Redis cannot
be reached, reads fall back to the database.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from tracker.history import repo
from tracker.ingest.stream import LATEST_KEY, LATEST_TIME_KEY

log = logging.getLogger(__name__)
REBUILD_WINDOW = timedelta(days=7)


def _record(row: dict[str, Any]) -> dict[str, Any]:
    rec = {k: v for k, v in row.items() if v is not None and k not in ("fix_time", "received_at")}
    rec["time"] = row["fix_time"].astimezone(UTC).isoformat().replace("+00:00", "Z")
    rec["received_at"] = row["received_at"].astimezone(UTC).isoformat().replace("+00:00", "Z")
    rec["source"] = {1: "http", 2: "jt808"}.get(row.get("source") or 1, "http")
    return rec


async def _from_db(pool: AsyncConnectionPool) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        rows = await repo.latest_from_db(conn, datetime.now(UTC) - REBUILD_WINDOW)
    return [_record(r) for r in rows]


async def rebuild(pool: AsyncConnectionPool, redis: aioredis.Redis) -> int:
    """Write the newest stored fix of every vehicle to Redis; return how many."""
    records = await _from_db(pool)
    if not records:
        return 0
    async with redis.pipeline(transaction=True) as pipe:
        for rec in records:
            t_us = int(datetime.fromisoformat(rec["time"]).timestamp() * 1_000_000)
            pipe.hsetnx(LATEST_TIME_KEY, rec["vehicle_id"], t_us)
            pipe.hsetnx(LATEST_KEY, rec["vehicle_id"], orjson.dumps(rec))
        await pipe.execute()
    log.info("rebuilt latest positions of %d vehicles from the database", len(records))
    return len(records)


async def ensure_latest(pool: AsyncConnectionPool, redis: aioredis.Redis) -> None:
    try:
        if not await redis.exists(LATEST_KEY):
            await rebuild(pool, redis)
    except aioredis.RedisError as exc:
        log.warning("cannot check latest positions in Redis: %s", exc)


async def latest_all(pool: AsyncConnectionPool, redis: aioredis.Redis) -> list[dict[str, Any]]:
    try:
        raw = await redis.hvals(LATEST_KEY)
    except aioredis.RedisError as exc:
        log.warning("Redis unavailable for latest positions (%s); reading the database", exc)
        return await _from_db(pool)
    return [orjson.loads(v) for v in raw]
