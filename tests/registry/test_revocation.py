"""Revocation reaches every API process at once: two apps share the database and Redis; a
token rotated or a vehicle deactivated through one is refused by the other right away, not after
its cache's 60 s; and a lost subscription flushes the cache when it comes back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis
from httpx import ASGITransport, AsyncClient

from tracker.app import create_app, lifespan
from tracker.settings import Settings

STAFF = {"Authorization": "Bearer test-staff"}


@asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    transport = ASGITransport(app=app)
    async with lifespan(app), AsyncClient(transport=transport, base_url="http://t") as c:
        c.app = app  # type: ignore[attr-defined]
        await until(lambda: _listening(c))
        yield c


async def _listening(c: AsyncClient) -> bool:
    return bool(c.app.state.platform.revocations.listening)  # type: ignore[attr-defined]


async def until(check: Callable[[], Awaitable[bool]], within_s: float = 5.0) -> float:
    """Seconds until ``check`` holds; fails after ``within_s``."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < within_s, "did not happen in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def send(c: AsyncClient, token: str) -> int:
    fix = {"time": datetime.now(UTC).isoformat(), "lon": 7.42, "lat": 43.73}
    resp = await c.post(
        "/api/v1/positions", json={"fixes": [fix]}, headers={"Authorization": f"Bearer {token}"}
    )
    return resp.status_code


async def refused(c: AsyncClient, token: str) -> bool:
    return await send(c, token) in (401, 403)


async def test_rotation_and_deactivation_reach_the_other_process_at_once(
    settings: Settings, fleet: Any
) -> None:
    vehicle_id, token = fleet.truck("R-1")
    other_vehicle, other_token = fleet.truck("R-2")
    terminal_id = fleet.conn.execute(
        "SELECT id FROM terminals WHERE vehicle_id = %s", (vehicle_id,)
    ).fetchone()[0]
    async with api(settings) as one, api(settings) as two:
        for c in (one, two):  # both processes have the tokens cached now
            assert await send(c, token) == 200 and await send(c, other_token) == 200
        rotated = await two.post(f"/api/v1/terminals/{terminal_id}/token", headers=STAFF)
        assert rotated.status_code == 200
        took = await until(lambda: refused(one, token), within_s=2.0)
        assert await send(one, rotated.json()["token"]) == 200
        gone = await two.delete(f"/api/v1/vehicles/{other_vehicle}", headers=STAFF)
        assert gone.status_code == 200
        took = max(took, await until(lambda: refused(one, other_token), within_s=2.0))
        assert await send(one, other_token) == 403
    assert took < 2.0  # the cache keeps entries 60 s: only the revocation explains this


async def test_a_lost_subscription_flushes_the_cache_when_back(
    settings: Settings, fleet: Any, db: psycopg.Connection[Any], rdb: redis.Redis
) -> None:
    vehicle_id, token = fleet.truck("R-3")
    async with api(settings) as one:
        platform = one.app.state.platform  # type: ignore[attr-defined]
        listener = platform.revocations
        assert await send(one, token) == 200 and platform.terminals.cached == 1
        # A revocation the process cannot hear: the row changes without a message ...
        db.execute("UPDATE terminals SET active = false WHERE vehicle_id = %s", (vehicle_id,))
        assert await send(one, token) == 200  # ... so the cached entry still answers
        subscriptions = listener.subscriptions
        # ... then Redis drops the listener's connection (only that one, by its name).
        killed = sum(
            rdb.client_kill_filter(_id=c["id"])
            for c in rdb.client_list()
            if c.get("name") == listener.client_name
        )
        assert killed == 1
        await until(lambda: asyncio.sleep(0, listener.subscriptions > subscriptions))
        assert await send(one, token) == 401  # flushed on resubscribing
