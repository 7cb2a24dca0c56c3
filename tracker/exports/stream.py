"""Running an export: count it (the row limit), then read it through a server-side cursor in
batches, encode each batch off the event loop, and yield the bytes. Nothing holds more than one
batch: a month of fixes never sits in memory. XLSX is written to a temporary file while the rows
arrive, then streamed from it in chunks and deleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool

from tracker.errors import BadRequest
from tracker.exports import formats
from tracker.exports.datasets import ExportQuery

CHUNK_BYTES = 256 * 1024
OnRows = Callable[[int], Awaitable[None]]


async def count_rows(pool: AsyncConnectionPool[Any], q: ExportQuery, max_rows: int) -> int:
    """The export's row count; 400 when it is over ``max_rows`` (the period names the fix)."""
    async with pool.connection() as conn:
        cur = await conn.execute(q.count_sql().encode(), q.params)
        row = await cur.fetchone()
    total = int(row[0]) if row else 0
    if total > max_rows:
        field = "until" if q.dataset.time_column else "limit"
        raise BadRequest(
            f"{total} rows: more than {max_rows} in one export; choose a shorter period",
            field=field,
        )
    return total


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(path.unlink, True)


async def export_bytes(
    pool: AsyncConnectionPool[Any],
    q: ExportQuery,
    fmt: str,
    language: str,
    zone: ZoneInfo,
    batch_rows: int,
    on_rows: OnRows | None = None,
) -> AsyncIterator[bytes]:
    """The export's bytes, batch by batch; ``on_rows(n)`` after each batch (job progress)."""
    enc = await asyncio.to_thread(
        formats.encoder, fmt, q.dataset.columns, language, zone, q.filename
    )
    finished: bytes | Path = b""
    try:
        yield await asyncio.to_thread(enc.head)
        async with (
            pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="tracker_export", binary=True) as cur,
        ):
            await cur.execute(q.rows_sql().encode(), q.params)
            while rows := await cur.fetchmany(batch_rows):
                chunk = await asyncio.to_thread(enc.encode, rows)
                if chunk:
                    yield chunk
                if on_rows is not None:
                    await on_rows(len(rows))
        finished = await asyncio.to_thread(enc.finish)
    finally:
        if isinstance(enc, formats.XlsxEncoder) and not isinstance(finished, Path):
            await asyncio.to_thread(enc.discard)  # stopped before the file was complete
    if isinstance(finished, Path):
        async for chunk in _file_chunks(finished):
            yield chunk
    elif finished:
        yield finished
