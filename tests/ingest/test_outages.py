"""Database and Redis connections lost under the platform: nothing acknowledged is lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from httpx import AsyncClient
from outages import cut_db_sessions, cut_redis_clients

from tracker.ingest.writer import WRITER_APPLICATION_NAME

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


def batch(first_s: int, n: int) -> dict[str, Any]:
    fixes = [
        {
            "time": (T0 + timedelta(seconds=first_s + i)).isoformat(),
            "lon": 7.42 + i * 1e-5,
            "lat": 43.73,
        }
        for i in range(n)
    ]
    return {"fixes": fixes}


async def post_until_acked(client: AsyncClient, token: str, body: dict[str, Any]) -> int:
    """Post like a terminal: retry on 503 (nothing was acknowledged) until answered."""
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(50):
        resp = await client.post("/api/v1/positions", json=body, headers=headers)
        if resp.status_code == 200:
            return int(resp.json()["accepted"]) + int(resp.json()["duplicates"])
        assert resp.status_code == 503, resp.text
    raise AssertionError("never acknowledged")


async def test_writer_connections_killed(client: AsyncClient, fleet: Any, db: Any) -> None:
    vid, token = fleet.truck("O-001")
    assert await post_until_acked(client, token, batch(0, 100)) == 100
    assert cut_db_sessions(db, WRITER_APPLICATION_NAME) >= 1
    assert await post_until_acked(client, token, batch(100, 100)) == 100
    assert await post_until_acked(client, token, batch(200, 100)) == 100
    stored = db.execute("SELECT count(*) FROM pings WHERE vehicle_id = %s", (vid,)).fetchone()[0]
    assert stored == 300


async def test_redis_connections_killed(
    client: AsyncClient, fleet: Any, db: Any, rdb: redis.Redis
) -> None:
    vid, token = fleet.truck("O-002")
    assert await post_until_acked(client, token, batch(0, 50)) == 50
    assert cut_redis_clients(rdb) >= 1
    assert await post_until_acked(client, token, batch(50, 50)) == 50
    await client.app.state.platform.publisher.stop()  # type: ignore[attr-defined]
    stored = db.execute("SELECT count(*) FROM pings WHERE vehicle_id = %s", (vid,)).fetchone()[0]
    assert stored == 100
    assert client.app.state.platform.publisher.published_fixes == 100  # type: ignore[attr-defined]
