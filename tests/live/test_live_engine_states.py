"""Engine truck states and yard capacity alerts on ``/api/v1/live``: the messages are published
here by the test itself, in the engine's and the capacity service's contract."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import redis.asyncio as aioredis
from httpx import AsyncClient
from live_world import LiveServer, ago, iso, post_fix, serve
from websockets.asyncio.client import connect

from tracker import wire
from tracker.settings import Settings

CITY = [104.00, 30.60, 104.10, 30.70]
INSIDE = (104.05, 30.65)


def vstate(vid: int, state: str, at_s_ago: float, trip_id: str | None = None) -> bytes:
    message = {
        "vehicle_id": vid,
        "state": state,
        "trip_id": trip_id,
        "permit_id": "17" if trip_id else None,
        "at": iso(ago(at_s_ago)),
    }
    return orjson.dumps(message)


async def wait_for(predicate: Any, within_s: float = 3.0) -> None:
    """Poll a condition on the server's hub (it has no event to wait on)."""
    for _ in range(int(within_s / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_a_state_change_arrives_as_a_delta_and_stays_in_snapshots(
    live: LiveServer, http: AsyncClient, fleet: Any, open_live: Any, redis_url: str
) -> None:
    vid, token = fleet.truck("STATE-1")
    await post_fix(http, token, *INSIDE, at=ago(5), speed_kmh=0.0)
    client = await open_live()
    snapshot = await client.subscribe(bbox=CITY)
    assert [v["vehicle_id"] for v in snapshot["vehicles"]] == [vid]
    assert "state" not in snapshot["vehicles"][0]  # the engine has said nothing yet

    r = aioredis.Redis.from_url(redis_url)
    try:
        await r.publish(
            wire.channel(r, wire.Channel.VEHICLE_STATES), vstate(vid, "loading", 2, "t-1")
        )
        got = await client.positions(vid)
        assert (got["state"], got["trip_id"], got["permit_id"]) == ("loading", "t-1", "17")
        assert got["lon"] == INSIDE[0] and got["state_at"].endswith("Z")

        # An older state (published late) must not replace the newer one.
        await r.publish(wire.channel(r, wire.Channel.VEHICLE_STATES), vstate(vid, "idle", 60))
        await r.publish(
            wire.channel(r, wire.Channel.VEHICLE_STATES), vstate(vid, "hauling", 1, "t-1")
        )
        got = await client.positions(vid)
        assert got["state"] == "hauling"
    finally:
        await r.aclose()

    await post_fix(http, token, 104.0502, 30.65, speed_kmh=30.0)  # a new fix keeps the state
    moved = await client.positions(vid)
    assert (moved["lon"], moved["state"], moved["trip_id"]) == (104.0502, "hauling", "t-1")
    again = await client.subscribe(bbox=CITY)
    assert again["vehicles"][0]["state"] == "hauling"


async def test_bad_state_messages_are_ignored(
    live: LiveServer, http: AsyncClient, fleet: Any, open_live: Any, redis_url: str
) -> None:
    vid, token = fleet.truck("STATE-2")
    await post_fix(http, token, *INSIDE, at=ago(5))
    client = await open_live()
    await client.subscribe(bbox=CITY)
    r = aioredis.Redis.from_url(redis_url)
    try:
        channel = wire.channel(r, wire.Channel.VEHICLE_STATES)
        await r.publish(channel, b"not json")
        await r.publish(channel, vstate(vid, "flying", 1))
        await r.publish(channel, orjson.dumps({"vehicle_id": vid, "state": "idle", "at": "x"}))
        await r.publish(channel, vstate(vid, "unloading", 1))
        got = await client.positions(vid)
        assert got["state"] == "unloading"
    finally:
        await r.aclose()
    assert live.hub.engine_states[vid].state == "unloading"


async def test_states_are_seeded_from_the_hash(
    settings: Settings, fleet: Any, redis_url: str
) -> None:
    """A process that starts after the engine published still knows every truck's state."""
    vid, token = fleet.truck("STATE-3")
    r = aioredis.Redis.from_url(redis_url)
    try:
        await r.hset(wire.VSTATE_KEY, str(vid), vstate(vid, "blacklisted", 30))  # type: ignore[misc]
    finally:
        await r.aclose()
    async with serve(settings) as live, AsyncClient(base_url=live.base_url) as http:
        await post_fix(http, token, *INSIDE, at=ago(5))
        async with connect(live.ws_url) as ws:
            await ws.send(orjson.dumps({"type": "auth", "token": "test-staff"}).decode())
            assert orjson.loads(await ws.recv())["type"] == "hello"
            await ws.send(orjson.dumps({"type": "subscribe", "bbox": CITY}).decode())
            async with asyncio.timeout(3):
                while True:
                    message = orjson.loads(await ws.recv())
                    if message["type"] == "snapshot" and message["vehicles"]:
                        break
                    if message["type"] == "snapshot":  # the fix was not read yet: ask again
                        await asyncio.sleep(0.1)
                        await ws.send(orjson.dumps({"type": "subscribe", "bbox": CITY}).decode())
            assert message["vehicles"][0]["state"] == "blacklisted"


async def test_yard_capacity_alerts_reach_every_client(
    live: LiveServer, open_live: Any, redis_url: str
) -> None:
    viewer = await open_live()
    await viewer.subscribe(bbox=[7.0, 43.0, 7.1, 43.1])  # no incident types asked for
    alert = wire.YardAlert(yard_id=4, level=80, fill_pct=91.5, closed=False, at=iso(ago(1)))
    r = aioredis.Redis.from_url(redis_url)
    try:
        await r.publish(wire.channel(r, wire.Channel.YARDS), alert.encode())
        got = await viewer.expect("yard_capacity")
        assert got == alert.fields()
        closed = wire.YardAlert(yard_id=4, level=100, fill_pct=100.0, closed=True, at=iso(ago(0)))
        await r.publish(wire.channel(r, wire.Channel.YARDS), closed.encode())
        assert (await viewer.expect("yard_capacity"))["closed"] is True
    finally:
        await r.aclose()
    await wait_for(lambda: live.hub.yard_alerts.get(4, {}).get("closed") is True)
    late = await open_live()
    snapshot = await late.subscribe(bbox=CITY)
    assert snapshot["yard_alerts"] == [closed.fields()]


async def test_the_map_gets_the_engine_states_from_the_api(http: AsyncClient) -> None:
    resp = await http.get("/api/v1/live/states")  # no token: the page asks before it has one
    assert resp.status_code == 200
    states = resp.json()["states"]
    assert [s["state"] for s in states] == list(wire.VEHICLE_STATES)
    drawn = {s["state"]: (s["drawn_as"], s["label"]) for s in states}
    assert drawn["in_incident"] == ("incident", "in incident")
    assert drawn["hauling"] == ("hauling", "hauling")
