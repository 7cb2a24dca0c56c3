"""The engine worker's clock reads what the JT/T 808 gateway heard (``HEARD_KEY``): a loaded
truck silent for 6 min whose terminal heartbeats is holding its positions back (suspected),
not offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import redis
from engine_scenario import build_world, truck_fixes
from httpx import AsyncClient

from tracker.trips.core.state import to_us
from tracker.trips.worker.worker import EngineWorker, WorkerConfig
from tracker.wire import HEARD_KEY, VSTATE_KEY


async def test_a_silent_truck_heard_by_the_gateway_is_only_suspected(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
    rdb: redis.Redis,
) -> None:
    vehicle_id, token = fleet.truck("VS-HB")
    await build_world(client, staff, db, [vehicle_id])
    now = datetime.now(UTC).replace(microsecond=0)
    fixes = truck_fixes(0, now - timedelta(seconds=400))[:40]  # loads, leaves, then nothing
    resp = await client.post(
        "/api/v1/positions", json={"fixes": fixes}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200, resp.text
    platform = client.app.state.platform  # type: ignore[attr-defined]
    await platform.publisher.stop()
    await platform.publisher.start()
    worker = EngineWorker(
        platform.pool, platform.redis, WorkerConfig(tuple(range(8)), 8, block_ms=50)
    )
    await worker.start()
    try:
        while await worker.step():
            pass
        rdb.hset(HEARD_KEY, str(vehicle_id), to_us(now + timedelta(minutes=5)))  # heartbeats
        await worker.tick(now + timedelta(minutes=6))  # the clock moves on
        heard = json.loads(rdb.hget(VSTATE_KEY, str(vehicle_id)) or b"{}")
        await worker.tick(now + timedelta(minutes=11))  # no longer heard for 6 min
        lost = json.loads(rdb.hget(VSTATE_KEY, str(vehicle_id)) or b"{}")
    finally:
        await worker.stop()
    assert heard["state"] == "suspected"
    assert lost["state"] == "offline"
