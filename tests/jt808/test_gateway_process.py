"""The gateway is its own process: its own pipeline, and nothing of the API's start-up (no
migrations, no periodic tasks, no live listener)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql
from test_gateway import PHONE, connected, report, within

from tracker.db import SchemaNotReady
from tracker.ingest.jt808 import Result
from tracker.ingest.jt808.gateway import gateway_process
from tracker.ingest.stream import LATEST_KEY, stream_key
from tracker.maintenance import TASK_NAMES
from tracker.settings import Settings

LIVE_LISTENER = {"live-pubsub", "live-streams"}  # tracker.live.feed's tasks


def alive() -> set[str]:
    return {t.get_name() for t in asyncio.all_tasks() if not t.done()}


async def test_the_gateway_runs_its_pipeline_and_no_task_of_the_api(
    start_gateway: Any,
    jt808_fleet: Any,
    db: psycopg.Connection[Any],
    rdb: redis.Redis,
    settings: Settings,
) -> None:
    vehicle_id = jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    names = alive()
    assert "jt808-idle-sweeper" in names and "stream-publisher" in names
    assert any(n.startswith("group-commit-") for n in names)
    assert names.isdisjoint(TASK_NAMES), names & set(TASK_NAMES)
    assert names.isdisjoint(LIVE_LISTENER)
    term = await connected(gw.port)
    assert await within(term.authenticate(jt808_fleet.code)) == Result.OK
    serial = await term.send(report(5))
    await within(term.reply_to(serial))
    await term.close()
    assert db.execute("SELECT count(*) FROM pings").fetchone() == (1,)
    shard = vehicle_id % settings.shards
    for _ in range(200):  # published after commit, by the gateway's own pipeline
        if rdb.xlen(stream_key(shard)) and rdb.hexists(LATEST_KEY, str(vehicle_id)):
            break
        await asyncio.sleep(0.01)
    assert rdb.xlen(stream_key(shard)) == 1
    assert rdb.hexists(LATEST_KEY, str(vehicle_id))


@pytest.fixture
def empty_database_url(database_url: str) -> Iterator[str]:
    """A database with no schema at all (the session's own database stays as it is)."""
    name = f"tracker_test_empty_{os.getpid()}"
    admin = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield psycopg.conninfo.make_conninfo(database_url, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)


async def test_the_gateway_waits_for_the_schema_and_never_migrates(
    settings: Settings, empty_database_url: str
) -> None:
    cfg = settings.model_copy(
        update={
            "database_url": empty_database_url,
            "schema_wait_s": 0.6,
            "jt808": settings.jt808.model_copy(update={"host": "127.0.0.1", "port": 0}),
        }
    )
    started = asyncio.get_running_loop().time()
    with pytest.raises(SchemaNotReady, match="tracker migrate"):
        async with gateway_process(cfg):
            pytest.fail("the gateway started on a database without the schema")
    assert asyncio.get_running_loop().time() - started >= 0.5  # it waited before giving up
    with psycopg.connect(empty_database_url) as conn:
        row = conn.execute("SELECT to_regclass('schema_migrations') IS NULL").fetchone()
    assert row == (True,)  # nobody migrated it


def test_the_gateway_process_loads_neither_the_api_nor_the_maintenance_tasks() -> None:
    probe = (
        "import sys, tracker.ingest.jt808.gateway; "
        "print(sorted(m for m in ('tracker.app', 'tracker.deps', 'tracker.maintenance', "
        "'tracker.live.feed') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
