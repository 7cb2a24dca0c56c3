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

The process owns the pool and the Redis client; the pipeline only borrows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from tracker.history import latest as latest_store
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
        await latest_store.ensure_latest(self.pool, self.redis)

    async def stop(self) -> None:
        """Stop taking fixes (waiting ones are refused), then publish what was stored."""
        await self.writer.stop()
        await self.publisher.stop()


def build_pipeline(
    settings: Settings, pool: AsyncConnectionPool[Any], redis: aioredis.Redis
) -> IngestPipeline:
    """The pipeline of one process, from its settings; started with ``start()``."""
    writer = GroupCommitWriter(
        settings.database_url,
        h3_resolution=settings.h3_resolution,
        max_rows=settings.writer_max_rows,
        shards=settings.shards,
        connections=settings.writer_connections,
    )
    pipeline = IngestPipeline(
        writer=writer,
        publisher=StreamPublisher(
            redis,
            shards=settings.shards,
            maxlen=settings.stream_maxlen,
            backlog_groups=settings.stream_backlog_groups,
        ),
        service=IngestService(writer, settings.filters),
        pool=pool,
        redis=redis,
    )
    writer.on_stored = pipeline.after_commit
    return pipeline
