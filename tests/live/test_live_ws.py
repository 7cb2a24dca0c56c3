"""``/api/v1/live`` against the real app on a real port: auth, snapshot, deltas, filters."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from httpx import AsyncClient
from live_world import LiveServer, ago, post_fix
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tracker import wire

CITY = [104.00, 30.60, 104.10, 30.70]  # lon/lat viewport
INSIDE = (104.05, 30.65)
OUTSIDE = (104.30, 30.90)


async def test_unauthenticated_is_closed_4401(live: LiveServer) -> None:
    async with connect(live.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": "wrong"}).decode())
        error = orjson.loads(await ws.recv())
        assert error["type"] == "error" and error["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_token_in_first_message(live: LiveServer) -> None:
    async with connect(live.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": "test-staff"}).decode())
        hello = orjson.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["role"] == "admin"


async def test_snapshot_then_deltas_in_viewport(
    live: LiveServer, http: AsyncClient, fleet: Any, open_live: Any
) -> None:
    inside, token_in = fleet.truck("LIVE-IN")
    outside, token_out = fleet.truck("LIVE-OUT")
    await post_fix(http, token_in, *INSIDE, at=ago(30), speed_kmh=20.0)
    await post_fix(http, token_out, *OUTSIDE, at=ago(30))
    for _ in range(100):  # the feed picks the fixes up from the streams
        if {inside, outside} <= live.hub.latest.keys():
            break
        await asyncio.sleep(0.02)
    client = await open_live()
    snapshot = await client.subscribe(id="first", bbox=CITY)
    assert snapshot["id"] == "first"
    assert [v["vehicle_id"] for v in snapshot["vehicles"]] == [inside]
    assert snapshot["vehicles"][0]["plate"] == "LIVE-IN"
    assert snapshot["vehicles"][0]["time"].endswith("Z")

    await post_fix(http, token_out, 104.31, 30.91)  # still outside: never sent
    await post_fix(http, token_in, 104.06, 30.66, speed_kmh=30.0)
    moved = await client.positions(inside)
    assert (moved["lon"], moved["lat"], moved["speed_kmh"]) == (104.06, 30.66, 30.0)
    assert moved["company_id"] is not None


async def test_subscription_change_sends_a_fresh_snapshot(
    live: LiveServer, http: AsyncClient, fleet: Any, open_live: Any
) -> None:
    a, token_a = fleet.truck("LIVE-A")
    b, token_b = fleet.truck("LIVE-B")
    client = await open_live()
    await client.subscribe(bbox=CITY)
    await post_fix(http, token_a, *INSIDE)
    await client.positions(a)
    moved_to = [104.25, 30.85, 104.35, 30.95]
    snapshot = await client.subscribe(id="moved", bbox=moved_to)
    assert snapshot["id"] == "moved" and snapshot["vehicles"] == []
    await post_fix(http, token_a, 104.07, 30.67)  # the old viewport: no longer sent
    await post_fix(http, token_b, *OUTSIDE)
    got = await client.expect("fixes")
    assert [v["vehicle_id"] for v in got["vehicles"]] == [b]


async def test_follow_vehicles_and_company_filter(
    live: LiveServer, http: AsyncClient, fleet: Any, open_live: Any
) -> None:
    a, token_a = fleet.truck("LIVE-C1", company="Alpha Muck")
    b, token_b = fleet.truck("LIVE-C2", company="Beta Muck")
    company_b = live.app.state.platform.vehicles
    await company_b.refresh()
    beta = (await company_b.get(b)).company_id
    client = await open_live()
    await client.subscribe(bbox=CITY, vehicle_ids=[b], company_ids=[beta])
    await post_fix(http, token_a, *INSIDE)  # other company: filtered out
    await post_fix(http, token_b, *OUTSIDE)  # outside the viewport, but followed
    got = await client.expect("fixes")
    assert [v["vehicle_id"] for v in got["vehicles"]] == [b]
    assert a not in live.hub.clients[max(live.hub.clients)].queue._fixes


async def test_reconnect_gets_a_fresh_snapshot(
    live: LiveServer, http: AsyncClient, fleet: Any, open_live: Any
) -> None:
    vid, token = fleet.truck("LIVE-R")
    first = await open_live()
    await first.subscribe(bbox=CITY)
    await post_fix(http, token, *INSIDE, at=ago(20))
    await first.positions(vid)
    await first.ws.close()
    await post_fix(http, token, 104.051, 30.65)  # while away
    for _ in range(100):
        if live.hub.latest[vid].lon == 104.051:
            break
        await asyncio.sleep(0.02)
    again = await open_live()
    snapshot = await again.subscribe(bbox=CITY)
    assert [(v["vehicle_id"], v["lon"]) for v in snapshot["vehicles"]] == [(vid, 104.051)]
    assert len(live.hub.clients) == 1


async def test_incident_reaches_subscribers_of_its_type(
    live: LiveServer, redis_url: str, open_live: Any
) -> None:
    wants = await open_live()
    await wants.subscribe(bbox=CITY, incident_types=["route_deviation"])
    other = await open_live()
    await other.subscribe(bbox=CITY, incident_types=["speeding"])
    event = {
        "type": "route_deviation",
        "vehicle_id": 999,
        "lon": INSIDE[0],
        "lat": INSIDE[1],
        "time": "2026-05-01T08:00:00Z",
    }
    r = aioredis.Redis.from_url(redis_url)
    try:
        started = asyncio.get_running_loop().time()
        await r.publish(wire.channel(r, wire.Channel.INCIDENTS), orjson.dumps(event))
        got = await wants.expect("incident", within_s=2.0)
        assert asyncio.get_running_loop().time() - started < 2.0
        assert got["incident"]["type"] == "route_deviation"
        assert got["incident"]["lon"] == INSIDE[0]
    finally:
        await r.aclose()
    await other.send(type="ping")
    assert (await other.recv())["type"] == "pong"  # the speeding subscriber got nothing
    late = await open_live()
    snapshot = await late.subscribe(incident_types=["*"])
    assert [e["type"] for e in snapshot["incidents"]] == ["route_deviation"]


async def test_bad_messages_get_errors_not_disconnects(open_live: Any) -> None:
    client = await open_live()
    await client.send(type="subscribe", bbox=[1, 2, 3])
    error = await client.recv()
    assert error["type"] == "error" and "bbox" in error["message"]
    await client.ws.send("{nope")
    assert (await client.recv())["code"] == "bad_message"
    await client.send(type="subscribe", bbox=CITY)
    assert (await client.expect("snapshot"))["vehicles"] == []


async def test_company_user_sees_only_its_own_trucks(
    live: LiveServer, http: AsyncClient, fleet: Any, accounts: Any, open_live: Any
) -> None:
    own, token_own = fleet.truck("LIVE-OWN", company="Own Muck")
    other, token_other = fleet.truck("LIVE-OTHER", company="Other Muck")
    await live.app.state.platform.vehicles.refresh()
    company = (await live.app.state.platform.vehicles.get(own)).company_id
    token = accounts.headers("company_user", company)["Authorization"].split()[1]
    client = await open_live(token)
    other_id = (await live.app.state.platform.vehicles.get(other)).company_id
    await client.subscribe(bbox=CITY, company_ids=[other_id])  # asks for the other company
    await post_fix(http, token_other, *INSIDE)
    await post_fix(http, token_own, 104.02, 30.62)
    got = await client.expect("fixes")
    assert [v["vehicle_id"] for v in got["vehicles"]] == [own]


async def test_fences_stats_and_map_page(
    live: LiveServer, http: AsyncClient, db: Any, staff: dict[str, str]
) -> None:
    zone = {
        "type": "Polygon",
        "coordinates": [[[104, 30.6], [104.1, 30.6], [104, 30.7], [104, 30.6]]],
    }
    db.execute(
        "INSERT INTO fences (kind, role, name, geometry) VALUES ('polygon', 'zone', 'Z', %s)",
        (orjson.dumps(zone).decode(),),
    )
    assert (await http.get("/api/v1/fences")).status_code == 401
    body = (await http.get("/api/v1/fences", headers=staff)).json()
    assert body["count"] == 1 and body["features"][0]["properties"]["role"] == "zone"
    assert body["features"][0]["geometry"] == zone
    stats = (await http.get("/api/v1/live/stats", headers=staff)).json()
    assert stats["clients"] == 0
    page = await http.get("/", follow_redirects=True)
    assert page.status_code == 200 and 'id="map"' in page.text
