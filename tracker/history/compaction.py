"""Compact the index of each finished day of ``pings``.

While a day is being written, rows arrive in time order across all trucks, so each truck's
index entries end up in half-full leaf pages scattered over the index file: a cold 24 h track
reads ~40 random pages. Once a chunk's day is over (plus a grace period for late fixes), its
index is rebuilt with ``REINDEX CONCURRENTLY`` (writes go on meanwhile): sorted, full, contiguous
leaf pages, so a truck's day is ~20 adjacent pages that read ahead together. TimescaleDB's
Apache edition has no compression or reorder policy; this is our own: the maintenance task
``pings-compaction`` (tracker.maintenance), under an advisory lock so one process in the
deployment does it.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)
_LOCK = 0x6D75636C  # one compactor at a time
GRACE = timedelta(hours=1)


def compact_finished_chunks(conninfo: str, grace: timedelta = GRACE) -> list[str]:
    """Rebuild the indexes of chunks whose range ended more than ``grace`` ago; return them."""
    done: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        locked = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK,)).fetchone()
        if not locked or not locked[0]:
            return done
        try:
            rows = conn.execute(
                """SELECT format('%%I.%%I', c.chunk_schema, c.chunk_name)
                     FROM timescaledb_information.chunks c
                    WHERE c.hypertable_name = 'pings' AND c.range_end < now() - %s
                      AND format('%%I.%%I', c.chunk_schema, c.chunk_name) NOT IN
                          (SELECT chunk FROM pings_compacted)
                    ORDER BY c.range_end""",
                (grace,),
            ).fetchall()
            for (chunk,) in rows:
                _compact(conn, chunk)
                done.append(chunk)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
    return done


def _compact(conn: psycopg.Connection[tuple[object, ...]], chunk: str) -> None:
    started = time.monotonic()
    indexes = conn.execute(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass",
        (chunk,),
    ).fetchall()
    for (index,) in indexes:
        conn.execute(sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(sql.SQL(str(index))))
    conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.SQL(chunk)))
    duration_s = time.monotonic() - started
    conn.execute(
        "INSERT INTO pings_compacted (chunk, duration_s) VALUES (%s, %s) "
        "ON CONFLICT (chunk) DO UPDATE SET compacted_at = now(), duration_s = EXCLUDED.duration_s",
        (chunk, duration_s),
    )
    log.info("compacted %s in %.1f s", chunk, duration_s)
