"""Keeping a worker's index in step with the database: :class:`FenceSync`.

Start-up subscribes to the fences channel first and loads the table second, so no change falls
between the two. Each notice names a fence and its version; the worker re-reads that row (the
database stays the truth, the notice stays small) and applies it unless it already holds that
version. When the subscription breaks, the worker reconnects and reloads exactly the fences whose
version differs from what it holds, and drops those no longer active. Building covers is CPU work,
so it runs in a thread and the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tracker.geofence.errors import GeometryError
from tracker.geofence.index import Change, GeofenceIndex, Remove, Upsert
from tracker.geofence.store import FenceRow, active_versions, load_rows
from tracker.wire import Channel, FenceChange, channel

log = logging.getLogger(__name__)


class FenceSync:
    """Owns a :class:`GeofenceIndex` and follows the fences table through Redis."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        redis: aioredis.Redis,
        index: GeofenceIndex | None = None,
        *,
        fences: str | None = None,
        retry_s: float = 0.5,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.index = index if index is not None else GeofenceIndex()
        self.channel = fences if fences is not None else channel(redis, Channel.FENCES)
        self.retry_s = retry_s
        self.versions: dict[int, int] = {}  # what the index holds: fence id -> version
        self.resyncs = 0
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Subscribe, build the index from the database, and follow changes in the background.
        Returns once the index is built."""
        self._task = asyncio.create_task(self._run(), name="fence-sync")
        ready = asyncio.create_task(self._ready.wait())
        await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            ready.cancel()
            self._task.result()  # start-up failed: raise it here

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except (
                RedisConnectionError,
                RedisTimeoutError,
                OSError,
                psycopg.OperationalError,
                PoolTimeout,
            ) as exc:  # Redis or the database away: resubscribe and resync when back
                log.warning("fence subscription lost (%s); resubscribing", exc)
            await asyncio.sleep(self.retry_s)

    async def _follow(self) -> None:
        async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self.channel)
            await self.resync()
            self._ready.set()
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    await self._on_message(message["data"])

    async def _on_message(self, raw: bytes | str) -> None:
        try:
            change = FenceChange.decode(raw)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring a malformed fence notice %r: %s", raw, exc)
            return
        if self.versions.get(change.id, 0) >= change.version:
            return  # already held (the resync after a reconnect may have read it)
        await self._reload([change.id])

    async def resync(self) -> None:
        """Reload every fence whose version differs from the one held; drop retired ones."""
        async with self.pool.connection() as conn:
            current = await active_versions(conn)
        stale = [i for i, v in current.items() if self.versions.get(i) != v]
        gone = [i for i in self.versions if i not in current]
        self.resyncs += 1
        await self._reload(stale, gone)

    async def _reload(self, ids: list[int], gone: list[int] | None = None) -> None:
        """Re-read ``ids`` from the database and apply them, with removals, in one swap."""
        rows: list[FenceRow] = []
        if ids:
            async with self.pool.connection() as conn:
                rows = await load_rows(conn, ids)
        found = {row.id for row in rows}
        removed = [*(gone or []), *(i for i in ids if i not in found)]
        changes: list[Change] = [Remove(str(i)) for i in removed]
        held: dict[int, int] = {}
        for row in rows:
            try:
                changes.append(Upsert(row.to_fence()))
            except GeometryError as exc:  # written around the API: keep serving the rest
                log.error("fence %s has invalid geometry, skipped: %s", row.id, exc)
                continue
            held[row.id] = row.version
        if not changes:
            return
        await asyncio.to_thread(self.index.apply, changes)
        for fence_id in removed:
            self.versions.pop(fence_id, None)
        self.versions.update(held)
