"""Permits expire by themselves: reads already show ``expired`` past ``valid_to``; this round
(the maintenance task ``permit-expiry``, tracker.maintenance) also stores it and takes the
corridors out of the engine."""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from tracker.permits import service
from tracker.registry import places

log = logging.getLogger(__name__)


async def expire_once(pool: AsyncConnectionPool[Any], redis: aioredis.Redis) -> int:
    async with pool.connection() as conn:
        changes = await service.expire_due(conn)
    await places.publish(redis, changes)
    return len(changes)
