"""The group-commit writer against the real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

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
