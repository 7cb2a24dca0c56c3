"""The ingest pipeline, composed in one place: validate → filter → group commit → publish.

Every process that takes fixes in gets its pipeline from :func:`build_pipeline`: the HTTP API
(``tracker.deps.Platform``) and the JT/T 808 gateway process (``tracker gateway``); the ingest
and JT/T 808 benches measure those processes, so they measure this pipeline. The stages:

- validate: the front end's decoder (``tracker.ingest.validate``, ``tracker.ingest.jt808``)
  turns a request or frame into fixes or field errors;
- filter and store: :class:`~tracker.ingest.service.IngestService` applies the noise filters
  and hands the rest to the :class:`~tracker.ingest.writer.GroupCommitWriter`, which answers
  each fix once its group is committed;
- after commit (:meth:`IngestPipeline.after_commit`, the writer's hook): the jump filter
  remembers the stored fixes, and the :class:`~tracker.ingest.stream.StreamPublisher` takes them
  to the engine's shard streams and the latest positions.

The process owns the pool and the Redis client; the pipeline only borrows them. Its
:attr:`IngestPipeline.readiness` answers whether fixes can be taken now (database, ``pings``
writable, Redis, the writer neither stalled nor full): the API's ``/readyz`` and the gateway's
readiness listener (tracker.health).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from tracker.health import Check, Readiness, pings_writable_check, process_readiness
from tracker.history import latest as latest_store
from tracker.ingest.quarantine import QuarantineRecorder
from tracker.ingest.service import IngestService
from tracker.ingest.stream import StreamPublisher
from tracker.ingest.writer import GroupCommitWriter
from tracker.settings import Settings
from tracker.wire import CommitMark, Fix


@dataclass(slots=True)
class IngestPipeline:
    writer: GroupCommitWriter
    publisher: StreamPublisher
    service: IngestService
    pool: AsyncConnectionPool[Any]
    redis: aioredis.Redis
    readiness: Readiness

    def after_commit(self, stored: list[Fix], marks: dict[int, CommitMark]) -> None:
        """The writer's post-commit hook: runs in commit order, never blocks on Redis. ``marks``:
        the group's commit-log row per shard, which its stream entries carry."""
        self.service.remember(stored)
        self.publisher.submit(stored, marks)

    async def start(self) -> None:
        """Start storing and publishing (the pool must be open). The latest positions are
        rebuilt from the database first if Redis lost them: the publisher only updates them."""
        await self.writer.start()
        await self.publisher.start()
        if self.service.quarantine is not None:
            await self.service.quarantine.start()
        await latest_store.ensure_latest(self.pool, self.redis)

    async def stop(self) -> None:
        """Stop taking fixes (waiting ones are refused), then publish what was stored."""
        await self.writer.stop()
        await self.publisher.stop()
        if self.service.quarantine is not None:
            await self.service.quarantine.stop()


def writer_check(writer: GroupCommitWriter, stall_s: float) -> Check:
    """The writer takes work: running, its queue under the bound, nothing waiting too long."""

    async def check() -> str | None:
        if not writer.running:
            return "the writer is not running"
        if writer.queued_rows >= writer.max_queued_rows:
            return f"the queue is full ({writer.queued_rows} rows waiting)"
        stalled = writer.stalled_s()
        if stalled > stall_s:
            return f"work has waited {stalled:.1f} s (over {stall_s:g} s)"
        return None

    return check


def build_pipeline(
    settings: Settings,
    pool: AsyncConnectionPool[Any],
    redis: aioredis.Redis,
    protocol: str = "http",
) -> IngestPipeline:
    """The pipeline of one process, from its settings; started with ``start()``. ``protocol``
    labels its metrics (the API takes HTTP, the gateway JT/T 808)."""
    writer = GroupCommitWriter(
        settings.database_url,
        h3_resolution=settings.h3_resolution,
        max_rows=settings.writer_max_rows,
        shards=settings.shards,
        connections=settings.writer_connections,
        max_queued_rows=settings.writer_max_queued_rows,
        deadline_s=settings.ingest_deadline_s,
        statement_timeout_s=settings.writer_statement_timeout_s,
        lock_timeout_s=settings.writer_lock_timeout_s,
        retry_after_s=settings.retry_after_s,
    )
    pipeline = IngestPipeline(
        writer=writer,
        publisher=StreamPublisher(
            redis,
            shards=settings.shards,
            maxlen=settings.stream_maxlen,
            backlog_groups=settings.stream_backlog_groups,
        ),
        service=IngestService(writer, settings.filters, protocol),
        pool=pool,
        redis=redis,
        readiness=process_readiness(settings, pool, redis),
    )
    pipeline.service.quarantine = QuarantineRecorder(pool)  # refused fixes, kept and counted
    pipeline.readiness.register("pings", pings_writable_check(pool))
    pipeline.readiness.register("writer", writer_check(writer, settings.writer_stall_s))
    writer.on_stored = pipeline.after_commit
    return pipeline
