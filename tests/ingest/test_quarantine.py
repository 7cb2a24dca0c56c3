"""The quarantine over HTTP (issue 14, item 3): fixes refused by the validator or the filters of
``POST /api/v1/positions`` are kept with their reason; the quarantine never costs an ingest."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import psycopg
from httpx import AsyncClient
from psycopg_pool import AsyncConnectionPool

from tracker.ingest.quarantine import MAX_PENDING, SAMPLES, QuarantineRecorder

NOW = datetime.now(UTC).replace(microsecond=0).isoformat()


def recorder(client: AsyncClient) -> QuarantineRecorder:
    q = client.app.state.platform.ingest.quarantine  # type: ignore[attr-defined]
    assert isinstance(q, QuarantineRecorder)
    return q


async def held(client: AsyncClient, db: psycopg.Connection[Any], expected: int) -> list[Any]:
    for _ in range(100):
        await recorder(client).flush()
        got = db.execute(
            "SELECT reason, field, protocol, refused, jsonb_array_length(samples) "
            "FROM ingest_quarantine ORDER BY reason"
        ).fetchall()
        if sum(r[3] for r in got) >= expected:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(got)


async def test_http_refusals_are_quarantined_with_bounded_samples(
    client: AsyncClient, fleet: Any, db: psycopg.Connection[Any]
) -> None:
    _, token = fleet.truck("Q-1")
    auth = {"Authorization": f"Bearer {token}"}
    bad_time = [{"time": "not a time", "lon": 7.42, "lat": 43.73, "note": "x" * 10_000}] * 8
    body = {"fixes": [*bad_time, {"time": "2001-01-01T00:00:00Z", "lon": 7.42, "lat": 43.73},
                      {"time": NOW, "lon": 7.42, "lat": 43.73}]}  # fmt: skip
    answer = await client.post("/api/v1/positions", json=body, headers=auth)
    assert answer.status_code == 200 and answer.json()["rejected"] == 9
    rows = await held(client, db, 9)
    assert rows == [("invalid_time", "time", "http", 8, SAMPLES), ("past", "time", "http", 1, 1)]
    sample = db.execute(
        "SELECT samples -> 0 FROM ingest_quarantine WHERE reason = 'invalid_time'"
    ).fetchone()
    assert sample is not None and sample[0]["fix_time"] == "not a time"
    assert len(sample[0]["raw"]["note"]) <= 120  # a bounded sample of what was sent


async def test_a_failing_quarantine_write_never_fails_the_ingest(
    client: AsyncClient, fleet: Any, db: psycopg.Connection[Any]
) -> None:
    _, token = fleet.truck("Q-2")
    auth = {"Authorization": f"Bearer {token}"}
    db.execute("ALTER TABLE ingest_quarantine RENAME TO ingest_quarantine_away")
    try:
        body = {"fixes": [{"time": "2001-01-01T00:00:00Z", "lon": 7.42, "lat": 43.73},
                          {"time": NOW, "lon": 7.42, "lat": 43.73}]}  # fmt: skip
        answer = await client.post("/api/v1/positions", json=body, headers=auth)
        assert answer.status_code == 200 and answer.json()["accepted"] == 1
        try:
            await recorder(client).flush()
        except psycopg.Error:
            pass
        else:
            raise AssertionError("the write should have failed")
    finally:
        db.execute("ALTER TABLE ingest_quarantine_away RENAME TO ingest_quarantine")
    assert await held(client, db, 1) == [("past", "time", "http", 1, 1)]  # kept, written later


async def test_the_pending_quarantine_is_bounded_and_its_log_rate_limited(
    database_url: str, caplog: Any
) -> None:
    pool = AsyncConnectionPool(database_url, open=False)
    q = QuarantineRecorder(pool)
    now = datetime.now(UTC)
    with caplog.at_level(logging.WARNING, logger="tracker.ingest.quarantine"):
        for terminal_id in range(MAX_PENDING + 5):  # one aggregate per terminal
            q.refuse(reason="past", field_name="time", message="old", protocol="http",
                     terminal_id=terminal_id, vehicle_id=None, received_at=now,
                     fix_time="2001-01-01", raw={"a": 1})  # fmt: skip
    assert q.stats.refused["past"] == MAX_PENDING + 5  # every refusal counted
    assert q.stats.overflow == 5  # but no more than MAX_PENDING aggregates held
    assert len(caplog.records) == 20  # the first 20 lines of the minute, the rest counted
