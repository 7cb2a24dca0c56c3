"""Periodic maintenance: the one list of housekeeping rounds, and the one runner for them.

``TASKS`` declares every periodic task of the platform: its name (also the asyncio task's name),
the setting holding its interval, and one round. :class:`MaintenanceRunner` runs each round
every interval (``tracker.tasks.periodic``: an error is logged and retried next round).

Who runs them: the ``tracker maintenance`` process (``main``), and every API worker's lifespan
while ``TRACKER_MAINTENANCE_IN_API`` is true (the default, so one ``tracker serve`` is a whole
deployment). Set it false when a maintenance process runs. The gateway and the engine never run
them. Every round is safe when several processes run it at once:

=================  =============================  ==========================================
task               interval setting (0: off)      more than one process at once
=================  =============================  ==========================================
permit-expiry      permit_expiry_interval_s       safe: rows locked ``FOR UPDATE SKIP LOCKED``
                                                  and the state re-checked
yard-capacity      capacity_interval_s            serialised by an advisory lock; each alert
                                                  published once (``SKIP LOCKED`` outbox)
blacklist-expiry   blacklist_expiry_interval_s    safe: one ``UPDATE … WHERE lifted_at IS
                                                  NULL``; a second process finds nothing
pings-compaction   compaction_interval_s          once per cluster: ``pg_try_advisory_lock``,
                                                  the others skip the round
kpi-rollup         kpi_rollup_interval_s          once per cluster at a time:
                                                  ``pg_try_advisory_xact_lock``, others skip
outbox-notices     outbox_notices_interval_s      safe: permit.expiring has a dedupe key;
                                                  companies locked ``SKIP LOCKED``
case-escalation    case_escalation_interval_s     safe: rows ``FOR UPDATE SKIP LOCKED``, each
                                                  case flagged once per stage
case-intake        case_intake_interval_s         safe: one case per incident (unique source)
exports-expiry     export_expiry_interval_s       safe: ``FOR UPDATE SKIP LOCKED``
daily-exports      daily_export_interval_s        safe: a file is written under a temporary
                                                  name and renamed; existing days are skipped
clue-privacy       clue_privacy_interval_s        safe: one ``UPDATE … WHERE … IS NOT NULL``
                                                  per field; a second process finds nothing
sighting-review    sighting_review_interval_s     safe: rows ``FOR UPDATE SKIP LOCKED``;
                                                  incident ids are deterministic
=================  =============================  ==========================================
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from redis.exceptions import RedisError

from tracker import tasks
from tracker.blacklist.service import lift_expired
from tracker.capacity.service import refresh as capacity_round
from tracker.cases.escalation import escalate_overdue, open_for_incidents
from tracker.cases.machine import deadlines_from
from tracker.clues import service as clue_service
from tracker.db import make_pool, wait_for_schema
from tracker.exports import daily as daily_exports
from tracker.exports import jobs as export_jobs
from tracker.history.compaction import compact_finished_chunks
from tracker.kpi.rollup import rollup_round
from tracker.outbox.notices import notices_round
from tracker.permits.expiry import expire_once
from tracker.settings import Settings
from tracker.sightings.findings import review_due

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    """What the rounds use: the running process's settings, pool and Redis client."""

    settings: Settings
    pool: AsyncConnectionPool[Any]
    redis: aioredis.Redis


@dataclass(frozen=True, slots=True)
class MaintenanceTask:
    name: str
    interval_setting: str  # a Settings field, in seconds; 0 turns the task off
    round: Callable[[Services], Awaitable[object]]
    retry_on: tuple[type[BaseException], ...]
    first_round_after_interval: bool = False  # else the first round runs at start
    what: str = ""

    def interval_s(self, settings: Settings) -> float:
        return float(getattr(settings, self.interval_setting))


async def _permit_expiry(s: Services) -> int:
    return await expire_once(s.pool, s.redis)


async def _yard_capacity(s: Services) -> object:
    return await capacity_round(s.pool, s.redis)


async def _blacklist_expiry(s: Services) -> int:
    return await lift_expired(s.pool)


async def _pings_compaction(s: Services) -> list[str]:
    return await asyncio.to_thread(compact_finished_chunks, s.settings.database_url)


async def _kpi_rollup(s: Services) -> object:
    async with s.pool.connection() as conn:
        return await rollup_round(conn)


async def _outbox_notices(s: Services) -> object:
    days = s.settings.outbox.permit_expiring_days
    return await notices_round(s.pool, datetime.now(UTC), days)


async def _case_escalation(s: Services) -> list[int]:
    async with s.pool.connection() as conn:
        return await escalate_overdue(conn, datetime.now(UTC))


async def _case_intake(s: Services) -> list[int]:
    d = deadlines_from(s.settings.cases)
    async with s.pool.connection() as conn:
        types = s.settings.cases.auto_open_types
        return await open_for_incidents(conn, types, datetime.now(UTC), d)


async def _clue_privacy(s: Services) -> dict[str, list[int]]:
    async with s.pool.connection() as conn:
        return await clue_service.forget_personal_data(conn, datetime.now(UTC), s.settings.clues)


async def _exports_expiry(s: Services) -> int:
    return await export_jobs.expire(s.pool, s.settings)


async def _daily_exports(s: Services) -> object:
    return await daily_exports.write_yesterday(s.pool, s.settings)


async def _sighting_review(s: Services) -> int:
    async with s.pool.connection() as conn:
        return await review_due(conn, datetime.now(UTC), s.settings, s.redis)


