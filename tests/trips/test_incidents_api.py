"""The incidents and trips API over incidents raised by an in-process engine worker."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import redis
from engine_scenario import build_world, truck_fixes
from httpx import AsyncClient

from tracker.trips.worker import repo
from tracker.trips.worker.worker import EngineWorker, WorkerConfig
from tracker.wire import STREAM_PREFIX, Fix, shard_of


async def run_engine(client: AsyncClient) -> EngineWorker:
    platform = client.app.state.platform  # type: ignore[attr-defined]
    await platform.publisher.stop()  # drain: every stored fix is in the stream
    await platform.publisher.start()
    config = WorkerConfig(tuple(range(8)), 8, commit_grace_s=0)  # the publisher is drained
    worker = EngineWorker(platform.pool, platform.redis, config)
    await worker.start()
    try:
        while await worker.step():
            pass
    finally:
        await worker.stop()
    return worker


async def dumping_world(
    client: AsyncClient, staff: dict[str, str], fleet: Any, db: psycopg.Connection[Any]
) -> int:
    vehicle_id, token = fleet.truck("D-1")
    await build_world(client, staff, db, [vehicle_id])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    fixes = truck_fixes(1, start)
    resp = await client.post(
        "/api/v1/positions", json={"fixes": fixes}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200, resp.text
    return vehicle_id


async def test_incidents_listed_filtered_and_moved_by_officers(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
    accounts: Any,
) -> None:
    vehicle_id = await dumping_world(client, staff, fleet, db)
    await run_engine(client)
    listed = (await client.get("/api/v1/incidents?type=dumping", headers=staff)).json()
    incidents = listed["incidents"]
    assert len(incidents) == 3 and {i["vehicle_id"] for i in incidents} == {vehicle_id}
    assert all(i["late"] and i["status"] == "open" for i in incidents)
    inside = "7.42,43.73,7.422,43.732"
    assert len((await client.get(f"/api/v1/incidents?bbox={inside}", headers=staff)).json()
               ["incidents"]) == 3  # fmt: skip
    far = "8.0,44.0,8.1,44.1"
    assert (await client.get(f"/api/v1/incidents?bbox={far}", headers=staff)).json()[
        "incidents"
    ] == []
    one = await client.get(f"/api/v1/incidents/{incidents[0]['incident_id']}", headers=staff)
    evidence = one.json()["evidence"]
    assert evidence["type"] == "FeatureCollection" and len(evidence["features"]) >= 18
    assert evidence["features"][0]["geometry"]["coordinates"] == [7.421, 43.731]

    incident = incidents[0]["incident_id"]
    viewer = accounts.headers("viewer")
    officer = accounts.headers("enforcement_officer")
    note = {"note": "photo taken on site"}
    url = f"/api/v1/incidents/{incident}"
    assert (await client.post(f"{url}/confirm", json=note, headers=viewer)).status_code == 403
    assert (await client.post(f"{url}/close", json=note, headers=officer)).status_code == 409
    confirmed = await client.post(f"{url}/confirm", json=note, headers=officer)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    closed = await client.post(f"{url}/close", json={"note": "fined"}, headers=officer)
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"] is not None
    assert (await client.get("/api/v1/incidents/nope", headers=staff)).status_code == 404

    trips = (await client.get(f"/api/v1/trips?vehicle_id={vehicle_id}", headers=staff)).json()
    assert len(trips["trips"]) == 3
    assert all(t["outcome"] == "yard" for t in trips["trips"]), trips


async def test_trimmed_stream_is_caught_up_from_the_commit_log(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
    rdb: redis.Redis,
) -> None:
    """Entries trimmed before the worker read them: the commit log names the fixes, which come
    from the database."""
    vehicle_id = await dumping_world(client, staff, fleet, db)
    reference = await run_engine(client)
    expected = db.execute("SELECT incident_id FROM incidents ORDER BY 1").fetchall()
    db.execute("TRUNCATE incidents, trips, engine_checkpoints")
    # The shard position and watermark sit before everything, but the stream lost its entries.
    db.execute(
        "UPDATE engine_shards SET stream_id = '1-0', commit_xid = 0, commit_done_seqs = '{}',"
        " commit_done_xids = '{}'"
    )
    for key in rdb.scan_iter(f"{STREAM_PREFIX}*"):
        rdb.xtrim(key, maxlen=0)
    again = await run_engine(client)
    assert again.catch_ups >= 1 and reference.catch_ups == 0
    got = db.execute("SELECT incident_id FROM incidents ORDER BY 1").fetchall()
    assert got == expected and len(got) == 3, vehicle_id


async def test_the_commit_log_proves_the_engine_caught_up_and_is_pruned_behind_it(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
) -> None:
    """Before the engine runs, the database counts the stored fixes as behind; after, every
    shard is caught up, and the processed commit-log rows are pruned (and no others)."""
    vehicle_id = await dumping_world(client, staff, fleet, db)
    shard = shard_of(vehicle_id, 8)
    platform = client.app.state.platform  # type: ignore[attr-defined]
    stored = db.execute("SELECT count(*) FROM pings").fetchone()[0]  # type: ignore[index]

    async def lags() -> dict[int, repo.ShardLag]:
        for _ in range(100):  # a transaction elsewhere on the cluster may hold the horizon
            async with platform.pool.connection() as conn:
                found = {lag.shard: lag for lag in await repo.shard_lag(conn, range(8))}
            if found[shard].in_flight_rows == 0:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError("the commit never settled")

    before = await lags()
    assert before[shard].behind_fixes == stored and not before[shard].caught_up
    worker = await run_engine(client)
    after = await lags()
    assert all(lag.caught_up for lag in after.values()), after
    assert after[shard].head_seq == before[shard].head_seq
    assert worker.catch_ups == 0  # all of it came by the stream

    await platform.writer.write([Fix(vehicle_id, 1, datetime.now(UTC), datetime.now(UTC), 7.4,
                                     43.7)])  # fmt: skip
    worker.config = dataclasses.replace(worker.config, commit_keep_s=0)
    await worker.prune()
    left = db.execute("SELECT count(*) FROM ingest_commits").fetchone()[0]  # type: ignore[index]
    assert left == 1, "only the commit the engine has not processed stays"
