"""The permit lifecycle, drafts with bad references, expiry, and the corridor reaching the
engine live."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from permit_world import LINE, TODAY, World
from psycopg_pool import AsyncConnectionPool

from tracker.geofence.sync import FenceSync
from tracker.permits.expiry import expire_once


@pytest.fixture
async def sync(database_url: str, redis_url: str, world: World) -> AsyncIterator[FenceSync]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database_url, min_size=1, max_size=2, kwargs={"autocommit": True}, open=False
    )
    await pool.open()
    redis = aioredis.Redis.from_url(redis_url)
    follower = FenceSync(pool, redis)
    await follower.start()
    yield follower
    await follower.stop()
    await redis.aclose()
    await pool.close()


async def held_within(sync: FenceSync, fence_id: int, held: bool, limit_s: float = 1.0) -> float:
    t0 = time.monotonic()
    while (fence_id in sync.versions) != held:
        assert time.monotonic() - t0 < limit_s, f"fence {fence_id} held={not held} after 1 s"
        await asyncio.sleep(0.01)
    return time.monotonic() - t0


async def test_lifecycle_and_corridor_in_engine(world: World, sync: FenceSync) -> None:
    permit_id = await world.submitted()
    approved = await world.post(f"/permits/{permit_id}/approve")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["state"] == "approved"
    fence_id = body["corridors"][0]["fence_id"]
    await held_within(sync, fence_id, True)
    assert sync.index is not None
    suspended = await world.post(f"/permits/{permit_id}/suspend", {"reason": "speeding"})
    assert suspended.json()["state"] == "suspended" and suspended.json()["reason"] == "speeding"
    await held_within(sync, fence_id, False)
    again = await world.post(f"/permits/{permit_id}/approve")
    assert again.json()["corridors"][0]["fence_id"] == fence_id
    await held_within(sync, fence_id, True)
    revoked = await world.post(f"/permits/{permit_id}/revoke", {"reason": "fraud"})
    assert revoked.json()["state"] == "revoked"
    await held_within(sync, fence_id, False)
    log = await world.client.get(
        "/api/v1/audit", params={"entity": "permit", "entity_id": permit_id}, headers=world.staff
    )
    actions = [e["action"] for e in log.json()]
    assert actions == ["revoke", "approve", "suspend", "approve", "submit", "create"]


async def test_state_rules(world: World) -> None:
    draft = await world.post("/permits", world.permit())
    permit_id = draft.json()["id"]
    assert draft.json()["state"] == "draft"
    early = await world.post(f"/permits/{permit_id}/approve")
    assert early.status_code == 409 and early.json()["field"] == "state"
    await world.post(f"/permits/{permit_id}/submit")
    rejected = await world.post(f"/permits/{permit_id}/reject", {"reason": "no corridor map"})
    assert rejected.json()["state"] == "rejected"
    edited = await world.client.put(
        f"/api/v1/permits/{permit_id}", json=world.permit(quota_m3=500), headers=world.staff
    )
    assert edited.json()["state"] == "draft" and edited.json()["quota_m3"] == 500
    await world.post(f"/permits/{permit_id}/submit")
    await world.post(f"/permits/{permit_id}/approve")
    frozen = await world.client.put(
        f"/api/v1/permits/{permit_id}", json=world.permit(), headers=world.staff
    )
    assert frozen.status_code == 409
    listed = await world.client.get(
        "/api/v1/permits", params={"state": "approved"}, headers=world.staff
    )
    assert [p["id"] for p in listed.json()] == [permit_id]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"vehicle_ids": [999]}, "vehicle_ids"),
        ({"site_ids": [999]}, "site_ids"),
        ({"yard_ids": [999]}, "yard_ids"),
        ({"company_id": 999}, "company_id"),
        (
            {
                "corridors": [
                    {
                        "geometry": {"type": "LineString", "coordinates": [[7.4, 43.7]]},
                        "half_width_m": 30,
                    }
                ]
            },
            "corridors.0.geometry.coordinates",
        ),
        (
            {
                "corridors": [
                    {"geometry": {"type": "Point", "coordinates": [7.4, 43.7]}, "half_width_m": 30}
                ]
            },
            "corridors.0.type",
        ),
        ({"windows": [{"start": "07:00", "end": "07:00"}]}, "windows.0"),
    ],
)
async def test_bad_drafts_write_nothing(
    world: World, db: psycopg.Connection[Any], change: dict[str, Any], field: str
) -> None:
    resp = await world.post("/permits", world.permit(**change))
    assert resp.status_code in (400, 422), resp.text
    assert resp.json()["field"] == field
    assert db.execute("SELECT count(*) FROM permits").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM permit_corridors").fetchone() == (0,)


async def test_another_companys_truck_is_refused_at_draft(world: World) -> None:
    truck = {"plate": "O-1", "company_id": world.other_company_id, "rated_volume_m3": 10}
    other = (await world.post("/vehicles", truck)).json()["id"]
    resp = await world.post("/permits", world.permit(vehicle_ids=[other]))
    assert resp.status_code == 400 and resp.json()["field"] == "vehicle_ids"
    assert "O-1" in resp.json()["message"]


async def test_expiry(world: World, db: psycopg.Connection[Any], sync: FenceSync) -> None:
    permit_id = await world.approved()
    fence_id = db.execute(
        "SELECT fence_id FROM permit_corridors WHERE permit_id = %s", (permit_id,)
    ).fetchone()[0]
    await held_within(sync, fence_id, True)
    yesterday = TODAY - timedelta(days=1)
    db.execute(
        "UPDATE permits SET valid_from = %s, valid_to = %s WHERE id = %s",
        (yesterday - timedelta(days=3), yesterday, permit_id),
    )
    shown = await world.client.get(f"/api/v1/permits/{permit_id}", headers=world.staff)
    assert shown.json()["state"] == "expired"
    platform = world.client.app.state.platform  # type: ignore[attr-defined]
    assert await expire_once(platform.pool, platform.redis) == 1
    assert db.execute("SELECT state FROM permits").fetchone() == ("expired",)
    await held_within(sync, fence_id, False)
    refused = await world.post(f"/permits/{permit_id}/suspend", {"reason": "late"})
    assert refused.status_code == 409


async def test_corridor_line_is_kept(world: World) -> None:
    permit_id = await world.submitted()
    got = await world.client.get(f"/api/v1/permits/{permit_id}", headers=world.staff)
    corridor = got.json()["corridors"][0]
    assert corridor["geometry"] == LINE and corridor["fence_id"] is None
