"""The deliverer (``tracker deliver``): fan events out, deliver at least once, in order.

A round: fan unfanned events out to one delivery per matching subscription (one fan-out at a
time), then serve every subscription with a due delivery, each by one deliverer at a time
(:func:`tracker.outbox.repo.try_claim`). A subscription's pending deliveries go in order; each
send's result is committed before the next, so a deliverer killed mid-batch repeats at most
what it sent and had not recorded: the same deliveries, with the same idempotency keys.

A transient failure holds the subscription (nothing behind the head overtakes it) and retries
after ``backoff_base_s · 2^(attempts-1)`` up to ``backoff_max_s``; once a delivery is older than
``retry_period_s`` (24 h by default) a failure dead-letters it with its reason and the next
one goes. A permanent failure (bad URL, HTTP 4xx, a robot's error code) dead-letters at once.
Every decision takes ``now`` from the caller's clock, so a test can skip an hour.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from tracker.db import make_pool, wait_for_schema
from tracker.outbox import repo
from tracker.outbox.channels import Destination, Message, Outcome, Senders, idempotency_key
from tracker.outbox.templates import DEFAULT_LOCALE, render
from tracker.settings import OutboxSettings, Settings

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def backoff_s(settings: OutboxSettings, attempts: int) -> float:
    """The wait after the ``attempts``-th failed attempt (1, 2, 4 … s, capped)."""
    return float(min(settings.backoff_base_s * 2 ** max(attempts - 1, 0), settings.backoff_max_s))


@dataclass(slots=True)
class RoundStats:
    events: int = 0
    fanned: int = 0
    delivered: int = 0
    dead: int = 0
    retrying: int = 0

    def add(self, other: RoundStats) -> None:
        self.delivered += other.delivered
        self.dead += other.dead
        self.retrying += other.retrying


def _message(
    sub: dict[str, Any], row: dict[str, Any], texts: dict[str, tuple[str, str]]
) -> Message:
    title, text = render(row["type"], row["payload"], row["occurred_at"], texts.get(row["type"]))
    return Message(
        delivery_id=row["delivery_id"],
        event_id=row["event_id"],
        idempotency_key=idempotency_key(sub["id"], row["event_id"]),
        type=row["type"],
        occurred_at=row["occurred_at"],
        emitted_at=row["emitted_at"],
        subject={k: row[k] for k in ("company_id", "vehicle_id", "yard_id", "district")},
        payload=row["payload"],
        title=title,
        text=text,
    )


class Deliverer:
    PAGES_PER_TURN = 10  # pages of batch_deliveries served per claim before letting go

    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool[Any],
        senders: Senders | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.cfg = settings.outbox
        self.pool = pool
        self.senders = senders or Senders(settings.outbox)
        self.clock = clock
        self._running: dict[int, asyncio.Task[RoundStats]] = {}

    async def fan_out(self, now: datetime) -> tuple[int, int]:
        """Fan out everything waiting (several batches if need be)."""
        events = fanned = 0
        while True:
            async with self.pool.connection() as conn:
                got = await repo.fan_out(conn, now, self.cfg.fanout_batch)
            if got is None:
                return events, fanned
            events, fanned = events + got[0], fanned + got[1]
            if got[0] < self.cfg.fanout_batch:
                return events, fanned

    async def serve(self, subscription_id: int, now: datetime | None = None) -> RoundStats:
        """Deliver a subscription's due deliveries in order, if no other deliverer is on it."""
        stats = RoundStats()
        async with self.pool.connection() as conn:
            # a delivery's state lost in a database crash means a repeat (same idempotency
            # key), never a loss: its commits need not wait for the WAL flush
            await conn.execute("SET synchronous_commit TO off")
            if not await repo.try_claim(conn, subscription_id):
                return stats
            try:
                sub = await repo.subscription(conn, subscription_id)
                if sub is not None and sub["active"]:
                    texts = await repo.templates(conn, DEFAULT_LOCALE)
                    await self._serve(conn, sub, texts, now, stats)
            finally:
                await repo.release(conn, subscription_id)
        return stats

    async def _serve(
        self,
        conn: psycopg.AsyncConnection[Any],
        sub: dict[str, Any],
        texts: dict[str, tuple[str, str]],
        fixed_now: datetime | None,
        stats: RoundStats,
    ) -> None:
        dest = Destination(sub["channel"], sub["target"], sub["secret"], sub["batch_max"])
        size = dest.batch_max if dest.channel == "webhook" else 1
        for _page in range(self.PAGES_PER_TURN):
            rows = await repo.pending(conn, sub["id"], self.cfg.batch_deliveries)
            i = 0
            while i < len(rows):
                now = fixed_now or self.clock()
                if rows[i]["next_attempt_at"] > now:
                    return
                chunk = rows[i : i + size]
                messages = [_message(sub, r, texts) for r in chunk]
                outcome = await self.senders.send(dest, messages, now)
                now = fixed_now or self.clock()
                if not await self._record(conn, sub["id"], chunk, outcome, now, stats):
                    return
                i += len(chunk)
            if len(rows) < self.cfg.batch_deliveries:
                return

    async def _record(
        self,
        conn: psycopg.AsyncConnection[Any],
        subscription_id: int,
        chunk: list[dict[str, Any]],
        outcome: Outcome,
        now: datetime,
        stats: RoundStats,
    ) -> bool:
        """Store a send's result; False when the subscription must wait (retry later)."""
        ids = [r["delivery_id"] for r in chunk]
        if outcome.ok:
            await repo.mark_delivered(conn, ids, now, outcome.status)
            stats.delivered += len(ids)
            return True
        reason = outcome.error or "failed"
        expired = now - chunk[0]["created_at"] >= timedelta(seconds=self.cfg.retry_period_s)
        if outcome.permanent or expired:
            if expired and not outcome.permanent:
                reason = f"gave up after {self.cfg.retry_period_s:.0f} s: {reason}"
            await repo.mark_dead(conn, ids, now, outcome.status, reason)
            stats.dead += len(ids)
            return True
        wait = backoff_s(self.cfg, int(chunk[0]["attempts"]) + 1)
        retry_at = min(
            now + timedelta(seconds=wait),
            chunk[0]["created_at"] + timedelta(seconds=self.cfg.retry_period_s),
        )
        await repo.mark_retry(conn, subscription_id, ids, now, retry_at, outcome.status, reason)
        stats.retrying += len(ids)
        return False

    async def round(self, now: datetime | None = None) -> RoundStats:
        """One full round at ``now`` (tests): fan out, then serve every due subscription."""
        at = now or self.clock()
        stats = RoundStats()
        stats.events, stats.fanned = await self.fan_out(at)
        async with self.pool.connection() as conn:
            due = await repo.due_subscriptions(conn, at, 10_000)
        sem = asyncio.Semaphore(self.cfg.concurrency)

        async def one(sub_id: int) -> RoundStats:
            async with sem:
                return await self.serve(sub_id, now)

        for result in await asyncio.gather(*(one(s) for s in due)):
            stats.add(result)
        return stats

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: fan out and keep every due subscription served, each in its task."""
        while not stop.is_set():
            try:
                now = self.clock()
                await self.fan_out(now)
                free = self.cfg.concurrency - len(self._running)
                if free > 0:
                    async with self.pool.connection() as conn:
                        due = await repo.due_subscriptions(conn, now, self.cfg.concurrency * 2)
                    for sub_id in due:
                        if sub_id in self._running or free <= 0:
                            continue
                        task = asyncio.create_task(self.serve(sub_id), name=f"outbox-{sub_id}")
                        self._running[sub_id] = task
                        task.add_done_callback(functools.partial(self._done, sub_id))
                        free -= 1
            except (psycopg.Error, OSError) as exc:
                log.warning("deliverer round failed (retrying): %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.cfg.poll_interval_s)
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _done(self, sub_id: int, task: asyncio.Task[RoundStats]) -> None:
        self._running.pop(sub_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("delivery to subscription %s failed: %s", sub_id, task.exception())


async def _serve_forever(settings: Settings) -> None:
    await wait_for_schema(settings.database_url, settings.schema_wait_s)
    # a connection per subscription being served, plus fan-out and the due query
    size = max(settings.db_pool_size, settings.outbox.concurrency + 2)
    pool = make_pool(settings.model_copy(update={"db_pool_size": size}))
    await pool.open(wait=True)
    deliverer = Deliverer(settings, pool)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print("deliverer running", flush=True)
    try:
        await deliverer.run(stop)
    finally:
        await deliverer.senders.aclose()
        await pool.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tracker deliver",
        description="Deliver the outbox's events to their subscribers until SIGTERM.",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    asyncio.run(_serve_forever(Settings.load()))
    return 0
