"""Readiness: can this process do its work now? One answer a load balancer can trust.

A process registers named checks (:class:`Readiness`): each is an async callable answering
``None`` when all is well, else what is wrong. A check that does not answer within the timeout,
or raises, fails with that as its reason. The API answers ``GET /readyz`` from its readiness
(tracker.app); the gateway and the engine, which have no HTTP server, answer it on a tiny
listener of their own (:class:`HealthServer`, started by :func:`serve_readiness` on
``TRACKER_HEALTH_PORT``; 0: none). The answer is 200 ``{"status": "ready", "checks": {...}}``
or 503 ``{"status": "not ready", "failed": [names], "checks": {name: reason}}``. ``GET
/healthz`` on the listener answers 200 while the process runs (liveness).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import psycopg
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from tracker import metrics
from tracker.settings import Settings

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[str | None]]


class Readiness:
    """The named checks of one process."""

    def __init__(self, timeout_s: float = 2.0) -> None:
        self.timeout_s = timeout_s
        self._checks: dict[str, Check] = {}

    def register(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def _run(self, check: Check) -> str | None:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await check()
        except TimeoutError:
            return f"no answer within {self.timeout_s:g} s"
        except Exception as exc:  # a failing check is an answer, not an error of the probe
            return f"{type(exc).__name__}: {str(exc).strip() or 'failed'}"

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """Run every check at once: (ready, the JSON body)."""
        names = list(self._checks)
        answers = await asyncio.gather(*(self._run(self._checks[n]) for n in names))
        failed = [n for n, why in zip(names, answers, strict=True) if why is not None]
        checks = {n: why or "ok" for n, why in zip(names, answers, strict=True)}
        if failed:
            return False, {"status": "not ready", "failed": failed, "checks": checks}
        return True, {"status": "ready", "checks": checks}


def database_check(pool: AsyncConnectionPool[Any]) -> Check:
    """The database answers through this process's pool (a pool exhausted by blocked queries
    fails too: the process could not serve)."""

    async def check() -> str | None:
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")
        return None

    return check


def pings_writable_check(pool: AsyncConnectionPool[Any], lock_timeout_ms: int = 500) -> Check:
    """Fixes could be written now: the lock a COPY into ``pings`` needs is granted at once (a
    session holding ``pings`` locked stalls every write)."""

    async def check() -> str | None:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}".encode())
            try:
                await conn.execute("LOCK TABLE ONLY pings IN ROW EXCLUSIVE MODE")
            except psycopg.errors.LockNotAvailable:
                return f"pings is locked by another session (waited {lock_timeout_ms} ms)"
        return None

    return check


def redis_check(redis: aioredis.Redis) -> Check:
    async def check() -> str | None:
        await redis.ping()
        return None

    return check


def process_readiness(
    settings: Settings, pool: AsyncConnectionPool[Any], redis: aioredis.Redis
) -> Readiness:
    """The checks every process has: its database (through its pool) and its Redis."""
    readiness = Readiness(settings.readiness_timeout_s)
    readiness.register("database", database_check(pool))
    readiness.register("redis", redis_check(redis))
    return readiness


class HealthServer:
    """A tiny HTTP/1.0 listener: ``GET /readyz``, ``GET /healthz`` and ``GET /metrics``
    (Prometheus, tracker.metrics), one request per connection. For processes without an HTTP
    server (the gateway, the engine)."""

    def __init__(self, readiness: Readiness, host: str, port: int) -> None:
        self.readiness = readiness
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        log.info("readiness on http://%s:%d/readyz", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5.0):
                head = await reader.readuntil(b"\r\n\r\n")
            words = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            method = words[0]
            path = words[1].split("?", 1)[0] if len(words) > 1 else ""
            if method not in ("GET", "HEAD"):
                status, body = 405, {"error": "method_not_allowed", "message": "use GET"}
            elif path == "/readyz":
                ready, body = await self.readiness.report()
                status = 200 if ready else 503
            elif path == "/healthz":
                status, body = 200, {"status": "ok"}
            elif path == "/metrics":
                status, body = 200, None
            else:
                status, body = (
                    404,
                    {
                        "error": "not_found",
                        "message": "GET /readyz, /healthz or /metrics",
                    },
                )
            content_type = "application/json"
            if body is None:
                payload, content_type = await asyncio.to_thread(metrics.exposition)
            else:
                payload = orjson.dumps(body)
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(
                status, "Service Unavailable"
            )
            writer.write(
                f"HTTP/1.0 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + (payload if method == "GET" else b"")
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def serve_readiness(readiness: Readiness, settings: Settings) -> HealthServer | None:
    """Start the listener on ``settings.health_port`` (None when it is 0: off)."""
    if not settings.health_port:
        return None
    server = HealthServer(readiness, settings.health_host, settings.health_port)
    await server.start()
    return server
