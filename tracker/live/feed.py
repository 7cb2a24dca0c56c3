"""Redis fan-out into one process's hub: one stream reader and one pub/sub listener per process.

Each API process reads every shard's fix stream itself (XREAD, from the tail it found at start,
so no entry between two reads is lost) and listens on the incidents, fences, vehicle states (the
engine's truck states) and yards (capacity alerts) channels; keys, channels and messages are
:mod:`tracker.wire`'s. Redis is the bus, so any number of API processes serve clients. After a
Redis error the feed resumes reading from the entries it had reached. Truck states are also read
from the ``VSTATE_KEY`` hash each time the channel is (re)subscribed, so none is missed while
the feed was away; the newer ``at`` wins, so the order of hash and channel does not matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from tracker.live.hub import LiveHub, VehicleState, engine_state_of
from tracker.registry.directory import VehicleDirectory
from tracker.wire import (
    FLAGS,
    LATEST_KEY,
    VSTATE_KEY,
    Channel,
    IncidentMessage,
    VehicleStateMessage,
    YardAlert,
    channel,
    epoch_us,
    parse_rfc3339,
    stream_key,
    timed_from_row,
)

log = logging.getLogger(__name__)
_READ_COUNT = 500
_BLOCK_MS = 1000
_REFRESH_UNKNOWN_S = 2.0
_LISTENED = (Channel.INCIDENTS, Channel.FENCES, Channel.VEHICLE_STATES, Channel.YARDS)


class LiveFeed:
    def __init__(
        self, hub: LiveHub, redis: aioredis.Redis, vehicles: VehicleDirectory, shards: int
    ) -> None:
        self.hub = hub
        self._redis = redis
        self._vehicles = vehicles
        self._shards = shards
        self._tasks: list[asyncio.Task[None]] = []
        self._streams: asyncio.Task[None] | None = None
        self._idle_stop: asyncio.TimerHandle | None = None
        self._refreshed_at = 0.0
        self.ready = asyncio.Event()  # set once the first seed is done and reading has begun
        self.states_ready = asyncio.Event()  # set once the truck states were first read

    async def start(self) -> None:
        """Listen for incidents and fence changes. The fix streams are read only while a client
        is connected (``acquire``): an API process serving no map must not spend its ingest CPU
        decoding every fix of the fleet."""
        self._tasks = [asyncio.create_task(self._listen(), name="live-pubsub")]

    async def acquire(self, timeout_s: float = 10.0) -> None:
        """A client connected: make sure the streams are being read (seeded from the latest
        positions first, so a snapshot taken now misses nothing)."""
        if self._idle_stop is not None:
            self._idle_stop.cancel()
            self._idle_stop = None
        if self._streams is None or self._streams.done():
            self.ready.clear()
            self._streams = asyncio.create_task(self._read_streams(), name="live-streams")
        async with asyncio.timeout(timeout_s):
            await self.ready.wait()
            await self.states_ready.wait()

    def release(self, idle_s: float = 60.0) -> None:
        """A client left: stop reading the streams once no client has been connected for a while."""
        if self.hub.client_count() or self._streams is None:
            return
        if self._idle_stop is not None:
            self._idle_stop.cancel()
        self._idle_stop = asyncio.get_running_loop().call_later(idle_s, self._stop_streams)

    def _stop_streams(self) -> None:
        self._idle_stop = None
        if self._streams is not None and not self.hub.client_count():
            self._streams.cancel()
            self._streams = None

    async def stop(self) -> None:
        if self._idle_stop is not None:
            self._idle_stop.cancel()
        tasks = [*self._tasks, *([self._streams] if self._streams is not None else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks, self._streams = [], None

    async def _directory(self, vids: set[int]) -> dict[int, Any]:
        known = await self._vehicles.get_all()
        now = time.monotonic()
        if not vids <= known.keys() and now - self._refreshed_at > _REFRESH_UNKNOWN_S:
            self._refreshed_at = now  # a vehicle registered since the last refresh
            await self._vehicles.refresh()
            known = await self._vehicles.get_all()
        return known

    async def _tails(self) -> dict[str, str]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for shard in range(self._shards):
                pipe.xrevrange(stream_key(shard), count=1)
            found = await pipe.execute()
        tails: dict[str, str] = {}
        for shard, entries in enumerate(found):
            tails[stream_key(shard)] = entries[0][0].decode() if entries else "0-0"
        return tails

    async def seed(self) -> None:
        raw: dict[bytes, bytes] = await self._redis.hgetall(LATEST_KEY)  # type: ignore[misc]
        known = await self._directory({int(k) for k in raw})
        for key, feature in raw.items():
            vid = int(key)
            data = orjson.loads(feature)
            lon, lat = data["geometry"]["coordinates"]
            props = data["properties"]
            vehicle = known.get(vid)
            item = {"vehicle_id": vid, "lon": lon, "lat": lat, **props}
            item.pop("source", None)
            item.pop("valid", None)
            company_id = None if vehicle is None else vehicle.company_id
            if vehicle is not None:
                item.update(plate=vehicle.plate, company_id=company_id)
            state = VehicleState(
                epoch_us(parse_rfc3339(str(props["time"]))), lon, lat, company_id, item
            )
            self.hub.seed(vid, state)

    async def _read_streams(self) -> None:
        tails: dict[str, str] | None = None
        while True:
            try:
                if tails is None:
                    tails = await self._tails()
                    await self.seed()
                    self.ready.set()
                await self._follow(tails)
            except aioredis.RedisError as exc:
                # Resume from the tails already read: nothing in the streams is skipped.
                log.warning("live feed: Redis error (%r); resuming", exc)
                await asyncio.sleep(0.2)

    async def _follow(self, tails: dict[str, str]) -> None:
        while True:
            found = await self._redis.xread(tails, count=_READ_COUNT, block=_BLOCK_MS)  # type: ignore[arg-type]
            for key, entries in found or ():
                for _entry_id, fields in entries:
                    await self._take(orjson.loads(fields[b"fixes"]))
                tails[key.decode()] = entries[-1][0].decode()

    async def _take(self, rows: list[list[Any]]) -> None:
        """An entry's stream rows: the unflagged fixes go to the hub."""
        timed = [timed_from_row(r) for r in rows if not r[FLAGS]]
        if not timed:
            return
        known = await self._directory({t[2].vehicle_id for t in timed})
        for item in timed:
            vehicle = known.get(item[2].vehicle_id)
            if vehicle is None:
                self.hub.apply(item, None, {})
            else:
                extra = {"plate": vehicle.plate, "company_id": vehicle.company_id}
                self.hub.apply(item, vehicle.company_id, extra)

    async def seed_engine_states(self) -> None:
        raw: dict[bytes, bytes] = await self._redis.hgetall(VSTATE_KEY)  # type: ignore[misc]
        for value in raw.values():
            self._engine_state(value)
        self.states_ready.set()

    def _engine_state(self, payload: bytes) -> None:
        try:
            message = VehicleStateMessage.decode(payload)
        except ValueError as exc:
            log.warning("ignored a vehicle state: %s", exc)
            return
        self.hub.engine_state(message.vehicle_id, engine_state_of(message))

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*(channel(self._redis, name) for name in _LISTENED))
                await self.seed_engine_states()  # after subscribing: nothing falls between
                async for message in pubsub.listen():
                    await self._on_message(message)
            except aioredis.RedisError as exc:
                log.warning("live pub/sub lost Redis (%s); resubscribing in 1 s", exc)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(aioredis.RedisError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _on_message(self, message: dict[str, Any]) -> None:
        name = message["channel"].decode()
        if name == channel(self._redis, Channel.FENCES):
            self.hub.broadcast({"type": "fences_changed"})
            return
        if name == channel(self._redis, Channel.VEHICLE_STATES):
            self._engine_state(message["data"])
            return
        if name == channel(self._redis, Channel.YARDS):
            try:
                self.hub.yard_alert(YardAlert.decode(message["data"]))
            except (ValueError, KeyError) as exc:
                log.warning("ignored a yard alert: %s", exc)
            return
        try:
            event = IncidentMessage.decode(message["data"])
        except ValueError as exc:
            log.warning("ignored an incident event: %s", exc)
            return
        company_id, extra = None, {}
        vid = event.vehicle_id
        if vid is not None:
            vehicle = (await self._directory({vid})).get(vid)
            company_id = None if vehicle is None else vehicle.company_id
            if vehicle is not None:
                extra["plate"] = vehicle.plate
        self.hub.incident(event, company_id, **extra)
