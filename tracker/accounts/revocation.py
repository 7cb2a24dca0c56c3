"""Revocation across API processes: publish after the commit, and a listener per process.

A write that withdraws credentials (a terminal's token rotated, a terminal or vehicle changed or
deactivated, a staff account's tokens revoked) publishes a ``tracker.wire.Revocation`` on
``Channel.REVOCATIONS`` after its commit. Every API process runs a :class:`RevocationListener`
that hands each message to its caches (the terminal token cache, the live websockets), which drop
what they hold for it at once.

A lost subscription must never let a cache serve a revoked credential for long: the listener
tells its caches when it is not listening (they then keep entries for a short time only) and
when it listens again (they flush everything, since messages may have been missed meanwhile). A
silent connection is found by a ping every ``ping_interval_s``: no answer within three intervals
counts as lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tracker.wire import Channel, Revocation, channel

log = logging.getLogger(__name__)


class RevocationCache(Protocol):
    def revoke(self, message: Revocation) -> None: ...

    def set_listening(self, listening: bool) -> None:
        """False: serve entries for a short time only; True: flush everything, then trust."""


async def publish_revocations(redis: aioredis.Redis, messages: list[Revocation]) -> None:
    """Publish after the commit. If Redis is away the listeners are not listening either, so
    their caches already keep entries briefly only; the failure is logged."""
    name = channel(redis, Channel.REVOCATIONS)
    for message in messages:
        try:
            await redis.publish(name, message.encode())
        except (RedisError, OSError) as exc:
            log.warning("revocation %s not published: %s", message, exc)


class RevocationListener:
    def __init__(
        self,
        redis_url: str,
        caches: list[RevocationCache],
        *,
        ping_interval_s: float = 5.0,
        retry_s: float = 1.0,
    ) -> None:
        # its own client, named, so an operator (or a test) can find its connection
        self.client_name = f"tracker-revocations-{os.getpid()}-{id(self):x}"
        self._redis = aioredis.Redis.from_url(redis_url, client_name=self.client_name)
        self._caches = caches
        self._ping_interval_s = ping_interval_s
        self._retry_s = retry_s
        self._task: asyncio.Task[None] | None = None
        self.listening = False
        self.subscriptions = 0  # how many times it (re)subscribed
        self.received = 0

    def add(self, cache: RevocationCache) -> None:
        self._caches.append(cache)
        cache.set_listening(self.listening)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="revocations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._set(False)
        await self._redis.aclose()

    def _set(self, listening: bool) -> None:
        if listening != self.listening:
            self.listening = listening
            for cache in self._caches:
                cache.set_listening(listening)

    def _dispatch(self, data: Any) -> None:
        try:
            message = Revocation.decode(data)
        except ValueError as exc:
            log.warning("bad revocation message skipped: %s", exc)
            return
        self.received += 1
        for cache in self._caches:
            cache.revoke(message)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("revocation subscription lost (%s); caches on a short TTL", exc)
            self._set(False)
            await asyncio.sleep(self._retry_s)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(channel(self._redis, Channel.REVOCATIONS))
            heard = time.monotonic()
            pinged = heard
            while True:
                message = await pubsub.get_message(timeout=min(1.0, self._ping_interval_s))
                now = time.monotonic()
                if message is not None:
                    heard = now
                    kind = message.get("type")
                    if kind == "subscribe":
                        self.subscriptions += 1
                        self._set(True)
                    elif kind == "message":
                        self._dispatch(message["data"])
                if now - pinged >= self._ping_interval_s:
                    await pubsub.ping()
                    pinged = now
                if now - heard > 3 * self._ping_interval_s:
                    raise TimeoutError("no answer to pings")
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
