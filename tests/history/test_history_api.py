"""Track and latest-position queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from httpx import AsyncClient

from tracker.history import latest as latest_store
from tracker.wire import LATEST_KEY

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


async def post(client: AsyncClient, token: str, fixes: list[dict[str, Any]]) -> None:
    for i in range(0, len(fixes), 1000):
        resp = await client.post(
            "/api/v1/positions",
            json={"fixes": fixes[i : i + 1000]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status_code == 200 and resp.json()["rejected"] == 0, resp.text


def drive(
    n: int, step_s: int = 30, lon0: float = 7.40, lat0: float = 43.72
) -> list[dict[str, Any]]:
    return [
        {
            "time": iso(T0 + timedelta(seconds=i * step_s)),
            "lon": lon0 + i * 1e-4,
            "lat": lat0,
            "speed_kmh": 12.0,
        }
        for i in range(n)
    ]


async def test_track_in_time_order_with_pages(
    client: AsyncClient, fleet: Any, staff: dict[str, str]
) -> None:
    vid, token = fleet.truck("H-001")
    fixes = drive(250)
    await post(client, token, list(reversed(fixes)))  # sent newest first
    url = f"/api/v1/vehicles/{vid}/track"
    params = {"start": iso(T0), "end": iso(T0 + timedelta(hours=3)), "limit": "100"}
    got: list[dict[str, Any]] = []
    resp = await client.get(url, params=params, headers=staff)
    pages = 1
    while True:
        body = resp.json()
        got += body["features"]
        if "next" not in body:
            break
        resp = await client.get(body["next"], headers=staff)
        pages += 1
    assert pages == 3
    assert [f["properties"]["fix_time"] for f in got] == [f["time"] for f in fixes]
    assert got[0]["geometry"] == {"type": "Point", "coordinates": [7.40, 43.72]}
    assert got[0]["properties"]["speed_kmh"] == 12.0 and "received_at" not in got[0]["properties"]
    detailed = await client.get(url, params={**params, "detail": "true"}, headers=staff)
    assert "received_at" in detailed.json()["features"][0]["properties"]


async def test_track_time_range_and_downsampling(
    client: AsyncClient, fleet: Any, staff: dict[str, str]
) -> None:
    vid, token = fleet.truck("H-002")
    await post(client, token, drive(240))  # 2 h at 30 s
    url = f"/api/v1/vehicles/{vid}/track"
    window = {"start": iso(T0 + timedelta(minutes=30)), "end": iso(T0 + timedelta(minutes=60))}
    body = (await client.get(url, params=window, headers=staff)).json()
    assert body["count"] == 60
    sampled = (await client.get(url, params={**window, "interval_s": "300"}, headers=staff)).json()
    times = [f["properties"]["fix_time"] for f in sampled["features"]]
    assert len(times) == 6 and times[0] == window["start"]
    line = (await client.get(url, params={**window, "shape": "line"}, headers=staff)).json()
    assert line["features"][0]["geometry"]["type"] == "LineString"
    assert len(line["features"][0]["properties"]["times"]) == 60


async def test_track_errors(client: AsyncClient, fleet: Any, staff: dict[str, str]) -> None:
    vid, _ = fleet.truck("H-003")
    url = f"/api/v1/vehicles/{vid}/track"
    assert (await client.get(url)).status_code == 401
    bad = await client.get(url, params={"start": "yesterday"}, headers=staff)
    assert bad.status_code == 400 and bad.json()["field"] == "start"
    backwards = {"start": iso(T0), "end": iso(T0 - timedelta(hours=1))}
    assert (await client.get(url, params=backwards, headers=staff)).json()["field"] == "start"
    missing = await client.get("/api/v1/vehicles/999999/track", headers=staff)
    assert missing.status_code == 404
    limit = await client.get(url, params={"limit": "0"}, headers=staff)
    assert limit.status_code == 422 and limit.json()["field"] == "limit"


async def test_latest_by_company_and_bbox(
    client: AsyncClient, fleet: Any, staff: dict[str, str]
) -> None:
    a, token_a = fleet.truck("L-001", company="Alpha")
    b, token_b = fleet.truck("L-002", company="Beta")
    await post(client, token_a, drive(5, lon0=7.40))
    await post(client, token_b, drive(5, lon0=7.50))
    await client.app.state.platform.publisher.stop()  # type: ignore[attr-defined]
    url = "/api/v1/positions/latest"
    everything = (await client.get(url, headers=staff)).json()
    assert {f["properties"]["plate"] for f in everything["features"]} == {"L-001", "L-002"}
    newest = {f["properties"]["vehicle_id"]: f for f in everything["features"]}
    assert newest[a]["geometry"]["coordinates"] == [7.4004, 43.72]
    company_b = {
        f["properties"]["vehicle_id"]
        for f in everything["features"]
        if f["properties"]["company_id"] == newest[b]["properties"]["company_id"]
    }
    by_company = await client.get(
        url, params={"company_id": str(newest[b]["properties"]["company_id"])}, headers=staff
    )
    assert {f["properties"]["vehicle_id"] for f in by_company.json()["features"]} == company_b
    boxed = await client.get(url, params={"bbox": "7.45,43.7,7.6,43.8"}, headers=staff)
    assert [f["properties"]["vehicle_id"] for f in boxed.json()["features"]] == [b]
    bad = await client.get(url, params={"bbox": "7.6,43.7,7.45,43.8"}, headers=staff)
    assert bad.status_code == 400 and bad.json()["field"] == "bbox"


async def test_latest_rebuilt_from_database_when_redis_lost_it(
    client: AsyncClient, fleet: Any, staff: dict[str, str], rdb: redis.Redis
) -> None:
    _, token = fleet.truck("L-003")
    await post(client, token, drive(10))
    platform = client.app.state.platform  # type: ignore[attr-defined]
    await platform.publisher.stop()
    published = rdb.hgetall(LATEST_KEY)
    rdb.delete(LATEST_KEY)
    await latest_store.ensure_latest(platform.pool, platform.redis)
    body = (await client.get("/api/v1/positions/latest", headers=staff)).json()
    assert body["count"] == 1
    assert body["features"][0]["properties"]["time"] == drive(10)[-1]["time"]
    assert rdb.hgetall(LATEST_KEY) == published  # rebuilt by the publisher's own encoder
