"""Compound faults under the engine (issue 14): Redis killed, then the API SIGKILLed while
terminals are being acknowledged (the groups it held for Redis are lost with it); then Redis away
while more groups are acknowledged than the publish backlog holds (the oldest are dropped).
Every stored fix still reaches the engine exactly once: its incidents and trips equal those of an
undisturbed run over the same stored fixes, and ``tracker engine --check`` proves from the
database alone that it caught up."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from engine_process import SHARDS, EngineProcess, stream_heads, wait_for
from httpx import AsyncClient
from outages import OwnRedis
from test_worker_crash import ENGINE_TABLES, SNAPSHOT, TRIPS, Posts, hauls, interleaved

from tracker.bench.common import free_port, start_server
from tracker.trips.worker.repo import LAG_SQL
from tracker.wire import STREAM_PREFIX, STREAM_SELECT, CommitMark, entry_fields, stream_key

pytestmark = pytest.mark.slow

BACKLOG_GROUPS = 4  # the API's publish backlog, so that a short outage overflows it
GRACE_S = 2.0  # the engine's default commit grace


class Api:
    """``tracker serve`` as a process of its own, to SIGKILL."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.port = free_port()
        self.env = {
            "TRACKER_DATABASE_URL": database_url,
            "TRACKER_REDIS_URL": redis_url,
            "TRACKER_ENV": "test",
            "TRACKER_SHARDS": str(SHARDS),
            "TRACKER_STREAM_BACKLOG_GROUPS": str(BACKLOG_GROUPS),
            "TRACKER_MAINTENANCE_IN_API": "false",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = start_server(self.port, self.env)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(20)
            self.proc = None


class Terminals:
    """The uploads, in order, as terminals send them: each again after a 503 or a lost
    connection (nothing acknowledged) until it is acknowledged."""

    def __init__(self, api: Api, posts: Posts) -> None:
        self.api, self.posts, self.acked = api, posts, 0

    async def send(self, until: int) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while self.acked < until:
                token, fixes = self.posts[self.acked]
                try:
                    resp = await http.post(
                        f"{self.api.url}/api/v1/positions",
                        json={"fixes": fixes},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
                    continue
                if resp.status_code == 503:
                    await asyncio.sleep(0.1)
                    continue
                assert resp.status_code == 200, resp.text
                self.acked += 1


def caught_up(db: psycopg.Connection[Any], rdb: redis.Redis) -> bool:
    """Every stream entry consumed, and by the database's account every commit processed."""
    positions = dict(db.execute("SELECT shard, stream_id FROM engine_shards").fetchall())
    if any(positions.get(s) != head for s, head in stream_heads(rdb).items()):
        return False
    lags = db.execute(LAG_SQL, (list(range(SHARDS)),)).fetchall()
    return all(behind == 0 and in_flight == 0 for _, _, behind, _, _, in_flight in lags)


def republish(db: psycopg.Connection[Any], rdb: redis.Redis) -> int:
    """The streams as an undisturbed publisher would have left them: every commit of the log,
    in order, as its entry (its stored fixes, its seq and xid)."""
    for key in rdb.scan_iter(f"{STREAM_PREFIX}*"):
        rdb.delete(key)
    commits = db.execute(
        "SELECT seq, xid, shard, vehicle_ids, fix_times FROM ingest_commits ORDER BY seq"
    ).fetchall()
    for seq, xid, shard, vehicle_ids, fix_times in commits:
        rows = db.execute(
            f"SELECT {STREAM_SELECT} FROM pings"
            " JOIN unnest(%s::bigint[], %s::timestamptz[]) AS k(v, t)"
            " ON vehicle_id = k.v AND fix_time = k.t ORDER BY vehicle_id, fix_time",
            (vehicle_ids, fix_times),
        ).fetchall()
        fields = entry_fields([list(r) for r in rows], CommitMark(seq, xid))
        rdb.xadd(stream_key(shard), fields)
    return len(commits)


def engine_check(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {"TRACKER_DATABASE_URL": database_url, "TRACKER_SHARDS": str(SHARDS)}
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", "engine", "--check"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.kill()


async def test_redis_down_then_api_killed_and_backlog_overflow_miss_nothing(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
    database_url: str,
    own_redis: OwnRedis,
    tmp_path: Path,
) -> None:
    trucks = [fleet.truck(f"C-{i}") for i in range(4)]
    _, per_truck = await hauls(client, staff, db, trucks)
    posts = interleaved(trucks, per_truck)
    a, b, c = len(posts) // 4, len(posts) // 2, 3 * len(posts) // 4
    assert c - b > 2 * BACKLOG_GROUPS

    rdb = redis.Redis.from_url(own_redis.url)
    api = Api(database_url, own_redis.url)
    engine = EngineProcess(database_url, own_redis.url, tmp_path / "engine.log")
    terminals = Terminals(api, posts)
    api.start()
    engine.start()
    try:
        await terminals.send(a)

        # Redis down; the API acknowledges groups it cannot publish, then is SIGKILLed mid-stream.
        own_redis.kill()
        sending = asyncio.create_task(terminals.send(b))
        await wait_for(lambda: terminals.acked >= a + 6, 30, "acknowledgements without Redis")
        api.stop(signal.SIGKILL)
        await asyncio.sleep(GRACE_S + 1)
        own_redis.start()
        api.start()
        await sending

        # Redis down for longer than the publish backlog lasts: the oldest groups are dropped.
        own_redis.kill()
        await terminals.send(c)
        async with httpx.AsyncClient() as http:
            health = (await http.get(f"{api.url}/healthz")).json()
        dropped = int(health["dropped_stream_groups"])
        assert dropped >= c - b - BACKLOG_GROUPS
        await asyncio.sleep(GRACE_S + 1)
        own_redis.start()
        await terminals.send(len(posts))
        await wait_for(lambda: caught_up(db, rdb), 90, "the engine to catch up")
        engine.stop(signal.SIGTERM)
    finally:
        api.stop()
        engine.stop(signal.SIGKILL)
    disturbed, disturbed_trips = db.execute(SNAPSHOT).fetchall(), db.execute(TRIPS).fetchall()
    commits = db.execute("SELECT count(*) FROM ingest_commits").fetchone()[0]  # type: ignore[index]
    entries = sum(int(rdb.xlen(stream_key(s))) for s in range(SHARDS))
    assert entries < commits, "the faults should have kept commits out of the streams"
    assert "stored fixes of" in engine.log.read_text(), "the engine should have read pings"
    check = engine_check(database_url)
    assert check.returncode == 0, check.stdout + check.stderr
    assert '"caught_up": true' in check.stdout.splitlines()[-1]

    # The reference: the engine's tables emptied, every commit in the streams, one run.
    db.execute(ENGINE_TABLES)
    assert republish(db, rdb) == commits
    reference_engine = EngineProcess(database_url, own_redis.url, tmp_path / "reference.log")
    reference_engine.start()
    try:
        await wait_for(lambda: caught_up(db, rdb), 60, "the reference run")
    finally:
        reference_engine.stop(signal.SIGTERM)
    assert "stored fixes of" not in reference_engine.log.read_text()
    reference, reference_trips = db.execute(SNAPSHOT).fetchall(), db.execute(TRIPS).fetchall()
    rdb.close()

    print(f"posts={len(posts)} commits={commits} entries={entries} incidents={len(reference)}")
    missed = {r[0] for r in reference} - {r[0] for r in disturbed}
    assert not missed, f"incidents missed: {sorted(missed)}"
    assert disturbed == reference
    assert [t[:-1] for t in disturbed_trips] == [t[:-1] for t in reference_trips]
    kinds = {(r[1], r[2]) for r in reference}
    assert {("dumping", trucks[1][0]), ("no_go_zone", trucks[3][0])} <= kinds
