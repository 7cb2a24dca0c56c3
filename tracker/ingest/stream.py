"""After commit: fixes go to the per-shard Redis streams, and the latest position per vehicle.

The streams are the engine's fast path; the database stays the source of truth (an engine that
misses entries catches up from ``pings``). So publishing never holds up acknowledgements: the
writer hands stored fixes over and a single task publishes them in commit order. If Redis is
away, the backlog is bounded and the oldest groups are dropped (counted and logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import orjson
import redis.asyncio as aioredis

from tracker.wire import Fix

log = logging.getLogger(__name__)

LATEST_KEY = "tracker:latest"  # hash: vehicle id -> GeoJSON feature of its newest fix
LATEST_TIME_KEY = "tracker:latest:t"  # hash: vehicle id -> fix time in epoch microseconds
STREAM_PREFIX = "tracker:fixes:"

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


def shard_of(vehicle_id: int, shards: int) -> int:
    """Stable shard of a vehicle (vehicle ids are stable integers)."""
    return vehicle_id % shards


def stream_key(shard: int) -> str:
    return f"{STREAM_PREFIX}{shard}"


def epoch_us(fix: Fix) -> int:
    return int(fix.fix_time.timestamp() * 1_000_000)


# A stream entry holds ``fixes``: a JSON array of rows in this column order (compact and cheap
# to build: times as epoch microseconds). ``decode_rows`` turns them back into dicts.
STREAM_FIELDS = (
    "vehicle_id",
    "t_us",
    "received_us",
    "lon",
    "lat",
    "speed_kmh",
    "heading_deg",
    "altitude_m",
    "satellites",
    "hdop",
    "valid",
    "ignition",
    "loaded",
    "body_lifted",
    "cover_closed",
    "alarm_bits",
    "flags",
    "source",
)


def stream_row(fix: Fix) -> list[Any]:
    return [
        fix.vehicle_id,
        int(fix.fix_time.timestamp() * 1e6),
        int(fix.received_at.timestamp() * 1e6),
        fix.lon,
        fix.lat,
        fix.speed_kmh,
        fix.heading_deg,
        fix.altitude_m,
        fix.satellites,
        fix.hdop,
        fix.valid,
        fix.ignition,
        fix.loaded,
        fix.body_lifted,
        fix.cover_closed,
        fix.alarm_bits,
        fix.flags,
        fix.source,
    ]


def decode_rows(payload: bytes) -> list[dict[str, Any]]:
    return [dict(zip(STREAM_FIELDS, row, strict=True)) for row in orjson.loads(payload)]


_LATEST_PROPS = (
    "speed_kmh",
    "heading_deg",
    "altitude_m",
    "satellites",
    "hdop",
    "ignition",
    "loaded",
    "body_lifted",
    "cover_closed",
)
JSON_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def point_feature(lon: float, lat: float, props: dict[str, Any]) -> bytes:
    """A GeoJSON Point feature, rendered once (read endpoints splice these without parsing)."""
    return orjson.dumps(
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": props,
        },
        option=JSON_OPTS,
    )


def latest_feature(fix: Fix) -> bytes:
    """The latest-position record of a vehicle, as kept in Redis."""
    props: dict[str, Any] = {
        "vehicle_id": fix.vehicle_id,
        "time": fix.fix_time,
        "received_at": fix.received_at,
        "valid": fix.valid,
        "alarm_bits": fix.alarm_bits,
        "source": fix.source,
    }
    for name in _LATEST_PROPS:
        value = getattr(fix, name)
        if value is not None:
            props[name] = value
    return point_feature(fix.lon, fix.lat, props)


class StreamPublisher:
    def __init__(
        self, redis: aioredis.Redis, *, shards: int, maxlen: int, backlog_groups: int = 1000
    ) -> None:
        self._redis = redis
        self._shards = shards
        self._maxlen = maxlen
        self._backlog: deque[list[Fix]] = deque()
        self._backlog_groups = backlog_groups
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()  # set while the backlog is empty
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._latest = redis.register_script(_LATEST_LUA)
        self.dropped_groups = 0
        self.published_fixes = 0

    def submit(self, fixes: list[Fix]) -> None:
        if len(self._backlog) >= self._backlog_groups:
            self._backlog.popleft()
            self.dropped_groups += 1
            log.warning("stream backlog full: dropped a group (engine will catch up from DB)")
        self._backlog.append(fixes)
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
                group = self._backlog[0]
                try:
                    await self.publish(group)
                except Exception as exc:  # Redis away: keep the backlog, retry later
                    log.warning("publishing to Redis failed: %s", exc)
                    await asyncio.sleep(0.5)
                    continue
                self._backlog.popleft()
                self.published_fixes += len(group)
            self._idle.set()

    async def publish(self, fixes: list[Fix]) -> None:
        by_shard: dict[int, list[list[Any]]] = {}
        newest: dict[int, Fix] = {}
        for fix in fixes:
            by_shard.setdefault(fix.vehicle_id % self._shards, []).append(stream_row(fix))
            if fix.flags == 0:
                held = newest.get(fix.vehicle_id)
                if held is None or held.fix_time < fix.fix_time:
                    newest[fix.vehicle_id] = fix
        async with self._redis.pipeline(transaction=False) as pipe:
            for shard, records in by_shard.items():
                pipe.xadd(
                    stream_key(shard),
                    {"n": len(records), "fixes": orjson.dumps(records)},
                    maxlen=self._maxlen,
                    approximate=True,
                )
            if newest:
                args: list[Any] = []
                for vid, fix in newest.items():
                    args += [vid, epoch_us(fix), latest_feature(fix)]
                await self._latest(keys=[LATEST_KEY, LATEST_TIME_KEY], args=args, client=pipe)
            await pipe.execute()
