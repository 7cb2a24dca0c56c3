"""After commit: fixes go to the per-shard Redis streams, and the latest position per vehicle.

Entries, keys and the row codec are the wire's (:mod:`tracker.wire`). The streams are the
engine's fast path; the database stays the source of truth: each entry carries the seq and xid
of its group's row in the ingest commit log (``ingest_commits``, written in the commit), and an
engine that misses entries takes their fixes from the log and ``pings``. So publishing never
holds up acknowledgements: the writer hands stored fixes over and a single task publishes them
in commit order. If Redis is
away, the backlog is bounded and the oldest groups are dropped (counted and logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import redis.asyncio as aioredis

from tracker import metrics
from tracker.wire import (
    LATEST_KEY,
    LATEST_TIME_KEY,
    CommitMark,
    Fix,
    entry_fields,
    epoch_us,
    latest_feature,
    shard_of,
    stream_key,
    stream_row,
)

log = logging.getLogger(__name__)

# Set a vehicle's latest fix only if it is newer than the one held (late fixes must not win).
_LATEST_LUA = """
for i = 1, #ARGV, 3 do
  local held = redis.call('HGET', KEYS[2], ARGV[i])
  if (not held) or tonumber(held) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  end
end
return 1
"""


class StreamPublisher:
    def __init__(
        self, redis: aioredis.Redis, *, shards: int, maxlen: int, backlog_groups: int = 1000
    ) -> None:
        self._redis = redis
        self._shards = shards
        self._maxlen = maxlen
        self._backlog: deque[tuple[list[Fix], dict[int, CommitMark]]] = deque()
        self._backlog_groups = backlog_groups
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()  # set while the backlog is empty
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._latest = redis.register_script(_LATEST_LUA)
        self.dropped_groups = 0
        self.published_fixes = 0

    def submit(self, fixes: list[Fix], marks: dict[int, CommitMark] | None = None) -> None:
        """A committed group, with its commit-log row per shard (``marks``) for the entries."""
        if len(self._backlog) >= self._backlog_groups:
            self._backlog.popleft()
            self.dropped_groups += 1
            metrics.STREAM_DROPPED_GROUPS.inc()
            log.warning("stream backlog full: dropped a group (engine takes it from the DB)")
        self._backlog.append((fixes, marks or {}))
        metrics.STREAM_BACKLOG_GROUPS.set(len(self._backlog))
        self._idle.clear()
        self._wakeup.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stream-publisher")

    async def stop(self, drain_s: float = 2.0) -> None:
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), drain_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._backlog:
                group, marks = self._backlog[0]
                try:
                    await self.publish(group, marks)
                except Exception as exc:  # Redis away: keep the backlog, retry later
                    log.warning("publishing to Redis failed: %s", exc)
                    await asyncio.sleep(0.5)
                    continue
                self._backlog.popleft()
                self.published_fixes += len(group)
                metrics.STREAM_PUBLISHED_FIXES.inc(len(group))
                metrics.STREAM_BACKLOG_GROUPS.set(len(self._backlog))
            self._idle.set()

    async def publish(self, fixes: list[Fix], marks: dict[int, CommitMark] | None = None) -> None:
        by_shard: dict[int, list[list[Any]]] = {}
        newest: dict[int, Fix] = {}
        for fix in fixes:
            by_shard.setdefault(shard_of(fix.vehicle_id, self._shards), []).append(stream_row(fix))
            if fix.flags == 0:
                held = newest.get(fix.vehicle_id)
                if held is None or held.fix_time < fix.fix_time:
                    newest[fix.vehicle_id] = fix
        async with self._redis.pipeline(transaction=False) as pipe:
            for shard, records in by_shard.items():
                fields = entry_fields(records, None if marks is None else marks.get(shard))
                pipe.xadd(stream_key(shard), fields, maxlen=self._maxlen, approximate=True)
            if newest:
                args: list[Any] = []
                for vid, fix in newest.items():
                    args += [vid, epoch_us(fix.fix_time), latest_feature(fix)]
                await self._latest(keys=[LATEST_KEY, LATEST_TIME_KEY], args=args, client=pipe)
            await pipe.execute()
