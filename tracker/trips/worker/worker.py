"""The engine worker: owns shards, consumes their streams, runs the core, stores the effects.

Exactly once, by construction: a batch's incidents, trips, the touched vehicles' states and
the shard's stream position (id of the batch's last entry) commit in ONE transaction. A worker
killed at any point restarts from the last committed position with the states that match it,
so every entry's effects are stored once; upserts on the core's deterministic ids guard the rest.

What to process is the database's word, not Redis's: the writer records each group commit in the
ingest commit log (``ingest_commits``, one row per shard, in the commit's own transaction), and
each stream entry carries its row's seq and xid. Per shard the worker keeps, in the same
transaction as its checkpoints, a watermark (every commit row of the shard with an xid below it
is processed) and the rows processed above it (``done``). With every batch it asks the database
(one small query, ``repo.commit_sync``) for settled rows (their transaction older than the
oldest running one, so no row below can still appear) up to the batch's newest xid that neither
the stream nor an earlier look delivered: their fixes are read from ``pings`` and processed
before the batch, in the same transaction, as the entries they should have been. When the
stream gives nothing (or Redis is away), it does the same for every settled row older than a
grace (the publisher's usual delay). Entries of rows already processed are skipped. So a fix
the publisher never published (Redis away, the backlog overflowed, the API killed) is processed
once, and ``repo.shard_lag`` proves from the database alone how far behind a shard is.

Late fixes: before consuming, the worker reads from ``pings`` the recent stored fixes of the
vehicles that meet a straggler (``ShardRunner.window_wanted``), so the core can replay them
with the stragglers into history (``rewind``); what that reveals is stored marked late.

Outages: a lost Redis or database connection fails the step, which is retried with backoff
(``run``) from the last committed position; a shard whose commit failed is reloaded from its
checkpoint before it reads again (its states had run ahead of what is stored), so an outage
neither ends the worker nor skips or doubles anything.

Live events go to the ``INCIDENTS`` channel after commit, for non-late incidents only; truck
states that changed go to the ``VEHICLE_STATES`` channel and the ``VSTATE_KEY`` hash. ``tick``
(silences) runs only when the worker is caught up, so a backlog never looks like a silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

import psycopg
import redis.asyncio as aioredis
import redis.exceptions
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from tracker import metrics
from tracker.geofence.sync import FenceSync
from tracker.trips.core.annotate import engine_index
from tracker.trips.core.events import IncidentClosed, IncidentOpened, IncidentUpdated
from tracker.trips.core.models import CITY_TZ, RuleConfig, Sensors
from tracker.trips.core.state import from_us
from tracker.trips.core.tracks import US
from tracker.trips.core.view import DEFAULT_RULES, RegistryView
from tracker.trips.core.vstate import Key, state_at, state_key
from tracker.trips.worker import repo
from tracker.trips.worker.registry import load_registry
from tracker.trips.worker.shard import (
    Batch,
    Entry,
    Parsed,
    ShardRunner,
    Timed,
)
from tracker.wire import (
    HEARD_KEY,
    VSTATE_KEY,
    Channel,
    IncidentMessage,
    VehicleStateMessage,
    channel,
    entry_mark,
    rfc3339,
    timed_from_row,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    shards: tuple[int, ...]
    shard_count: int
    batch_entries: int = 200
    block_ms: int = 500
    tick_s: float = 15.0
    refresh_s: float = 60.0
    gap_check_s: float = 5.0
    commit_grace_s: float = 2.0  # a settled commit not in the stream this long is read from pings
    commit_sync_s: float = 1.0  # how often an idle shard looks at the commit log
    commit_keep_s: float = 3600.0  # processed commit-log rows are deleted after this long
    prune_s: float = 60.0
    tz: tzinfo = CITY_TZ  # the city's zone: registry times of day are its wall-clock times
    rules: RuleConfig = DEFAULT_RULES  # the city layer (config.city_rules)
    sensors: Mapping[str, Sensors] = field(default_factory=dict)  # terminal model -> sensors


_EVENT_KIND: dict[type, Literal["opened", "updated", "closed"]] = {
    IncidentOpened: "opened",
    IncidentUpdated: "updated",
    IncidentClosed: "closed",
}


def live_message(event: IncidentOpened | IncidentUpdated | IncidentClosed) -> bytes:
    inc = event.incident
    where = inc.lon_lat
    return IncidentMessage(
        type=inc.type,
        vehicle_id=inc.vehicle_id,
        lon=where[0] if where else None,
        lat=where[1] if where else None,
        time=rfc3339(event.time),
        event=_EVENT_KIND[type(event)],
        incident_id=inc.incident_id,
        severity=inc.severity,
        status="ended" if isinstance(event, IncidentClosed) else "open",
    ).encode()


# What a step may meet while Redis or the database is away (or restarting).
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    psycopg.OperationalError,
    PoolTimeout,
)
REDIS_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
RETRY_MIN_S, RETRY_MAX_S = 0.2, 5.0
HOLD_S = 0.05  # how long held stream entries wait before they are read again


class EngineWorker:
    def __init__(
        self, pool: AsyncConnectionPool[Any], redis: aioredis.Redis, config: WorkerConfig
    ) -> None:
        self.pool, self.redis, self.config = pool, redis, config
        self.fences = FenceSync(pool, redis, engine_index())
        self.view = RegistryView()
        self.runners = [ShardRunner(s, config.shard_count) for s in config.shards]
        self._refresh_due = 0.0
        self._gap_due = 0.0
        self._tick_due = time.monotonic() + config.tick_s
        self._watch: asyncio.Task[None] | None = None
        self.fixes_processed = 0
        self.catch_ups = 0  # looks at the commit log that read fixes from pings
        self.fixes_from_db = 0
        self._sync_due: dict[int, float] = {}
        # shard -> until when its stream entries wait for an earlier commit of their vehicles
        self._held: dict[int, float] = {}
        # Shards whose last look at the commit log left settled commits unprocessed: the clock
        # does not tick (silences) until every shard is caught up by the database's account.
        self.behind: set[int] = set()
        self._prune_due = 0.0
        self.vstates: dict[int, tuple[Key, datetime]] = {}  # last published, per vehicle
        self.stale: set[int] = set()  # shards to reload from their checkpoint before reading
        self.retries = 0

    async def start(self) -> None:
        await self.fences.start()
        await self.refresh()
        self._watch = asyncio.create_task(self._watch_fences(), name="engine-fence-watch")
        for runner in self.runners:
            async with self.pool.connection() as conn:
                await runner.load(conn)
        await self.check_gaps()

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.fences.stop()

    async def refresh(self) -> None:
        async with self.pool.connection() as conn:
            self.view = await load_registry(
                conn, self.config.tz, self.config.rules, self.config.sensors
            )
        self._refresh_due = time.monotonic() + self.config.refresh_s

    async def _watch_fences(self) -> None:
        """A fence notice (places, permit approvals/suspensions) makes the next step reload the
        registry view; FenceSync updates the index itself."""
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(channel(self.redis, Channel.FENCES))
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._refresh_due = 0.0
            except (OSError, aioredis.ConnectionError) as exc:
                log.warning("fence watch lost (%s); retrying", exc)
                await asyncio.sleep(1.0)

    async def run(self, stop: asyncio.Event) -> None:
        """Steps until ``stop``. A step that fails on a lost connection (``TRANSIENT``) is
        logged and retried, backing off up to ``RETRY_MAX_S``; nothing of it was committed."""
        backoff = RETRY_MIN_S
        while not stop.is_set():
            try:
                await self.step()
            except TRANSIENT as exc:
                self.retries += 1
                log.warning("engine step failed (%s: %s); retrying in %.1f s",
                            type(exc).__name__, exc, backoff)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
            else:
                backoff = RETRY_MIN_S

    async def step(self) -> int:
        """One read of every owned stream, and of the commit log where the stream gave nothing;
        returns the number of entries and commit rows consumed. While Redis is away the shards
        go on from the commit log, then the step fails (and is retried) on the Redis error."""
        for runner in self.runners:
            if runner.shard in self.stale:
                async with self.pool.connection() as conn:
                    await runner.load(conn)
                self.stale.discard(runner.shard)
        now = time.monotonic()
        if now >= self._refresh_due:
            await self.refresh()
        if now >= self._prune_due:
            await self.prune()
        answer: Any = None
        redis_error: BaseException | None = None
        try:
            if now >= self._gap_due:
                await self.check_gaps()
            streams: dict[Any, Any] = {r.key: r.position or "0-0" for r in self.runners}
            block = self.config.block_ms if self.config.block_ms > 0 else None
            answer = await self.redis.xread(streams, count=self.config.batch_entries, block=block)
        except REDIS_TRANSIENT as exc:
            redis_error = exc
        consumed = 0
        held = False
        read = {(k.decode() if isinstance(k, bytes) else k): e for k, e in answer or []}
        for runner in self.runners:
            entries = read.get(runner.key)
            if entries and self._held.get(runner.shard, 0.0) > time.monotonic():
                held = True  # read again after the hold
            elif entries:
                if await self.consume(runner, entries):
                    consumed += len(entries)
                else:
                    held = True
            elif redis_error is not None or time.monotonic() >= self._sync_due.get(
                runner.shard, 0.0
            ):
                consumed += await self.sync_commits(runner)
        if redis_error is not None:
            raise redis_error
        if held and consumed == 0:  # the stream answers at once: do not spin on held entries
            await asyncio.sleep(HOLD_S)
        if consumed == 0 and not self.behind and time.monotonic() >= self._tick_due:
            await self.tick(datetime.now(UTC))
        return consumed

    async def consume(self, runner: ShardRunner, entries: list[Entry]) -> bool:
        """Stream entries, after the settled commits before them that the stream lacks; entries
        of commits already processed are skipped. Returns False when the entries were held back:
        an earlier commit of one of their vehicles is settled but neither delivered nor old enough
        to take (``commit_grace_s``), so each vehicle's fixes stay in commit order; the entries
        are read again shortly."""
        fresh: list[Entry] = []
        seen: dict[int, int] = {}  # seq -> xid of the batch's entries
        for entry in entries:
            mark = entry_mark(entry[1])
            if mark is None:  # a publisher without a commit log
                fresh.append(entry)
            elif mark.xid >= runner.commit_xid and mark.seq not in runner.done:
                if mark.seq not in seen:
                    fresh.append(entry)
                seen[mark.seq] = mark.xid
        stored: Parsed = []
        progress: repo.CommitProgress | None = None
        if seen:
            async with self.pool.connection() as conn:
                sync = await repo.commit_sync(
                    conn, runner.shard, runner.commit_xid, [*runner.done, *seen],
                    upto=max(seen.values()) + 1, grace_s=self.config.commit_grace_s,
                    limit=self.config.batch_entries,
                )  # fmt: skip
                stored = await self.stored_fixes(conn, sync.taken, runner.shard)
                waiting: set[int] = set()
                if len(sync.taken) < self.config.batch_entries:
                    waiting = await repo.waiting_vehicles(
                        conn, runner.shard, runner.commit_xid,
                        [*runner.done, *seen, *(r.seq for r in sync.taken)],
                        upto=max(seen.values()) + 1, grace_s=self.config.commit_grace_s,
                    )  # fmt: skip
            if sync.pending_xid is not None:
                self.behind.add(runner.shard)
            if waiting and any(v in waiting for _, pv in runner.parse(fresh) for v in pv):
                self._held[runner.shard] = time.monotonic() + HOLD_S
                if sync.taken:  # what was old enough goes now; the entries wait
                    cap = min(sync.horizon, min(seen.values()))
                    progress = self.progress(runner, sync, {}, cap)
                    windows = await self.windows(runner.window_wanted(stored))
                    batch = runner.consume_parsed(self.fences.index, self.view, stored, windows)
                    await self.commit(runner, batch, runner.position or "0-0", progress=progress)
                return False
            if len(sync.taken) >= self.config.batch_entries:
                # More commits may precede the batch than one look takes: these first, the
                # entries again next time (the watermark stays below them).
                cap = min(sync.horizon, min(seen.values()))
                progress = self.progress(runner, sync, {}, cap)
                windows = await self.windows(runner.window_wanted(stored))
                batch = runner.consume_parsed(self.fences.index, self.view, stored, windows)
                await self.commit(runner, batch, runner.position or "0-0", progress=progress)
                return True
            progress = self.progress(runner, sync, seen, min(sync.horizon, max(seen.values()) + 1))
        parsed = stored + runner.parse(fresh)
        windows = await self.windows(runner.window_wanted(parsed))
        batch = runner.consume_parsed(self.fences.index, self.view, parsed, windows)
        last = entries[-1][0]
        position = last.decode() if isinstance(last, bytes) else last
        await self.commit(runner, batch, position, progress=progress)
        return True

    async def sync_commits(self, runner: ShardRunner) -> int:
        """The stream gave nothing: process the shard's settled commit rows older than the grace
        that were never delivered. Returns how many were taken."""
        self._sync_due[runner.shard] = time.monotonic() + self.config.commit_sync_s
        async with self.pool.connection() as conn:
            sync = await repo.commit_sync(
                conn, runner.shard, runner.commit_xid, runner.done,
                grace_s=self.config.commit_grace_s, limit=self.config.batch_entries,
            )  # fmt: skip
            stored = await self.stored_fixes(conn, sync.taken, runner.shard)
        progress = self.progress(runner, sync, {}, sync.horizon)
        if sync.taken or sync.pending_xid is not None:
            self.behind.add(runner.shard)
        else:
            self.behind.discard(runner.shard)
        metrics.ENGINE_BEHIND.labels(str(runner.shard)).set(runner.shard in self.behind)
        if not sync.taken and progress.watermark == runner.commit_xid:
            return 0  # nothing new: nothing to store
        windows = await self.windows(runner.window_wanted(stored))
        batch = runner.consume_parsed(self.fences.index, self.view, stored, windows)
        await self.commit(runner, batch, runner.position or "0-0", progress=progress)
        if len(sync.taken) >= self.config.batch_entries:
            self._sync_due[runner.shard] = 0.0  # more to take: look again at once
        return len(sync.taken)

    async def stored_fixes(self, conn: Any, taken: list[repo.CommitRow], shard: int) -> Parsed:
        if not taken:
            return []
        rows = await repo.commit_fixes(conn, taken)
        self.catch_ups += 1
        self.fixes_from_db += len(rows)
        metrics.ENGINE_CATCHUP_FIXES.labels(str(shard)).inc(len(rows))
        log.info("reading %d stored fixes of %d commits the stream did not deliver (seq %d..%d)",
                 len(rows), len(taken), taken[0].seq, taken[-1].seq)  # fmt: skip
        return ShardRunner.parse_stored(rows)

    @staticmethod
    def progress(
        runner: ShardRunner, sync: repo.CommitSync, seen: dict[int, int], cap: int
    ) -> repo.CommitProgress:
        """The watermark once this batch commits: up to ``cap`` (the horizon, or the batch's
        newest xid), but not past a settled row left for later; the rows processed above it."""
        done = {**runner.done, **seen, **{r.seq: r.xid for r in sync.taken}}
        watermark = cap if sync.pending_xid is None else min(cap, sync.pending_xid)
        watermark = max(watermark, runner.commit_xid)
        return repo.CommitProgress(watermark, {s: x for s, x in done.items() if x >= watermark})

    async def prune(self) -> None:
        """Delete the owned shards' processed commit-log rows once older than the keep time."""
        self._prune_due = time.monotonic() + self.config.prune_s
        async with self.pool.connection() as conn:
            for runner in self.runners:
                deleted = await repo.prune_commits(conn, runner.shard, self.config.commit_keep_s)
                if deleted:
                    log.info("shard %s: pruned %d commit-log rows", runner.shard, deleted)

    async def commit(
        self,
        runner: ShardRunner,
        batch: Batch,
        position: str | None,
        now: datetime | None = None,
        progress: repo.CommitProgress | None = None,
    ) -> None:
        companies = {v: self.view.company_of(v) for v in batch.touched}
        try:
            async with self.pool.connection() as conn, conn.transaction():
                await repo.save_events(conn, batch.events, companies)
                await repo.save_checkpoints(
                    conn, runner.shard, position, runner.checkpoints(batch), progress
                )
        except Exception:
            # The in-memory states ran ahead of what is stored: back to the checkpoint, now
            # or (the database being away) before the shard reads again.
            log.exception("engine commit failed for shard %s; reloading", runner.shard)
            self.stale.add(runner.shard)
            with contextlib.suppress(*TRANSIENT):
                async with self.pool.connection() as conn:
                    await runner.load(conn)
                self.stale.discard(runner.shard)
            raise
        if position is not None:
            runner.position = position
        if progress is not None:
            runner.commit_xid, runner.done = progress.watermark, progress.done
        self.fixes_processed += batch.fixes
        self._count(runner, batch, position)
        await self.publish(batch)
        await self.publish_states(runner, batch, now)

    @staticmethod
    def _count(runner: ShardRunner, batch: Batch, position: str | None) -> None:
        """The committed batch in the metrics: fixes, incidents opened, the stream lag."""
        shard = str(runner.shard)
        metrics.ENGINE_FIXES.labels(shard).inc(batch.fixes)
        for event in batch.events:
            if isinstance(event, IncidentOpened):
                metrics.INCIDENTS_OPENED.labels(event.incident.type).inc()
        if position and position != "0-0":
            published_ms = int(position.split("-", 1)[0])
            metrics.ENGINE_LAG_SECONDS.labels(shard).set(max(0.0, time.time() - published_ms / 1e3))

    async def windows(self, wanted: dict[int, tuple[int, int]]) -> dict[int, list[Timed]]:
        """The stored fixes a replay of stragglers may need, per vehicle (from ``pings``)."""
        if not wanted:
            return {}
        out: dict[int, list[Timed]] = {}
        async with self.pool.connection() as conn:
            for vehicle_id, (low_us, high_us) in wanted.items():
                after, until = from_us(low_us - US), from_us(high_us + US)  # filtered exactly later
                rows = await repo.window_rows(conn, vehicle_id, after, until)
                out[vehicle_id] = [timed_from_row(r) for r in rows]
        return out

    async def publish_states(
        self, runner: ShardRunner, batch: Batch, now: datetime | None = None
    ) -> None:
        """After commit: every touched vehicle whose truck state changed goes to the
        ``VEHICLE_STATES`` channel and the ``VSTATE_KEY`` hash (see ``tracker.wire``)."""
        changed: dict[int, tuple[Key, datetime, bytes]] = {}
        for vehicle_id in batch.touched:
            state = runner.states.get(vehicle_id)
            if state is None:
                continue
            key = state_key(state, self.view.context(vehicle_id))
            previous = self.vstates.get(vehicle_id)
            if previous is None or previous[0] != key:
                at = state_at(state, now, previous[1] if previous else None)
                message = VehicleStateMessage(vehicle_id, key[0], key[1], key[2], at)
                changed[vehicle_id] = key, at, message.encode()
        if not changed:
            return
        try:
            states = channel(self.redis, Channel.VEHICLE_STATES)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(VSTATE_KEY, mapping={str(v): m for v, (_, _, m) in changed.items()})
                for _, _, encoded in changed.values():
                    pipe.publish(states, encoded)
                await pipe.execute()
        except (OSError, aioredis.ConnectionError) as exc:  # retried at the next change
            log.warning("publishing truck states failed: %s", exc)
            return
        for vehicle_id, (key, at, _) in changed.items():
            self.vstates[vehicle_id] = key, at

    async def publish(self, batch: Batch) -> None:
        live = [
            live_message(ev)
            for ev in batch.events
            if isinstance(ev, IncidentOpened | IncidentUpdated | IncidentClosed) and not ev.late
        ]
        if not live:
            return
        try:
            incidents = channel(self.redis, Channel.INCIDENTS)
            async with self.redis.pipeline(transaction=False) as pipe:
                for message in live:
                    pipe.publish(incidents, message)
                await pipe.execute()
        except (OSError, aioredis.ConnectionError) as exc:  # stored anyway; live is best effort
            log.warning("publishing incidents failed: %s", exc)

    async def tick(self, now: datetime) -> None:
        self._tick_due = time.monotonic() + self.config.tick_s
        for runner in self.runners:
            batch = runner.tick_all(self.view, now, await self.heard(runner.silent(now)))
            if batch.touched:
                await self.commit(runner, batch, None, now)

    async def heard(self, vehicle_ids: list[int]) -> dict[int, int]:
        """When the gateway last heard these vehicles' terminals without a position
        (``HEARD_KEY``); a Redis error reads as nothing new heard."""
        if not vehicle_ids:
            return {}
        try:
            keys = [str(v) for v in vehicle_ids]
            values: list[bytes | None] = await self.redis.hmget(HEARD_KEY, keys)  # type: ignore[misc]
        except (OSError, aioredis.ConnectionError) as exc:
            log.warning("reading heartbeats failed: %s", exc)
            return {}
        return {v: int(x) for v, x in zip(vehicle_ids, values, strict=True) if x is not None}

    async def check_gaps(self) -> None:
        """A stream Redis lost (emptied while we held a position in it) is read again from its
        start; the commit log, not the stream, says which fixes were missed meanwhile."""
        self._gap_due = time.monotonic() + self.config.gap_check_s
        for runner in self.runners:
            if runner.position is None or runner.position == "0-0":
                continue
            first = await self.redis.xrange(runner.key, "-", "+", count=1)
            if not first:
                runner.position = "0-0"
