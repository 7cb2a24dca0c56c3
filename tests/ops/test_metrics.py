"""Prometheus metrics (issue 14, item 6): every process exposes what it does, read by the real
client library's parser.

In process: the API's ``/metrics`` (who may read it; acknowledged, stored, duplicates, refused by
reason, the writer's commits and queue, the stream publisher) and the health listener's
``/metrics``. As processes: ``tracker serve --workers 2`` answers for both workers from either of
them, and the engine's listener counts the fixes it processed and the incidents it opened."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from prometheus_client.parser import text_string_to_metric_families

from tracker.bench.common import free_port, start_server
from tracker.health import HealthServer, Readiness
from tracker.settings import Settings

NOW = datetime.now(UTC).replace(microsecond=0)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def fixes(n: int, start_s: int = 0) -> list[dict[str, Any]]:
    t0 = NOW - timedelta(hours=1)
    return [
        {"time": (t0 + timedelta(seconds=start_s + 10 * i)).isoformat(),
         "lon": 7.42 + i * 1e-4, "lat": 43.73, "speed_kmh": 20.0}
        for i in range(n)
    ]  # fmt: skip


async def scrape(client: AsyncClient, headers: dict[str, str]) -> str:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return resp.text


async def test_api_metrics_count_what_ingest_answered(
    client: AsyncClient, fleet: Any, staff: dict[str, str]
) -> None:
    _, token = fleet.truck("M-001")
    auth = {"Authorization": f"Bearer {token}"}
    before = await scrape(client, staff)
    sent = fixes(5)
    bad = {"time": NOW.isoformat(), "lon": 500.0, "lat": 43.73}  # refused: position
    resp = await client.post("/api/v1/positions", json={"fixes": [*sent, bad]}, headers=auth)
    assert resp.status_code == 200, resp.text
    resp = await client.post("/api/v1/positions", json={"fixes": sent[:2]}, headers=auth)
    assert resp.status_code == 200
    after = await scrape(client, staff)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tracker_ingest_fixes_total", protocol="http", outcome="stored") == 5
    assert delta("tracker_ingest_fixes_total", protocol="http", outcome="duplicate") == 2
    assert delta("tracker_ingest_fixes_total", protocol="http", outcome="refused") == 1
    assert delta("tracker_ingest_refused_total", protocol="http", reason="invalid_position") == 1
    assert delta("tracker_writer_commit_seconds_count") >= 1
    assert delta("tracker_writer_group_rows_sum") == 7
    assert value(after, "tracker_writer_queue_rows") == 0
    for _ in range(50):  # the publisher runs after the answer
        text = await scrape(client, staff)
        if (
            value(text, "tracker_stream_published_fixes_total")
            - value(before, "tracker_stream_published_fixes_total")
            == 5
        ):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("published fixes never reached 5")
    assert value(text, "tracker_stream_backlog_groups") == 0


async def test_metrics_need_the_scrape_token_or_an_admin(
    settings: Settings, accounts: Any, staff: dict[str, str]
) -> None:
    from httpx import ASGITransport

    from tracker.app import create_app, lifespan

    settings.metrics_token = "scrape-secret-for-tests"
    app = create_app(settings)
    transport = ASGITransport(app=app)
    async with lifespan(app), AsyncClient(transport=transport, base_url="http://t") as c:
        assert (await c.get("/metrics")).status_code == 401
        viewer = accounts.headers("viewer")
        denied = await c.get("/metrics", headers=viewer)
        assert denied.status_code == 403 and denied.json()["field"] == "authorization"
        wrong = await c.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        scraper = {"Authorization": "Bearer scrape-secret-for-tests"}
        for ok in (scraper, accounts.headers("admin"), staff):
            resp = await c.get("/metrics", headers=ok)
            assert resp.status_code == 200
            assert "tracker_ingest_fixes_total" in resp.text


async def test_the_health_listener_serves_metrics() -> None:
    server = HealthServer(Readiness(), "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient() as http:
            resp = await http.get(f"http://127.0.0.1:{server.port}/metrics")
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/plain")
        names = {f.name for f in text_string_to_metric_families(resp.text)}
        assert {"tracker_gateway_connections", "tracker_engine_fixes",
                "tracker_incidents_opened"} <= names  # fmt: skip
    finally:
        await server.stop()


@pytest.mark.slow
async def test_several_api_workers_answer_for_all_of_them(
    database_url: str, redis_url: str, fleet: Any, clean: None
) -> None:
    """Posts spread over two workers; every scrape, whichever worker answers, has them all."""
    trucks = [fleet.truck(f"MW-{i:03d}") for i in range(8)]
    port = free_port()
    env = {"TRACKER_DATABASE_URL": database_url, "TRACKER_REDIS_URL": redis_url,
           "TRACKER_ENV": "test", "TRACKER_MAINTENANCE_IN_API": "false",
           "TRACKER_STAFF_TOKEN": "test-staff"}  # fmt: skip
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = start_server(port, env, workers=2)
    url = f"http://127.0.0.1:{port}"
    try:
        stored = 0
        for round_ in range(6):  # new connections: the kernel spreads them over the workers
            for _, token in trucks:
                async with httpx.AsyncClient(timeout=10) as one:
                    resp = await one.post(
                        f"{url}/api/v1/positions",
                        json={"fixes": fixes(3, start_s=round_ * 30)},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                assert resp.status_code == 200, resp.text
                stored += resp.json()["accepted"]
        assert stored == 6 * 8 * 3
        seen = set()
        admin = {"Authorization": "Bearer test-staff"}
        for _ in range(12):
            async with httpx.AsyncClient(timeout=10) as one:
                resp = await one.get(f"{url}/metrics", headers=admin)
            assert resp.status_code == 200
            seen.add(
                value(resp.text, "tracker_ingest_fixes_total", protocol="http", outcome="stored")
            )
        assert seen == {float(stored)}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def start_engine(database_url: str, redis_url: str, port: int, log: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRACKER_DATABASE_URL": database_url, "TRACKER_REDIS_URL": redis_url,
           "TRACKER_HEALTH_PORT": str(port)}  # fmt: skip
    cmd = [sys.executable, "-m", "tracker.cli", "engine", "--shards", "all", "--tick-s", "1"]
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=log)


@pytest.mark.slow
async def test_the_engine_counts_processed_fixes_and_opened_incidents(
    database_url: str, redis_url: str, client: AsyncClient, fleet: Any, tmp_path: Path
) -> None:
    """The engine process's listener counts the fixes it processed and its stream lag."""
    port = free_port()
    log = (tmp_path / "engine.log").open("wb")
    proc = start_engine(database_url, redis_url, port, log)
    try:
        _, token = fleet.truck("ME-001")
        resp = await client.post(
            "/api/v1/positions", json={"fixes": fixes(20)},
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
        assert resp.json()["accepted"] == 20
        deadline = time.monotonic() + 60
        processed = 0.0
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() < deadline:
                try:
                    text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                except httpx.TransportError:
                    await asyncio.sleep(0.3)
                    continue
                processed = sum(
                    v for (name, _), v in samples(text).items()
                    if name == "tracker_engine_fixes_total"
                )  # fmt: skip
                if processed >= 20:
                    break
                await asyncio.sleep(0.3)
        assert processed == 20, (tmp_path / "engine.log").read_text()[-2000:]
        lags = [v for (name, _), v in samples(text).items() if name == "tracker_engine_lag_seconds"]
        assert lags and all(0 <= v < 60 for v in lags)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        log.close()
