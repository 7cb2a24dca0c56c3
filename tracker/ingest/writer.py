"""Group-commit writer: fixes from concurrent requests are stored together, then acknowledged.

Requests put their fixes on a queue and wait. Each writer task takes everything waiting (up to a
row limit), binary-COPYs it into ``pings`` (through a staging table and ``ON CONFLICT DO
NOTHING`` when some are already stored: the unique (vehicle, fix time) index makes retries
idempotent) and commits. Only then are the waiting requests answered, each fix marked stored,
duplicate or refused, and the new fixes handed to the stream publisher.

- **Poison isolation.** When the database refuses the group's data (a data or integrity error,
  not a lost connection), the group is bisected under savepoints until the refused fixes are
  found; they are answered :class:`Refused` (naming the column, or ``row``), the rest of the
  group is stored and acknowledged in the same transaction.
- **Failure.** A lost connection or a timeout (statement or lock) fails the group's requests
  (HTTP 503: nothing was acknowledged, the terminal retries); a broken connection is replaced.
- **Back-pressure.** The queue is bounded in rows (``max_queued_rows``): beyond it a write is
  refused at once (:class:`Unavailable`, retry later). Every write has a deadline
  (``deadline_s``): past it the request is answered 503 and its fixes leave the queue; a group
  already in flight may still commit, and the retry is then answered ``duplicate``.
- **Commit log.** The same transaction records which fixes it stored, per shard, in the
  ingest commit log (``log_commits``): what the engine must process is known to the database,
  whatever happens to the publisher or Redis after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import h3.api.basic_int as h3
import psycopg
from psycopg.types.json import Jsonb

from tracker import metrics
from tracker.db import session_options
from tracker.errors import Unavailable
from tracker.wire import COPY_COLUMNS, COPY_TYPES, SOURCES, CommitMark, Fix, shard_of

log = logging.getLogger(__name__)

_COLS = ", ".join(COPY_COLUMNS)
Key = tuple[int, datetime]
_STAGING = "pings_staging"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WRITER_APPLICATION_NAME = "tracker-writer"


@dataclass(frozen=True, slots=True)
class Refused:
    """A fix the database refused (its group was stored without it)."""

    field: str  # the column named by the database, else "row"
    message: str


Mark = bool | Refused  # True: stored now; False: already stored (duplicate); or refused
_COLUMN = re.compile(r"column (\w+)")


@dataclass(slots=True)
class _Job:
    fixes: Sequence[Fix]
    future: asyncio.Future[list[Mark]] = field(repr=False)
    queued_at: float = 0.0


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
        fix.blind_area,
    )


async def _copy_rows(
    cur: psycopg.AsyncCursor[object], table: str, fixes: Sequence[Fix], h3_resolution: int
) -> None:
    async with cur.copy(f"COPY {table} ({_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(COPY_TYPES))
        for fix in fixes:
            await copy.write_row(fix_row(fix, h3_resolution))


def is_data_error(exc: BaseException) -> bool:
    """The database refused the rows themselves (bad value, constraint): retrying them cannot
    help, other rows may still be stored. Connection losses, timeouts and cancellations
    (``OperationalError``) and client-side failures are not data errors."""
    return isinstance(exc, psycopg.DataError | psycopg.IntegrityError)


def refusal(exc: psycopg.Error) -> Refused:
    """What to tell the sender of a refused fix: the column the database named, else ``row``."""
    diag = exc.diag
    column = diag.column_name
    if column is None and diag.context:
        found = _COLUMN.search(diag.context)  # COPY's context: "COPY pings, line 1, column extra"
        column = found.group(1) if found else None
    message = diag.message_primary or str(exc).strip() or type(exc).__name__
    return Refused(column or "row", f"refused by the database: {message}")


async def store_isolating(
    conn: psycopg.AsyncConnection[object], fixes: Sequence[Fix], h3_resolution: int
) -> tuple[set[Key], dict[Key, Refused]]:
    """Store fixes in the current transaction, leaving out those the database refuses.

    The whole list is tried first, under a savepoint; on a data error it is halved and each half
    tried again, down to single fixes, which are then refused with the database's reason. A
    group with one poison fix costs about 2·log2(n) extra COPYs; a clean group costs nothing
    more. Other errors propagate (the caller's transaction is then lost).
    """
    try:
        async with conn.transaction():  # a savepoint
            return await copy_fixes(conn, fixes, h3_resolution), {}
    except psycopg.Error as exc:
        if not is_data_error(exc):
            raise
        if len(fixes) == 1:
            fix = fixes[0]
            log.warning("fix of vehicle %d at %s refused: %s", fix.vehicle_id, fix.fix_time, exc)
            return set(), {(fix.vehicle_id, fix.fix_time): refusal(exc)}
    half = len(fixes) // 2
    new_keys, refused = await store_isolating(conn, fixes[:half], h3_resolution)
    more_keys, more_refused = await store_isolating(conn, fixes[half:], h3_resolution)
    return new_keys | more_keys, refused | more_refused


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
        await cur.execute(f"DELETE FROM {_STAGING}")  # the transaction may copy again
        return {(int(v), t) for v, t in rows}


def _epoch_us(moment: datetime) -> int:
    """Exact microseconds since the epoch (no float rounding, unlike ``timestamp()``)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


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
    # The arrays go as text literals built here: psycopg's generic list dumper costs ~10 µs
    # a key (a regex per element), a third of the ingest's CPU after the commit log came.
    # Fix times travel as exact epoch microseconds and become timestamptz in the server.
    values = ", ".join(
        [
            "(%s, %s::bigint[], ARRAY(SELECT timestamptz 'epoch' + us / 1000000 * interval '1 s'"
            " + us %% 1000000 * interval '1 microsecond'"
            " FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(us, n) ORDER BY n))"
        ]
        * len(by_shard)
    )
    params: list[object] = []
    for shard, keys in by_shard.items():
        ids = "{" + ",".join([str(k[0]) for k in keys]) + "}"
        times = "{" + ",".join([str(_epoch_us(k[1])) for k in keys]) + "}"
        params += [shard, ids, times]
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
        max_queued_rows: int = 100_000,
        deadline_s: float = 10.0,
        statement_timeout_s: float = 10.0,
        lock_timeout_s: float = 5.0,
        retry_after_s: int = 2,
    ) -> None:
        self._conninfo = conninfo
        self._h3_resolution = h3_resolution
        self._max_rows = max_rows
        self._connections = connections
        self._shards = shards  # of the engine's streams: the commit log is kept per shard
        self.on_stored = on_stored
        self.max_queued_rows = max_queued_rows
        self.deadline_s = deadline_s
        self.retry_after_s = retry_after_s
        self._options = session_options(statement_timeout_s, lock_timeout_s)
        self._pending: deque[_Job] = deque()
        self._pending_rows = 0
        self._has_work = asyncio.Event()
        self._in_flight: dict[int, tuple[float, int]] = {}  # task number -> (oldest, rows)
        self._recent = RecentKeys()
        self._tasks: list[asyncio.Task[None]] = []
        self.groups_committed = 0
        self.rows_committed = 0
        self.rows_refused = 0  # by the database, isolated from their group
        self.writes_over_bound = 0  # refused at once: the queue was full
        self.writes_past_deadline = 0

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    @property
    def queued_rows(self) -> int:
        """Rows held: waiting in the queue or in a group being written (what the bound counts)."""
        return self._pending_rows + sum(rows for _, rows in self._in_flight.values())

    def stalled_s(self) -> float:
        """How long the oldest waiting or in-flight work has waited (0 when there is none)."""
        now = time.monotonic()
        oldest = min((since for since, _ in self._in_flight.values()), default=now)
        if self._pending:
            oldest = min(oldest, self._pending[0].queued_at)
        return now - oldest

    async def start(self) -> None:
        for n in range(self._connections):
            self._tasks.append(asyncio.create_task(self._run(n), name=f"group-commit-{n}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        while self._pending:
            job = self._pending.popleft()
            if not job.future.done():
                job.future.set_exception(Unavailable("the writer is shutting down"))
        self._pending_rows = 0

    def _unavailable(self, message: str) -> Unavailable:
        return Unavailable(message, retry_after_s=self.retry_after_s)

    async def write(self, fixes: Sequence[Fix]) -> list[Mark]:
        """Store fixes; return per fix True (stored now), False (already stored) or
        :class:`Refused`. Raises :class:`Unavailable` (nothing acknowledged) when the queue is
        full, the deadline passes or the group's write fails."""
        if not fixes:
            return []
        if not self._tasks:
            raise Unavailable("the writer is not running")
        held = self.queued_rows
        if held and held + len(fixes) > self.max_queued_rows:  # alone, any request may wait
            self.writes_over_bound += 1
            metrics.INGEST_UNAVAILABLE.labels("queue_full").inc()
            raise self._unavailable(
                f"the writer's queue is full ({held} rows waiting); retry later"
            )
        future: asyncio.Future[list[Mark]] = asyncio.get_running_loop().create_future()
        job = _Job(fixes, future, time.monotonic())
        self._pending.append(job)
        self._pending_rows += len(fixes)
        metrics.WRITER_QUEUE_ROWS.set(self._pending_rows)
        self._has_work.set()
        try:
            async with asyncio.timeout(self.deadline_s):
                return await asyncio.shield(future)
        except TimeoutError:
            self.writes_past_deadline += 1
            metrics.INGEST_UNAVAILABLE.labels("deadline").inc()
            raise self._unavailable(
                f"storage did not answer within {self.deadline_s:g} s; retry later"
            ) from None
        finally:
            if not future.done():  # past the deadline or cancelled: leave the queue
                future.cancel()
                if job in self._pending:  # not in flight yet
                    self._pending.remove(job)
                    self._pending_rows -= len(fixes)
                    metrics.WRITER_QUEUE_ROWS.set(self._pending_rows)

    async def _take_group(self) -> list[_Job]:
        while not self._pending:
            self._has_work.clear()
            await self._has_work.wait()
        jobs: list[_Job] = []
        rows = 0
        while self._pending and rows < self._max_rows:
            job = self._pending.popleft()
            self._pending_rows -= len(job.fixes)
            if not job.future.done():
                jobs.append(job)
                rows += len(job.fixes)
        metrics.WRITER_QUEUE_ROWS.set(self._pending_rows)
        return jobs

    async def _connect(self) -> psycopg.AsyncConnection[object]:
        delay_s = 0.2
        while True:
            conn: psycopg.AsyncConnection[object] | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo,
                    application_name=WRITER_APPLICATION_NAME,
                    options=self._options,
                    connect_timeout=5,
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

    async def _run(self, n: int) -> None:
        conn = await self._connect()
        try:
            while True:
                jobs = await self._take_group()
                if not jobs:
                    continue
                since = min(job.queued_at for job in jobs)
                self._in_flight[n] = (since, sum(len(job.fixes) for job in jobs))
                started = time.monotonic()
                try:
                    new_keys, refused, commits = await self._commit(conn, jobs)
                except (psycopg.Error, OSError) as exc:
                    log.error("group commit of %d requests failed: %s", len(jobs), exc)
                    metrics.INGEST_UNAVAILABLE.labels("storage").inc(len(jobs))
                    for job in jobs:
                        if not job.future.done():
                            job.future.set_exception(self._unavailable("storage failed; retry"))
                    if conn.broken or conn.closed:
                        await conn.close()
                        conn = await self._connect()
                    else:
                        with contextlib.suppress(psycopg.Error, OSError):
                            await conn.rollback()
                    continue
                finally:
                    self._in_flight.pop(n, None)
                metrics.WRITER_COMMIT_SECONDS.observe(time.monotonic() - started)
                metrics.WRITER_GROUP_ROWS.observe(sum(len(job.fixes) for job in jobs))
                self._answer(jobs, new_keys, refused, commits)
        finally:
            await conn.close()

    async def _commit(
        self, conn: psycopg.AsyncConnection[object], jobs: list[_Job]
    ) -> tuple[set[Key], dict[Key, Refused], dict[int, CommitMark]]:
        fresh: list[Fix] = []
        keys: set[Key] = set()
        for job in jobs:
            for fix in job.fixes:
                key = (fix.vehicle_id, fix.fix_time)
                if key not in keys and key not in self._recent:
                    keys.add(key)
                    fresh.append(fix)
        new_keys: set[Key] = set()
        refused: dict[Key, Refused] = {}
        commits: dict[int, CommitMark] = {}
        if fresh:
            async with conn.transaction():
                new_keys, refused = await store_isolating(conn, fresh, self._h3_resolution)
                commits = await log_commits(conn, new_keys, self._shards)
        for key in new_keys:
            self._recent.add(key)
        self.groups_committed += 1
        self.rows_committed += len(new_keys)
        self.rows_refused += len(refused)
        return new_keys, refused, commits

    def _answer(
        self,
        jobs: list[_Job],
        new_keys: set[Key],
        refused: dict[Key, Refused],
        commits: dict[int, CommitMark],
    ) -> None:
        stored: list[Fix] = []
        for job in jobs:
            marks: list[Mark] = []
            for fix in job.fixes:
                key = (fix.vehicle_id, fix.fix_time)
                is_new = key in new_keys
                if is_new:
                    new_keys.discard(key)  # a second copy in the same group is a duplicate
                    stored.append(fix)
                marks.append(refused.get(key, is_new))
            if not job.future.done():
                job.future.set_result(marks)
        if self.on_stored is not None and stored:
            try:
                self.on_stored(stored, commits)
            except Exception:
                log.exception("post-commit hook failed")
