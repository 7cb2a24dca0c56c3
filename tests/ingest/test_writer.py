"""The group-commit writer against the real database."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tracker.errors import Unavailable
from tracker.ingest.writer import GroupCommitWriter, RecentKeys
from tracker.wire import Fix

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def fixes(vehicle_id: int, seconds: range) -> list[Fix]:
    return [Fix(vehicle_id, 1, T0 + timedelta(seconds=s), T0, 7.4, 43.7) for s in seconds]


async def started(database_url: str) -> GroupCommitWriter:
    writer = GroupCommitWriter(
        database_url, h3_resolution=9, max_rows=10_000, shards=8, connections=1
    )
    await writer.start()
    return writer


async def test_concurrent_requests_share_commits(database_url: str, clean: None, db: Any) -> None:
    writer = await started(database_url)
    try:
        results = await asyncio.gather(*(writer.write(fixes(v, range(50))) for v in range(1, 41)))
    finally:
        await writer.stop()
    assert all(all(marks) for marks in results)
    assert writer.groups_committed < 40, "40 concurrent requests should share commits"
    assert db.execute("SELECT count(*) FROM pings").fetchone()[0] == 40 * 50


async def test_duplicates_known_only_to_the_database(
    database_url: str, clean: None, db: Any
) -> None:
    first = await started(database_url)
    try:
        assert await first.write(fixes(7, range(0, 100))) == [True] * 100
    finally:
        await first.stop()
    second = await started(database_url)  # a new process: its recent-key memory is empty
    try:
        marks = await second.write(fixes(7, range(50, 150)))
    finally:
        await second.stop()
    assert marks == [False] * 50 + [True] * 50
    assert db.execute("SELECT count(*) FROM pings WHERE vehicle_id = 7").fetchone()[0] == 150


def test_recent_keys_forget_the_oldest() -> None:
    recent = RecentKeys(per_vehicle=3)
    for s in range(5):
        recent.add((1, T0 + timedelta(seconds=s)))
    assert (1, T0) not in recent and (1, T0 + timedelta(seconds=4)) in recent
    assert (2, T0 + timedelta(seconds=4)) not in recent


async def test_with_the_database_away_writes_end_in_time_and_the_queue_stays_bounded() -> None:
    """Nothing listens where the writer connects (a database that is down): every write is
    answered Unavailable by its deadline or at once when the queue is full; nothing piles up."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    writer = GroupCommitWriter(
        f"postgresql://postgres@127.0.0.1:{port}/none",
        h3_resolution=9,
        max_rows=10_000,
        shards=8,
        connections=1,
        max_queued_rows=100,
        deadline_s=0.5,
    )
    await writer.start()
    try:
        started = time.monotonic()
        answers = await asyncio.gather(
            *(writer.write(fixes(v, range(40))) for v in range(1, 6)), return_exceptions=True
        )
        elapsed_s = time.monotonic() - started
        assert all(isinstance(a, Unavailable) for a in answers), answers
        messages = [a.message for a in answers if isinstance(a, Unavailable)]
        assert sum("queue is full" in m for m in messages) == 3  # 2 x 40 rows fit in 100
        assert sum("within 0.5 s" in m for m in messages) == 2
        assert elapsed_s < 2.0
        assert writer.queued_rows == 0
    finally:
        await writer.stop()
