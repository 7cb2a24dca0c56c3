"""Back-pressure and honest health (issue 14, item 5): while ``pings`` is locked, ingest answers
503 with Retry-After within its deadline, the writer's queue stays bounded, staff reads that do
not need ``pings`` stay served, ``/readyz`` says what is wrong; afterwards everything recovers.
The lock is real: a second session holds ``LOCK TABLE pings IN ACCESS EXCLUSIVE MODE``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from httpx import ASGITransport, AsyncClient
from outages import cut_db_sessions

from tracker.app import create_app, lifespan
from tracker.db import make_pool
from tracker.ingest.jt808.gateway import gateway_process
from tracker.settings import Settings

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
DEADLINE_S = 2.0
QUEUE_ROWS = 300


def batch(first_s: int, n: int) -> dict[str, Any]:
    return {
        "fixes": [
            {"time": (T0 + timedelta(seconds=first_s + i)).isoformat(), "lon": 7.42, "lat": 43.73}
            for i in range(n)
        ]
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def pings_locked(database_url: str, hold_at_most_s: float = 20.0) -> AsyncIterator[None]:
    """``pings`` locked by another session, released on exit (or after ``hold_at_most_s``, so a
    platform that hangs under the lock fails the test instead of hanging it)."""
    conn = await psycopg.AsyncConnection.connect(database_url)
    await conn.execute("LOCK TABLE pings IN ACCESS EXCLUSIVE MODE")

    async def release_later() -> None:
        await asyncio.sleep(hold_at_most_s)
        await conn.rollback()

    guard = asyncio.create_task(release_later())
    try:
        yield
    finally:
        guard.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await guard
        await conn.rollback()
        await conn.close()


async def timed(coro: Any) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    resp = await coro
    return time.monotonic() - started, resp


async def test_a_lock_on_pings_gets_503_in_time_and_spares_staff_reads(
    settings: Settings, database_url: str, fleet: Any, accounts: Any, db: Any
) -> None:
    cfg = settings.model_copy(
        update={
            "ingest_deadline_s": DEADLINE_S,
            "writer_lock_timeout_s": 30.0,  # the request deadline answers first
            "writer_max_queued_rows": QUEUE_ROWS,
            "db_pool_size": 4,
            "db_lock_timeout_s": 1.0,
            "readiness_timeout_s": 1.0,
            "writer_stall_s": 1.0,
        }
    )
    trucks = [fleet.truck(f"L-{n:03d}") for n in range(8)]
    admin = accounts.headers("admin")
    app = create_app(cfg)
    async with lifespan(app):
        writer = app.state.platform.writer
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/api/v1/auth/me", headers=admin)).status_code == 200
            vid = trucks[0][0]
            track = f"/api/v1/vehicles/{vid}/track"
            assert (await client.get(track, headers=admin)).status_code == 200
            peak_rows = 0

            async def watch_queue() -> None:
                nonlocal peak_rows
                while True:
                    peak_rows = max(peak_rows, writer.queued_rows)
                    await asyncio.sleep(0.01)

            watcher = asyncio.create_task(watch_queue())
            async with pings_locked(database_url):
                posts = [
                    asyncio.create_task(
                        timed(client.post("/api/v1/positions", json=batch(0, 50), headers=auth(t)))
                    )
                    for _, t in trucks
                ]
                reads = [
                    asyncio.create_task(timed(client.get(track, headers=admin))) for _ in range(8)
                ]
                await asyncio.sleep(0.3)
                me_s, me = await timed(client.get("/api/v1/auth/me", headers=admin))
                ready = await client.get("/readyz")
                answered = [await p for p in posts]
                read_answers = [await r for r in reads]
            watcher.cancel()

            for elapsed_s, resp in answered:
                assert resp.status_code == 503, resp.text
                assert int(resp.headers["retry-after"]) >= 1
                assert elapsed_s <= DEADLINE_S + 1.5, elapsed_s
            assert any("queue is full" in r.json()["message"] for _, r in answered)
            assert peak_rows <= QUEUE_ROWS  # bounded, though the requests keep coming
            assert me.status_code == 200 and me_s < 3.0, (me_s, me.text)
            for elapsed_s, resp in read_answers:  # blocked reads give up, freeing the pool
                assert resp.status_code == 503, resp.text
                assert "busy" in resp.json()["message"] and resp.headers["retry-after"]
                assert elapsed_s < 5.0
            assert ready.status_code == 503
            assert "pings" in ready.json()["failed"], ready.json()

            for _ in range(100):  # released: ready again, and every batch is taken
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get("/readyz")).json()["status"] == "ready"
            assert writer.queued_rows == 0  # what was abandoned left the queue
            for _, token in trucks:
                resp = await client.post(
                    "/api/v1/positions", json=batch(0, 50), headers=auth(token)
                )
                assert resp.status_code == 200, resp.text
                assert resp.json()["accepted"] + resp.json()["duplicates"] == 50
    assert db.execute("SELECT count(*) FROM pings").fetchone()[0] == 8 * 50


async def test_the_pool_checks_connections_after_an_outage(
    settings: Settings, db: psycopg.Connection[Any]
) -> None:
    """A database restart kills every session: the first caller after it gets a live one."""
    pool = make_pool(settings)
    await pool.open(wait=True)
    try:
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")
        assert cut_db_sessions(db) >= 1
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT 1")
            assert await cur.fetchone() == (1,)
    finally:
        await pool.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        resp = await client.get(f"http://127.0.0.1:{port}{path}")
    return resp.status_code, resp.json()


async def test_the_gateway_answers_readiness_on_its_port(
    settings: Settings, database_url: str
) -> None:
    port = free_port()
    cfg = settings.model_copy(
        update={
            "health_port": port,
            "readiness_timeout_s": 1.0,
            "jt808": settings.jt808.model_copy(update={"host": "127.0.0.1", "port": 0}),
        }
    )
    async with gateway_process(cfg):
        assert await get(port, "/healthz") == (200, {"status": "ok"})
        status, body = await get(port, "/readyz")
        assert status == 200 and body["status"] == "ready", body
        assert set(body["checks"]) == {"database", "redis", "pings", "writer"}
        async with pings_locked(database_url):
            status, body = await get(port, "/readyz")
        assert status == 503 and body["failed"] == ["pings"], body
        assert (await get(port, "/readyz"))[0] == 200
        assert (await get(port, "/nowhere"))[0] == 404


def start_engine(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", "engine", "--shards", "all"],
            env=env,
            stdout=out,
            stderr=out,
        )


async def test_the_engine_answers_readiness_on_its_port(
    database_url: str, redis_url: str, clean: None, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_REDIS_URL": redis_url,
        "TRACKER_HEALTH_PORT": str(port),
    }
    log = tmp_path / "engine.log"
    proc = start_engine(env, log)
    try:
        answer: tuple[int, dict[str, Any]] | None = None
        for _ in range(300):
            try:
                answer = await get(port, "/readyz")
                break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                await asyncio.sleep(0.1)
        assert answer is not None, log.read_text()
        assert answer[0] == 200 and set(answer[1]["checks"]) == {"database", "redis"}, answer
    finally:
        proc.terminate()
        proc.wait(20)
