"""``tracker maintenance`` against the real database: a permit past its last day is stored
``expired`` by one round (``--once``), and by the running process's rounds until SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from permit_world import TODAY, World

from tracker import cli
from tracker.settings import Settings


def ended_yesterday(db: psycopg.Connection[Any], permit_id: int) -> None:
    yesterday = TODAY - timedelta(days=1)
    db.execute(
        "UPDATE permits SET valid_from = %s, valid_to = %s WHERE id = %s",
        (yesterday - timedelta(days=3), yesterday, permit_id),
    )


def stored_state(db: psycopg.Connection[Any], permit_id: int) -> str:
    row = db.execute("SELECT state FROM permits WHERE id = %s", (permit_id,)).fetchone()
    assert row is not None
    return str(row[0])


def process_env(settings: Settings) -> dict[str, str]:
    return {
        "TRACKER_DATABASE_URL": settings.database_url,
        "TRACKER_REDIS_URL": settings.redis_url,
        "TRACKER_ENV": "test",
        "TRACKER_STAFF_TOKEN": settings.staff_token,
        "TRACKER_COMPACTION_INTERVAL_S": "0",  # no REINDEX of the shared test database
    }


async def test_one_maintenance_round_expires_a_permit_past_its_end(
    world: World,
    db: psycopg.Connection[Any],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    permit_id = await world.approved()
    ended_yesterday(db, permit_id)
    assert stored_state(db, permit_id) == "approved"  # reads say expired; nothing stored it
    for key, value in process_env(settings).items():
        monkeypatch.setenv(key, value)
    assert await asyncio.to_thread(cli.main, ["maintenance", "--once"]) == 0
    assert stored_state(db, permit_id) == "expired"
    audited = db.execute(
        "SELECT actor FROM audit_log WHERE action = 'expire' AND entity = 'permit'"
    ).fetchall()
    assert audited == [("system",)]
    out = capsys.readouterr().out
    assert "permit-expiry: 1" in out
    for name in ("yard-capacity", "blacklist-expiry", "kpi-rollup"):  # every round that is on
        assert f"{name}: " in out
    assert "pings-compaction" not in out  # off: interval 0


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", *args], env=env, stdout=out, stderr=out
        )


async def until(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_the_maintenance_process_runs_its_rounds_until_terminated(
    world: World, db: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    first = await world.approved()
    second = await world.approved(vehicle_ids=world.vehicle_ids[1:2], quota_m3=400)
    ended_yesterday(db, first)
    env = {**os.environ, **process_env(settings), "TRACKER_PERMIT_EXPIRY_INTERVAL_S": "0.2"}
    log = tmp_path / "maintenance.log"
    proc = start_process(["maintenance", "--only", "permit-expiry"], env, log)
    try:
        await until(lambda: stored_state(db, first) == "expired", 30, "the first round")
        assert stored_state(db, second) == "approved"
        ended_yesterday(db, second)
        await until(lambda: stored_state(db, second) == "expired", 10, "a later round")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "maintenance running: permit-expiry" in log.read_text()
