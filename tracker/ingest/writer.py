"""Group-commit writer: fixes from concurrent requests are stored together, then acknowledged.

Requests put their fixes on a queue and wait. Each writer task takes everything waiting (up to a
row limit), binary-COPYs it into a session-local staging table, moves it into ``pings`` with
``ON CONFLICT DO NOTHING`` (the unique (vehicle, fix time) index makes retries idempotent) and
commits. Only then are the waiting requests answered, each fix marked stored or duplicate, and
the new fixes handed to the stream publisher. The same transaction records which fixes it
stored, per shard, in the ingest commit log (``log_commits``): what the engine must process is
known to the database, whatever happens to the publisher or Redis after the commit. A failed
write fails just the requests of that group (HTTP 503: nothing was acknowledged, the terminal
retries) and the task reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import h3.api.basic_int as h3
import psycopg
from psycopg.types.json import Jsonb

from tracker.errors import Unavailable
from tracker.wire import COPY_COLUMNS, COPY_TYPES, SOURCES, CommitMark, Fix, shard_of

log = logging.getLogger(__name__)

_COLS = ", ".join(COPY_COLUMNS)
Key = tuple[int, datetime]
_STAGING = "pings_staging"
WRITER_APPLICATION_NAME = "tracker-writer"


@dataclass(slots=True)
class _Job:
    fixes: Sequence[Fix]
    future: asyncio.Future[list[bool]] = field(repr=False)


def fix_row(fix: Fix, h3_resolution: int) -> tuple[object, ...]:
    """A fix as a COPY row: values in ``COPY_COLUMNS`` order (a test checks it against the
    wire's column list)."""
    return (
        fix.vehicle_id,
        fix.fix_time,
        fix.received_at,
        fix.terminal_id,
        fix.lon,
        fix.lat,
        h3.latlng_to_cell(fix.lat, fix.lon, h3_resolution),
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
        SOURCES[fix.source],
        None if fix.extra is None else Jsonb(fix.extra),
    )


async def _copy_rows(
    cur: psycopg.AsyncCursor[object], table: str, fixes: Sequence[Fix], h3_resolution: int
) -> None:
    async with cur.copy(f"COPY {table} ({_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(COPY_TYPES))
        for fix in fixes:
            await copy.write_row(fix_row(fix, h3_resolution))


async def copy_fixes(
    conn: psycopg.AsyncConnection[object], fixes: Sequence[Fix], h3_resolution: int
) -> set[Key]:
    """Store fixes in the current transaction; return the (vehicle, fix time) keys that were new.

    The fast path COPYs straight into ``pings``. If a fix is already stored, the COPY fails on
    the unique index; then (back at a savepoint) the fixes go through a staging table and
    ``INSERT … ON CONFLICT DO NOTHING RETURNING``, which names the new ones. ``fixes`` must not
    repeat a key.
    """
    async with conn.cursor() as cur:
        try:
            async with conn.transaction():  # a savepoint
                await _copy_rows(cur, "pings", fixes, h3_resolution)
            return {(f.vehicle_id, f.fix_time) for f in fixes}
        except psycopg.errors.UniqueViolation:
            pass
        await _copy_rows(cur, _STAGING, fixes, h3_resolution)
        await cur.execute(
            f"INSERT INTO pings ({_COLS}) SELECT {_COLS} FROM {_STAGING} "
            "ON CONFLICT DO NOTHING RETURNING vehicle_id, fix_time"
        )
        rows: list[Key] = await cur.fetchall()  # type: ignore[assignment]
        return {(int(v), t) for v, t in rows}


async def log_commits(
    conn: psycopg.AsyncConnection[object], new_keys: set[Key], shards: int
) -> dict[int, CommitMark]:
    """Record in the current transaction which fixes it stored: one ``ingest_commits`` row per
    shard (the keys as two arrays), in one statement. Returns each shard's (seq, xid), which
    its stream entry carries."""
    if not new_keys:
        return {}
    by_shard: dict[int, list[Key]] = {}
    for key in new_keys:
        by_shard.setdefault(shard_of(key[0], shards), []).append(key)
    values = ", ".join(["(%s, %s::bigint[], %s::timestamptz[])"] * len(by_shard))
    params: list[object] = []
    for shard, keys in by_shard.items():
        params += [shard, [k[0] for k in keys], [k[1] for k in keys]]
    marks: dict[int, CommitMark] = {}
    async with conn.cursor() as cur:
        await cur.execute(
            "INSERT INTO ingest_commits (shard, vehicle_ids, fix_times) VALUES "
            f"{values} RETURNING shard, seq, xid",
            params,
        )
        rows: list[tuple[int, int, int]] = await cur.fetchall()  # type: ignore[assignment]
        for shard, seq, xid in rows:
            marks[int(shard)] = CommitMark(int(seq), int(xid))
    return marks


class RecentKeys:
    """The last few stored fix times per vehicle, to answer most retries without the database.

    Only keys this process committed are held, so a hit is certainly a duplicate; a miss proves
    nothing (the database's unique index decides).
    """

    def __init__(self, per_vehicle: int = 32) -> None:
        self._per_vehicle = per_vehicle
        self._by_vehicle: dict[int, dict[datetime, None]] = {}

    def __contains__(self, key: Key) -> bool:
        held = self._by_vehicle.get(key[0])
        return held is not None and key[1] in held

    def add(self, key: Key) -> None:
        held = self._by_vehicle.setdefault(key[0], {})
        held[key[1]] = None
        if len(held) > self._per_vehicle:
            del held[next(iter(held))]  # oldest inserted first


class GroupCommitWriter:
    def __init__(
        self,
        conninfo: str,
        *,
        h3_resolution: int,
        max_rows: int,
        shards: int,
        connections: int = 2,
        on_stored: Callable[[list[Fix], dict[int, CommitMark]], None] | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._h3_resolution = h3_resolution
        self._max_rows = max_rows
        self._connections = connections
        self._shards = shards  # of the engine's streams: the commit log is kept per shard
        self.on_stored = on_stored
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._recent = RecentKeys()
        self._tasks: list[asyncio.Task[None]] = []
        self.groups_committed = 0
        self.rows_committed = 0

    async def start(self) -> None:
        for n in range(self._connections):
            self._tasks.append(asyncio.create_task(self._run(), name=f"group-commit-{n}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(Unavailable("the writer is shutting down"))

    async def write(self, fixes: Sequence[Fix]) -> list[bool]:
        """Store fixes; return per fix True (stored now) or False (already stored)."""
        if not fixes:
            return []
        if not self._tasks:
            raise Unavailable("the writer is not running")
        future: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(fixes, future))
        return await future

    def _take_group(self, first: _Job) -> list[_Job]:
        jobs, rows = [first], len(first.fixes)
        while rows < self._max_rows and not self._queue.empty():
            job = self._queue.get_nowait()
            jobs.append(job)
            rows += len(job.fixes)
        return jobs

    async def _connect(self) -> psycopg.AsyncConnection[object]:
        delay_s = 0.2
        while True:
            conn: psycopg.AsyncConnection[object] | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, application_name=WRITER_APPLICATION_NAME
                )
                assert conn is not None
                await conn.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} "
                    "(LIKE pings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
                await conn.commit()
                return conn
            except BaseException as exc:
                if conn is not None:
                    await conn.close()
                if not isinstance(exc, psycopg.OperationalError):
                    raise
                log.warning("writer cannot connect (%s); retrying in %.1f s", exc, delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)

    async def _run(self) -> None:
        conn = await self._connect()
        try:
            while True:
                jobs = self._take_group(await self._queue.get())
                try:
                    new_keys, commits = await self._commit(conn, jobs)
                except (psycopg.Error, OSError) as exc:
                    log.error("group commit of %d requests failed: %s", len(jobs), exc)
                    for job in jobs:
                        if not job.future.done():
                            job.future.set_exception(Unavailable("storage failed; retry"))
                    await conn.close()
                    conn = await self._connect()
                    continue
                self._answer(jobs, new_keys, commits)
        finally:
            await conn.close()

    async def _commit(
        self, conn: psycopg.AsyncConnection[object], jobs: list[_Job]
    ) -> tuple[set[Key], dict[int, CommitMark]]:
        fresh: list[Fix] = []
        keys: set[Key] = set()
        for job in jobs:
            for fix in job.fixes:
                key = (fix.vehicle_id, fix.fix_time)
                if key not in keys and key not in self._recent:
                    keys.add(key)
                    fresh.append(fix)
        new_keys: set[Key] = set()
        commits: dict[int, CommitMark] = {}
        if fresh:
            async with conn.transaction():
                new_keys = await copy_fixes(conn, fresh, self._h3_resolution)
                commits = await log_commits(conn, new_keys, self._shards)
        for key in new_keys:
            self._recent.add(key)
        self.groups_committed += 1
        self.rows_committed += len(new_keys)
        return new_keys, commits

    def _answer(self, jobs: list[_Job], new_keys: set[Key], commits: dict[int, CommitMark]) -> None:
        stored: list[Fix] = []
        for job in jobs:
            marks = []
            for fix in job.fixes:
                key = (fix.vehicle_id, fix.fix_time)
                is_new = key in new_keys
                if is_new:
                    new_keys.discard(key)  # a second copy in the same group is a duplicate
                    stored.append(fix)
                marks.append(is_new)
            if not job.future.done():
                job.future.set_result(marks)
        if self.on_stored is not None and stored:
            try:
                self.on_stored(stored, commits)
            except Exception:
                log.exception("post-commit hook failed")
