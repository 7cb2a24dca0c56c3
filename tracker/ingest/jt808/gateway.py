"""The JT/T 808 TCP gateway: terminal connections in, fixes into the ingest pipeline.

One :class:`TerminalConnection` (an ``asyncio.Protocol``) per socket: bytes go through the
codec's :class:`FrameSplitter` (bounded), frames are queued (bounded: reading pauses when the
queue is full or the peer stops reading our replies) and handled in order by a task that exists
only while there is work, so 10,000 idle terminals cost no tasks. One sweeper closes idle
connections.

``tracker gateway`` runs it as its own process (:func:`gateway_process`): its own pool, Redis
client and ingest pipeline (tracker.pipeline), built from the settings. It runs no migrations
(it waits for the schema), no periodic tasks and no live listener: those belong to the API and
maintenance processes (tracker.processes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import signal
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, cast

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from tracker import metrics
from tracker.db import make_pool, wait_for_schema
from tracker.health import serve_readiness
from tracker.ingest.jt808.framing import FrameSplitter
from tracker.ingest.jt808.session import (
    GatewayStats,
    Session,
    SessionHandler,
    SessionRegistry,
    Work,
)
from tracker.ingest.service import IngestService
from tracker.pipeline import build_pipeline
from tracker.runtime import tune_gc
from tracker.settings import Jt808Settings, Settings
from tracker.wire import HEARD_KEY

log = logging.getLogger(__name__)

MAX_QUEUED_FRAMES = 64  # per connection; reading pauses beyond this
WRITE_HIGH_WATER = 64 * 1024


class TerminalConnection(asyncio.Protocol):
    def __init__(self, gateway: Jt808Gateway) -> None:
        self.gateway = gateway
        self.splitter = FrameSplitter()
        self.session = Session(close=self.close)
        self.queue: deque[bytes] = deque()
        self.transport: asyncio.Transport | None = None
        self.worker: asyncio.Task[None] | None = None
        self.last_seen = 0.0
        self._read_paused = False
        self._write_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop: not a subclass
        self.last_seen = self.gateway.loop.time()
        if not self.gateway.admit(self):
            transport.abort()
            return
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gateway.forget(self)
        if self.worker is not None:
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        self.last_seen = self.gateway.loop.time()
        self.queue.extend(self.splitter.feed(data))
        if not self.queue:
            return
        if len(self.queue) >= MAX_QUEUED_FRAMES:
            self._pause_reading()
        if self.worker is None:
            self.worker = self.gateway.loop.create_task(self._drain())

    def pause_writing(self) -> None:
        self._write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._read_paused and not self._write_paused and len(self.queue) < MAX_QUEUED_FRAMES:
            self._read_paused = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

    async def _drain(self) -> None:
        handler, session = self.gateway.handler, self.session
        try:
            while self.queue and not session.closing:
                now = self.gateway.loop.time()
                work: list[Work] = []
                while self.queue:
                    work.extend(handler.decode(session, self.queue.popleft(), now))
                self._resume_reading()
                replies = await handler.handle(session, work)
                self._write(replies)
        except Exception:  # a handler bug must not leave the terminal unanswered forever
            log.exception("connection handler failed; closing the connection")
            self.close()
        finally:
            self.worker = None
        if session.closing:
            self.close()

    def _write(self, replies: list[bytes]) -> None:
        transport = self.transport
        if replies and transport is not None and not transport.is_closing():
            transport.write(b"".join(replies))


class Jt808Gateway:
    def __init__(
        self,
        settings: Jt808Settings,
        pool: AsyncConnectionPool[Any],
        ingest: IngestService,
        redis: aioredis.Redis | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis  # heartbeats go to ``HEARD_KEY`` for the engine (None: not told)
        self.stats = GatewayStats()
        self.registry = SessionRegistry(self.stats)
        self.handler = SessionHandler(settings, pool, ingest, self.registry, self.stats)
        self.connections: set[TerminalConnection] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop  # set by start()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._server = await self.loop.create_server(
            lambda: TerminalConnection(self),
            self.settings.host,
            self.settings.port,
            backlog=4096,
            reuse_address=True,
        )
        self._sweeper = asyncio.create_task(self._sweep(), name="jt808-idle-sweeper")
        log.info("JT/T 808 gateway listening on %s:%d", self.settings.host, self.port)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()

    def admit(self, conn: TerminalConnection) -> bool:
        if len(self.connections) >= self.settings.max_connections:
            log.warning("connection refused: %d connections open", len(self.connections))
            return False
        self.connections.add(conn)
        self.stats.connections = len(self.connections)
        metrics.GATEWAY_CONNECTIONS.set(len(self.connections))
        return True

    def forget(self, conn: TerminalConnection) -> None:
        self.connections.discard(conn)
        self.registry.unbind(conn.session)
        if conn.session.reassembler is not None:  # its partial messages leave the budget
            conn.session.reassembler.clear()
        self.stats.connections = len(self.connections)
        metrics.GATEWAY_CONNECTIONS.set(len(self.connections))

    async def _sweep(self) -> None:
        idle_s = self.settings.idle_timeout_s
        retransmit_s = self.settings.subpacket_retransmit_after_s
        while True:
            await asyncio.sleep(min(max(idle_s / 4, 0.05), 5.0, max(retransmit_s / 2, 0.05)))
            now = self.loop.time()
            for conn in self.connections:  # 0x8003 for messages whose packets stopped coming
                if conn.session.reassembler is not None and not conn.session.closing:
                    conn._write(self.handler.retransmission_requests(conn.session, now))
            cutoff = now - idle_s
            for conn in [c for c in self.connections if c.last_seen < cutoff]:
                if conn.worker is None:  # a frame being answered is not idleness
                    self.stats.idle_closed += 1
                    conn.close()
            await self.flush_heard()

    async def flush_heard(self) -> None:
        """The heartbeats heard since the last flush, to ``HEARD_KEY`` in one write (the
        engine's clock reads them: a terminal heard while no positions come is holding them
        back, not cut). A Redis error keeps them for the next round."""
        heard = self.handler.heard
        if self.redis is None or not heard:
            return
        taken, self.handler.heard = heard, {}
        try:
            mapping = {str(k): v for k, v in taken.items()}
            await self.redis.hset(HEARD_KEY, mapping=mapping)  # type: ignore[misc]
        except (OSError, aioredis.ConnectionError) as exc:
            log.warning("recording heartbeats failed: %s", exc)
            for vehicle_id, heard_us in taken.items():  # newer ones meanwhile win
                self.handler.heard.setdefault(vehicle_id, heard_us)


@contextlib.asynccontextmanager
async def gateway_process(settings: Settings) -> AsyncIterator[Jt808Gateway]:
    """Everything ``tracker gateway`` runs, started, and stopped on exit: the schema waited for,
    a pool, a Redis client, the ingest pipeline and the gateway listening on it."""
    await wait_for_schema(settings.database_url, settings.schema_wait_s)
    pool = make_pool(settings)
    redis = aioredis.Redis.from_url(settings.redis_url)
    pipeline = build_pipeline(settings, pool, redis, protocol="jt808")
    gateway = Jt808Gateway(settings.jt808, pool, pipeline.service, redis)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(redis.aclose)
        await pool.open(wait=True)
        stack.push_async_callback(pool.close)
        await pipeline.start()
        stack.push_async_callback(pipeline.stop)
        await gateway.start()
        stack.push_async_callback(gateway.stop)
        if (health := await serve_readiness(pipeline.readiness, settings)) is not None:
            stack.push_async_callback(health.stop)
        if settings.tune_gc:
            tune_gc()
        yield gateway


def raise_fd_limit() -> int:
    """Allow as many sockets as the hard limit permits; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with gateway_process(settings) as gateway:
        print(f"JT/T 808 gateway on {settings.jt808.host}:{gateway.port}", flush=True)
        await stop.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker gateway", description=__doc__)
    parser.add_argument("--host", help="defaults to TRACKER_JT808__HOST")
    parser.add_argument("--port", type=int, help="defaults to TRACKER_JT808__PORT (6808)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    settings = Settings.load()
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.model_copy(update={"jt808": settings.jt808.model_copy(update=overrides)})
    raise_fd_limit()
    import uvloop

    uvloop.run(_serve(settings))
    return 0