TASKS: tuple[MaintenanceTask, ...] = (
    MaintenanceTask(
        "permit-expiry",
        "permit_expiry_interval_s",
        _permit_expiry,
        (psycopg.Error, OSError),
        what="store 'expired' for approved permits past their last day; retire their corridors",
    ),
    MaintenanceTask(
        "yard-capacity",
        "capacity_interval_s",
        _yard_capacity,
        (psycopg.Error, OSError, RedisError),
        what="fold new yard ledger rows, record capacity alerts, publish the unsent ones",
    ),
    MaintenanceTask(
        "blacklist-expiry",
        "blacklist_expiry_interval_s",
        _blacklist_expiry,
        (psycopg.Error, OSError),
        what="record the lifting of blacklist listings past their expiry",
    ),
    MaintenanceTask(
        "pings-compaction",
        "compaction_interval_s",
        _pings_compaction,
        (psycopg.Error,),
        what="rebuild finished days' pings indexes compact (tracker.history.compaction)",
    ),
    MaintenanceTask(
        "kpi-rollup",
        "kpi_rollup_interval_s",
        _kpi_rollup,
        (psycopg.Error, OSError),
        first_round_after_interval=True,
        what="roll finished hours up into the KPI tables (tracker.kpi.rollup)",
    ),
    MaintenanceTask(
        "outbox-notices",
        "outbox_notices_interval_s",
        _outbox_notices,
        (psycopg.Error, OSError),
        what="emit permit.expiring and company.credit_changed (tracker.outbox.notices)",
    ),
    MaintenanceTask(
        "case-escalation",
        "case_escalation_interval_s",
        _case_escalation,
        (psycopg.Error, OSError),
        what="escalate cases past their stage's deadline (tracker.cases.escalation)",
    ),
    MaintenanceTask(
        "case-intake",
        "case_intake_interval_s",
        _case_intake,
        (psycopg.Error, OSError),
        what="open cases for incidents of the auto-open types (TRACKER_CASES__AUTO_OPEN_TYPES)",
    ),
    MaintenanceTask(
        "exports-expiry",
        "export_expiry_interval_s",
        _exports_expiry,
        (psycopg.Error, OSError),
        what="delete expired export job files; fail jobs their process stopped running",
    ),
    MaintenanceTask(
        "daily-exports",
        "daily_export_interval_s",
        _daily_exports,
        (psycopg.Error, OSError),
        first_round_after_interval=True,
        what="write yesterday's files of every share grant (tracker.exports.daily)",
    ),
    MaintenanceTask(
        "clue-privacy",
        "clue_privacy_interval_s",
        _clue_privacy,
        (psycopg.Error, OSError),
        what="forget public reporters' addresses and contacts past their keeping periods",
    ),
    MaintenanceTask(
        "sighting-review",
        "sighting_review_interval_s",
        _sighting_review,
        (psycopg.Error, OSError),
        what="compare sightings past their grace period with their terminals (tracker.sightings)",
    ),
)
TASK_NAMES = tuple(t.name for t in TASKS)


def selected(settings: Settings, only: Iterable[str] = ()) -> list[MaintenanceTask]:
    """The declared tasks that are on (interval above 0), or only those named in ``only``."""
    wanted = set(only)
    unknown = wanted - set(TASK_NAMES)
    if unknown:
        raise ValueError(f"unknown maintenance tasks: {sorted(unknown)}")
    return [t for t in TASKS if t.interval_s(settings) > 0 and (not wanted or t.name in wanted)]


async def _run(task: MaintenanceTask, services: Services) -> None:
    interval_s = task.interval_s(services.settings)
    if task.first_round_after_interval:
        await asyncio.sleep(interval_s)
    await tasks.periodic(
        task.name.replace("-", " "), interval_s, lambda: task.round(services), task.retry_on
    )


class MaintenanceRunner:
    """Runs the selected tasks in the running event loop, each as an asyncio task of its name."""

    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool[Any],
        redis: aioredis.Redis,
        only: Iterable[str] = (),
    ) -> None:
        self.services = Services(settings, pool, redis)
        self.tasks = selected(settings, only)
        self._running: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._running = [
            asyncio.create_task(_run(t, self.services), name=t.name) for t in self.tasks
        ]
        log.info("maintenance tasks started: %s", ", ".join(t.name for t in self.tasks))

    async def stop(self) -> None:
        await tasks.stop(self._running)
        self._running = []

    async def run_once(self) -> dict[str, object]:
        """Each selected round once, in declared order; an error propagates."""
        return {t.name: await t.round(self.services) for t in self.tasks}


async def _serve(settings: Settings, only: list[str], once: bool) -> None:
    await wait_for_schema(settings.database_url, settings.schema_wait_s)
    pool = make_pool(settings)
    redis = aioredis.Redis.from_url(settings.redis_url)
    await pool.open(wait=True)
    runner = MaintenanceRunner(settings, pool, redis, only)
    try:
        if once:
            for name, result in (await runner.run_once()).items():
                print(f"{name}: {result!r}", flush=True)
            return
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        runner.start()
        print(f"maintenance running: {', '.join(t.name for t in runner.tasks)}", flush=True)
        await stop.wait()
    finally:
        await runner.stop()
        await pool.close()
        await redis.aclose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tracker maintenance",
        description="Run the periodic maintenance tasks (tracker.maintenance) until SIGTERM.",
    )
    parser.add_argument(
        "--only", action="append", choices=TASK_NAMES, default=[], help="run only these tasks"
    )
    parser.add_argument("--once", action="store_true", help="run each round once, then exit")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    asyncio.run(_serve(Settings.load(), args.only, args.once))
    return 0
