"""A month of fixes streams in bounded memory (issue 16: "exports of a 31-day track stream in
bounded memory"): the export's Python allocations peak far below the size of what it sends."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from export_world import World
from httpx import AsyncClient

from tracker.accounts.models import BOOTSTRAP
from tracker.exports import datasets
from tracker.exports.stream import count_rows, export_bytes

START = datetime(2026, 10, 1, tzinfo=UTC)
ROWS = 31 * 86_400 // 10  # 31 days at 10 s: 267,840 fixes


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv"])
async def test_a_31_day_track_streams_in_bounded_memory(
    client: AsyncClient, world: World, fmt: str
) -> None:
    world.track(world.truck_a, START, ROWS, 10)
    platform: Any = client.app.state.platform  # type: ignore[attr-defined]
    params = datasets.ExportParams(
        vehicle_id=world.truck_a, since=START, until=datetime(2026, 11, 1, tzinfo=UTC)
    )
    q = datasets.build("track", fmt, params, BOOTSTRAP, platform.settings.exports)
    assert await count_rows(platform.pool, q, platform.settings.exports.max_rows) == ROWS
    sent = lines = 0
    tracemalloc.start()
    try:
        async for chunk in export_bytes(
            platform.pool, q, fmt, "zh", ZoneInfo("Asia/Shanghai"), 5000
        ):
            sent += len(chunk)
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if fmt == "csv":
        assert lines == ROWS + 1
    assert sent > 20_000_000  # what was sent: tens of megabytes …
    assert peak < 8_000_000, peak  # … through a few megabytes (one batch) at most
    assert peak < sent / 5
