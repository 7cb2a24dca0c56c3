"""Export jobs: a long export run off the request, with progress a page can poll.

``POST /exports/jobs`` checks and counts the export like a direct one, stores a job row
(``rows_total``) and runs it as a task of the API process: the bytes go to
``<exports.dir>/<job id>.<format>`` through a ``.part`` file renamed when complete, and
``rows_done`` is updated after every batch. The file is kept until ``expires_at``
(``exports.job_ttl_h``); the ``exports-expiry`` maintenance task deletes it then, and fails a job
whose process stopped hearing of it (``updated_at`` older than ``exports.stale_job_s``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from tracker.accounts.models import Principal, Role
from tracker.accounts.repo import jsonb
from tracker.exports.datasets import ExportQuery
from tracker.exports.stream import export_bytes
from tracker.settings import Settings

log = logging.getLogger(__name__)
_COLS = (
    "id, kind, format, state, rows_total, rows_done, bytes, error, created_at, finished_at,"
    " expires_at"
)
_running: set[asyncio.Task[None]] = set()  # held so that the loop does not drop them


def job_path(settings: Settings, job_id: uuid.UUID, fmt: str) -> Path:
    return Path(settings.exports.dir) / f"{job_id}.{fmt}"


def with_percent(row: dict[str, Any]) -> dict[str, Any]:
    total, done = row["rows_total"], row["rows_done"]
    if row["state"] == "done":
        row["percent"] = 100.0
    else:
        row["percent"] = round(100.0 * done / total, 1) if total else 0.0
    return row


async def create(
    pool: AsyncConnectionPool[Any],
    settings: Settings,
    who: Principal,
    kind: str,
    fmt: str,
    params: dict[str, Any],
    rows_total: int,
) -> dict[str, Any]:
    company = who.company_id if who.role == Role.company_user else None
    ttl = timedelta(hours=settings.exports.job_ttl_h)
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""INSERT INTO export_jobs (actor, user_id, company_id, kind, format, params,
                                         rows_total, expires_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, now() + %s) RETURNING {_COLS}""".encode(),
            (who.username, who.user_id, company, kind, fmt, jsonb(params), rows_total, ttl),
        )
        row = await cur.fetchone()
    assert row is not None
    return with_percent(row)


async def get(
    pool: AsyncConnectionPool[Any], job_id: uuid.UUID, who: Principal
) -> dict[str, Any] | None:
    """The caller's own job (another account's job is not found)."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLS} FROM export_jobs WHERE id = %s AND actor = %s"
            " AND user_id IS NOT DISTINCT FROM %s".encode(),
            (job_id, who.username, who.user_id),
        )
        row = await cur.fetchone()
    return None if row is None else with_percent(row)


def start(
    pool: AsyncConnectionPool[Any],
    settings: Settings,
    job_id: uuid.UUID,
    q: ExportQuery,
    fmt: str,
    language: str,
) -> None:
    task = asyncio.create_task(
        _run(pool, settings, job_id, q, fmt, language), name=f"export {job_id}"
    )
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _set(pool: AsyncConnectionPool[Any], job_id: uuid.UUID, sql: str, *args: Any) -> None:
    async with pool.connection() as conn:
        await conn.execute(sql.encode(), (*args, job_id))


async def _run(
    pool: AsyncConnectionPool[Any],
    settings: Settings,
    job_id: uuid.UUID,
    q: ExportQuery,
    fmt: str,
    language: str,
) -> None:
    path = job_path(settings, job_id, fmt)
    part = path.with_suffix(path.suffix + ".part")

    async def progress(n: int) -> None:
        await _set(
            pool,
            job_id,
            "UPDATE export_jobs SET rows_done = rows_done + %s, updated_at = now() WHERE id = %s",
            n,
        )

    try:
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        handle = await asyncio.to_thread(part.open, "wb")
        size = 0
        try:
            zone = ZoneInfo(settings.city_tz)
            batch = settings.exports.batch_rows
            async for chunk in export_bytes(pool, q, fmt, language, zone, batch, progress):
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)
        await asyncio.to_thread(part.replace, path)
        await _set(
            pool,
            job_id,
            "UPDATE export_jobs SET state = 'done', bytes = %s, finished_at = now(),"
            " updated_at = now() WHERE id = %s",
            size,
        )
    except BaseException as exc:  # a job that stops, whatever the cause, fails
        log.exception("export job %s failed", job_id)
        await asyncio.to_thread(part.unlink, True)
        reason = "stopped" if isinstance(exc, asyncio.CancelledError) else type(exc).__name__
        try:
            await asyncio.shield(
                _set(
                    pool,
                    job_id,
                    "UPDATE export_jobs SET state = 'failed', error = %s, finished_at = now(),"
                    " updated_at = now() WHERE id = %s",
                    reason,
                )
            )
        except Exception:  # the pool is gone (shutdown): the expiry task fails it as stale
            log.warning("export job %s: could not record its failure", job_id)
        if isinstance(exc, asyncio.CancelledError):
            raise


async def expire(pool: AsyncConnectionPool[Any], settings: Settings) -> int:
    """Delete the files of jobs past their expiry, and fail running jobs nobody runs any more.
    Returns how many jobs changed. Safe in several processes (row locks, SKIP LOCKED)."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            """UPDATE export_jobs SET state = 'expired', updated_at = now()
                WHERE id IN (SELECT id FROM export_jobs
                              WHERE expires_at <= now() AND state <> 'expired'
                              FOR UPDATE SKIP LOCKED)
            RETURNING id, format""",
        )
        gone = await cur.fetchall()
        stale = await conn.execute(
            """UPDATE export_jobs SET state = 'failed', error = 'abandoned', finished_at = now()
                WHERE state = 'running' AND updated_at < now() - make_interval(secs => %s)""",
            (settings.exports.stale_job_s,),
        )
    for job_id, fmt in gone:
        path = job_path(settings, job_id, fmt)
        await asyncio.to_thread(path.unlink, True)
        await asyncio.to_thread(path.with_suffix(path.suffix + ".part").unlink, True)
    return len(gone) + int(stale.rowcount)
