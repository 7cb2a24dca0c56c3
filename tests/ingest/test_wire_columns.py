"""The column list against the database: what the writer COPYs into ``pings`` is what the
engine reads back through the commit log, field for field; the shard rule is one in Python and
SQL."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tracker.ingest.writer import copy_fixes, fix_row, log_commits
from tracker.trips.worker import repo
from tracker.wire import COPY_COLUMNS, FIX_COLUMNS, SHARD_SQL, SOURCES, Fix, fix_from_row, shard_of

T0 = datetime.now(UTC).replace(microsecond=250_000) - timedelta(hours=1)


def fix_at(vehicle_id: int, seconds: int, **fields: Any) -> Fix:
    return Fix(vehicle_id, 5, T0 + timedelta(seconds=seconds), T0 + timedelta(seconds=90), 7.4,
               43.7, **fields)  # fmt: skip


FULL = {
    "speed_kmh": 31.5,
    "heading_deg": 271.0,
    "altitude_m": 12.5,
    "satellites": 9,
    "hdop": 0.5,
    "valid": False,
    "ignition": True,
    "loaded": True,
    "body_lifted": False,
    "cover_closed": True,
    "alarm_bits": 2**31 + 5,
    "flags": 8,
    "source": "jt808",
    "extra": {"mileage_km": 1.5},
}


def test_the_copy_row_follows_the_column_list() -> None:
    fix = fix_at(9, 0, **FULL)
    row = fix_row(fix, 9)
    assert len(row) == len(COPY_COLUMNS)
    for value, column in zip(row, FIX_COLUMNS, strict=True):
        if column.name == "h3_cell":
            assert isinstance(value, int)
        elif column.name == "source":
            assert value == SOURCES[fix.source]
        elif column.name == "extra":
            assert getattr(value, "obj", None) == fix.extra
        else:
            assert value == getattr(fix, column.name), column.name


async def test_what_is_copied_is_what_the_commit_log_reads_back(
    database_url: str, clean: None
) -> None:
    """The writer's commit-log rows name the stored fixes per shard, and the engine reads them
    back from ``pings`` as the stream rows they were published as."""
    stored = [fix_at(4242, 0, **FULL), fix_at(4242, 10), fix_at(4243, 20, source="jt808")]
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        async with conn.transaction():
            new_keys = await copy_fixes(conn, stored, 9)
            assert len(new_keys) == 3
            marks = await log_commits(conn, new_keys, 2)
        shard = shard_of(4242, 2)
        assert set(marks) == {0, 1}
        sync = await repo.commit_sync(conn, shard, 0, [], grace_s=0, limit=10)
        for _ in range(100):  # a transaction elsewhere on the cluster may hold the horizon
            if sync.taken:
                break
            await conn.rollback()
            await asyncio.sleep(0.1)
            sync = await repo.commit_sync(conn, shard, 0, [], grace_s=0, limit=10)
        assert [r.seq for r in sync.taken] == [marks[shard].seq] and sync.pending_xid is None
        assert sync.taken[0].xid == marks[shard].xid < sync.horizon
        rows = await repo.commit_fixes(conn, sync.taken)
        window = await repo.window_rows(conn, 4242, T0 - timedelta(seconds=1), T0 + timedelta(1))
    back = [fix_from_row(r[1:]) for r in rows]
    assert {r[0] for r in rows} == {marks[shard].seq}
    expected = [dataclasses.replace(f, terminal_id=0, extra=None) for f in stored]
    assert back == [f for f in expected if shard_of(f.vehicle_id, 2) == shard]
    assert [fix_from_row(r) for r in window] == expected[:2]


async def test_the_shard_rule_is_the_same_in_sql(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for shard in range(3):
            cur = await conn.execute(
                f"SELECT vehicle_id FROM generate_series(1, 40) vehicle_id WHERE {SHARD_SQL}"
                " ORDER BY 1",
                (3, shard),
            )
            found = [int(r[0]) for r in await cur.fetchall()]
            assert found == [v for v in range(1, 41) if shard_of(v, 3) == shard]


async def test_the_commit_log_keeps_every_key_exactly(database_url: str, clean: None) -> None:
    """The keys travel as epoch microseconds: exact to the microsecond at the ends of the
    instant range and before 1970, and in input order (vehicle i with time i)."""
    times = [
        datetime(2, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        T0 + timedelta(microseconds=123_457),
        datetime(9998, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ]
    keys = {(7000 + 2 * i, t) for i, t in enumerate(times)}  # all even: one shard of two
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        marks = await log_commits(conn, keys, 1)
        cur = await conn.execute(
            "SELECT vehicle_ids, fix_times FROM ingest_commits WHERE seq = %s",
            (marks[0].seq,),
        )
        row = await cur.fetchone()
        await conn.rollback()
    assert row is not None
    assert set(zip(row[0], row[1], strict=True)) == keys
