"""A deliverer SIGKILLed mid-batch (a real ``tracker deliver`` process): nothing is lost, and a
repeated delivery carries the same idempotency key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from outbox_receivers import Receiver

from tracker.outbox import OutboxEvent, emit

EVENTS = 200


def _deliverer(database_url: str, redis_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_REDIS_URL": redis_url,
        "TRACKER_ENV": "test",
        "TRACKER_OUTBOX__POLL_INTERVAL_S": "0.05",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "deliver", "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
async def test_sigkill_mid_batch_loses_nothing(
    outbox_settings: Any,
    db: psycopg.Connection[Any],
    receiver: Receiver,
    subscribe_fn: Any,
    database_url: str,
    redis_url: str,
) -> None:
    receiver.delay_s = 0.01
    sub = subscribe_fn(db, target=receiver.url)
    async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
        for i in range(EVENTS):
            at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
            await emit(conn, OutboxEvent("yard.fill", at, {"seq": i}, yard_id=1))
    first, second = _deliverer(database_url, redis_url), _deliverer(database_url, redis_url)
    procs = [first, second]
    try:
        assert _wait(lambda: len(receiver.got) >= 40, 60), "the deliverers never started"
        # whichever holds the subscription is mid-batch now: kill both, start a fresh one
        first.send_signal(signal.SIGKILL)
        second.send_signal(signal.SIGKILL)
        first.wait(10)
        second.wait(10)
        killed_at = len(receiver.got)
        assert killed_at < EVENTS, "the batch finished before the kill"
        procs.append(third := _deliverer(database_url, redis_url))

        def done() -> bool:
            row = db.execute(
                "SELECT count(*) FROM outbox_deliveries WHERE state = 'delivered'"
            ).fetchone()
            return row == (EVENTS,)

        assert _wait(done, 60), "not everything was delivered after the restart"
        assert third.poll() is None
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(10)
    bodies = [r.json() for r in receiver.got]
    keys = Counter(b["idempotency_key"] for b in bodies)
    event_ids = [r[0] for r in db.execute("SELECT id FROM outbox_events ORDER BY id").fetchall()]
    assert set(keys) == {f"muck-{e}-{sub}" for e in event_ids}  # nothing lost
    for body in bodies:  # a repeat is the same delivery with the same key
        assert body["idempotency_key"] == f"muck-{body['event_id']}-{sub}"
    duplicates = sum(n - 1 for n in keys.values())
    assert duplicates <= 2  # at most what a killed process sent and had not recorded
    first_seen = list(dict.fromkeys(b["data"]["seq"] for b in bodies))
    assert first_seen == list(range(EVENTS))  # in order
