"""Registry API: every entity, bad geometry and dangling references write nothing."""

from __future__ import annotations

from typing import Any

import psycopg
from httpx import AsyncClient

SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[7.41, 43.73], [7.412, 43.73], [7.412, 43.732], [7.41, 43.732], [7.41, 43.73]]
    ],
}
BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[7.41, 43.73], [7.412, 43.732], [7.412, 43.73], [7.41, 43.732], [7.41, 43.73]]
    ],
}


def count(db: psycopg.Connection[Any], table: str) -> int:
    row = db.execute(f"SELECT count(*) FROM {table}").fetchone()  # test-only, fixed names
    assert row is not None
    return int(row[0])


async def test_companies_and_vehicles(
    client: AsyncClient, staff: dict[str, str], db: psycopg.Connection[Any]
) -> None:
    made = await client.post("/api/v1/companies", json={"name": "Acme"}, headers=staff)
    assert made.status_code == 201, made.text
    company_id = made.json()["id"]
    dup = await client.post("/api/v1/companies", json={"name": "Acme"}, headers=staff)
    assert dup.status_code == 409 and dup.json()["field"] == "name"
    truck = {"plate": "沪A-12345", "company_id": company_id, "rated_volume_m3": 18.5}
    dangling = await client.post(
        "/api/v1/vehicles", json={**truck, "company_id": 999}, headers=staff
    )
    assert dangling.status_code == 400 and dangling.json()["field"] == "company_id"
    assert "999" in dangling.json()["message"]
    assert count(db, "vehicles") == 0
    created = await client.post(
        "/api/v1/vehicles", json={**truck, "terminal_model": "SIM-ZT"}, headers=staff
    )
    assert created.status_code == 201, created.text
    vehicle = created.json()
    assert vehicle["rated_volume_m3"] == 18.5 and vehicle["terminal_model"] == "SIM-ZT"
    vid = vehicle["id"]
    put = await client.put(
        f"/api/v1/vehicles/{vid}", json={**truck, "rated_volume_m3": 20}, headers=staff
    )
    assert put.json()["rated_volume_m3"] == 20
    bad = await client.put(
        f"/api/v1/vehicles/{vid}", json={**truck, "rated_volume_m3": -1}, headers=staff
    )
    assert bad.status_code == 422 and bad.json()["field"] == "rated_volume_m3"
    gone = await client.delete(f"/api/v1/vehicles/{vid}", headers=staff)
    assert gone.json()["active"] is False
    listed = await client.get("/api/v1/vehicles", params={"active": "false"}, headers=staff)
    assert [v["id"] for v in listed.json()] == [vid]
    assert (await client.get("/api/v1/vehicles/4242", headers=staff)).status_code == 404
    log = await client.get("/api/v1/audit", params={"entity": "vehicle"}, headers=staff)
    actions = [(e["action"], e["before"] and e["before"]["rated_volume_m3"]) for e in log.json()]
    assert actions == [("deactivate", 20), ("update", 18.5), ("create", None)]


async def test_terminals_and_tokens(client: AsyncClient, staff: dict[str, str], fleet: Any) -> None:
    vid, _ = fleet.truck("T-1")
    dangling = await client.post(
        "/api/v1/terminals", json={"identity": "013800000001", "vehicle_id": 77}, headers=staff
    )
    assert dangling.status_code == 400 and dangling.json()["field"] == "vehicle_id"
    made = await client.post(
        "/api/v1/terminals",
        json={"identity": "013800000001", "vehicle_id": vid, "model": "SIM-ZT"},
        headers=staff,
    )
    assert made.status_code == 201, made.text
    assert "token_hash" not in made.json()
    tid = made.json()["id"]
    issued = await client.post(f"/api/v1/terminals/{tid}/token", headers=staff)
    token = issued.json()["token"]
    fix = {"fixes": [{"time": "2026-01-01T00:00:00Z", "lon": 7.42, "lat": 43.73}]}
    posted = await client.post(
        "/api/v1/positions", json=fix, headers={"Authorization": f"Bearer {token}"}
    )
    assert posted.status_code == 200, posted.text
    assert (await client.post("/api/v1/terminals/999/token", headers=staff)).status_code == 404
    log = await client.get("/api/v1/audit", params={"entity": "terminal"}, headers=staff)
    assert token not in log.text and "issue_token" in log.text


async def test_site_bad_geometry_and_dangling_company_write_nothing(
    client: AsyncClient, staff: dict[str, str], db: psycopg.Connection[Any]
) -> None:
    site = {"name": "Pit", "kind": "quarry", "geometry": SQUARE}
    bowtie = await client.post("/api/v1/sites", json={**site, "geometry": BOWTIE}, headers=staff)
    assert bowtie.status_code == 400 and bowtie.json()["field"] == "geometry"
    assert "invalid polygon" in bowtie.json()["message"]
    short = {"type": "Polygon", "coordinates": [[[7.41, 43.73], [7.42, 43.73], [7.41, 43.73]]]}
    ring = await client.post("/api/v1/sites", json={**site, "geometry": short}, headers=staff)
    assert ring.status_code == 400 and ring.json()["field"] == "geometry.coordinates[0]"
    line = {"type": "LineString", "coordinates": [[7.41, 43.73], [7.42, 43.73]]}
    not_area = await client.post("/api/v1/sites", json={**site, "geometry": line}, headers=staff)
    assert not_area.status_code == 400 and not_area.json()["field"] == "geometry.type"
    dangling = await client.post("/api/v1/sites", json={**site, "company_id": 5}, headers=staff)
    assert dangling.status_code == 400 and dangling.json()["field"] == "company_id"
    kind = await client.post("/api/v1/sites", json={**site, "kind": "farm"}, headers=staff)
    assert kind.status_code == 422 and kind.json()["field"] == "kind"
    assert count(db, "sites") == 0 and count(db, "fences") == 0 and count(db, "audit_log") == 0


async def test_site_lifecycle_keeps_its_fence(
    client: AsyncClient, staff: dict[str, str], db: psycopg.Connection[Any]
) -> None:
    body = {"name": "Tower B", "kind": "construction", "geometry": SQUARE}
    made = await client.post(
        "/api/v1/sites", json={**body, "active_from": "2026-01-01"}, headers=staff
    )
    assert made.status_code == 201, made.text
    site = made.json()
    assert site["geometry"] == SQUARE and site["active_from"] == "2026-01-01"
    fence = db.execute(
        "SELECT role, name, version, active FROM fences WHERE id = %s", (site["fence_id"],)
    ).fetchone()
    assert fence == ("site", "Tower B", 1, True)
    moved = {**SQUARE, "coordinates": [[[x + 0.01, y] for x, y in SQUARE["coordinates"][0]]]}
    put = await client.put(
        f"/api/v1/sites/{site['id']}", json={**body, "geometry": moved}, headers=staff
    )
    assert put.json()["geometry"] == moved and put.json()["fence_id"] == site["fence_id"]
    bad = await client.put(
        f"/api/v1/sites/{site['id']}", json={**body, "geometry": BOWTIE}, headers=staff
    )
    assert bad.status_code == 400
    got = await client.get(f"/api/v1/sites/{site['id']}", headers=staff)
    assert got.json()["geometry"] == moved
    await client.delete(f"/api/v1/sites/{site['id']}", headers=staff)
    fence = db.execute(
        "SELECT version, active FROM fences WHERE id = %s", (site["fence_id"],)
    ).fetchone()
    assert fence == (3, False)


async def test_yards_and_zones(client: AsyncClient, staff: dict[str, str]) -> None:
    yard = {
        "name": "East yard",
        "geometry": SQUARE,
        "capacity_m3": 50000,
        "opening_hours": [{"start": "20:00", "end": "06:00"}],
        "accepted_materials": ["soil", "rubble"],
    }
    made = await client.post("/api/v1/yards", json=yard, headers=staff)
    assert made.status_code == 201, made.text
    assert made.json()["opening_hours"] == [{"start": "20:00", "end": "06:00"}]
    assert made.json()["accepted_materials"] == ["soil", "rubble"]
    bad_hours = {**yard, "opening_hours": [{"start": "25:00", "end": "06:00"}]}
    resp = await client.post("/api/v1/yards", json=bad_hours, headers=staff)
    assert resp.status_code == 422 and resp.json()["field"] == "opening_hours.0.start"
    no_capacity = await client.post("/api/v1/yards", json={**yard, "capacity_m3": 0}, headers=staff)
    assert no_capacity.status_code == 422 and no_capacity.json()["field"] == "capacity_m3"
    zone = {
        "name": "School",
        "geometry": SQUARE,
        "schedule": [{"days": [1, 2, 3, 4, 5], "start": "07:00", "end": "09:00"}],
        "speed_limit_kmh": 30,
    }
    made = await client.post("/api/v1/zones", json=zone, headers=staff)
    assert made.status_code == 201, made.text
    assert made.json()["schedule"][0]["days"] == [1, 2, 3, 4, 5]
    bad_days = {**zone, "schedule": [{"days": [8], "start": "07:00", "end": "09:00"}]}
    assert (await client.post("/api/v1/zones", json=bad_days, headers=staff)).status_code == 422
    listed = await client.get("/api/v1/zones", headers=staff)
    assert [z["name"] for z in listed.json()] == ["School"]
    assert listed.json()[0]["geometry"] == SQUARE


async def test_odd_inputs_are_4xx_not_5xx(client: AsyncClient, staff: dict[str, str]) -> None:
    huge = await client.get(f"/api/v1/vehicles/{2**63}", headers=staff)
    assert huge.status_code in (400, 404, 422), huge.text
    nul = await client.post("/api/v1/companies", json={"name": "A\x00B"}, headers=staff)
    assert nul.status_code == 400, nul.text
    junk = await client.post(
        "/api/v1/zones", json={"name": "Z", "geometry": {"type": "Polygon"}}, headers=staff
    )
    assert junk.status_code == 400 and junk.json()["field"] == "geometry.coordinates"


async def test_vehicle_blacklisted_is_read_from_the_listings(
    client: AsyncClient, staff: dict[str, str], db: psycopg.Connection[Any]
) -> None:
    company = await client.post("/api/v1/companies", json={"name": "Acme"}, headers=staff)
    truck = {"plate": "A-1", "company_id": company.json()["id"], "rated_volume_m3": 16}
    listed_at_birth = await client.post(
        "/api/v1/vehicles", json={**truck, "blacklisted": True}, headers=staff
    )
    assert listed_at_birth.status_code == 400, listed_at_birth.text
    assert listed_at_birth.json()["field"] == "blacklisted"
    assert "/api/v1/blacklist" in listed_at_birth.json()["message"]
    assert count(db, "vehicles") == 0
    created = await client.post("/api/v1/vehicles", json=truck, headers=staff)
    vehicle = created.json()
    assert created.status_code == 201 and vehicle["blacklisted"] is False
    vid = vehicle["id"]
    listing = await client.post(
        "/api/v1/blacklist", json={"vehicle_id": vid, "reason": "dumped"}, headers=staff
    )
    assert listing.status_code == 201, listing.text
    got = (await client.get(f"/api/v1/vehicles/{vid}", headers=staff)).json()
    assert got["blacklisted"] is True
    assert [v["blacklisted"] for v in (await client.get("/api/v1/vehicles", headers=staff)).json()]
    round_trip = {k: got[k] for k in (*truck, "blacklisted")}
    put = await client.put(f"/api/v1/vehicles/{vid}", json=round_trip, headers=staff)
    assert put.status_code == 200 and put.json()["blacklisted"] is True
    lift = await client.put(
        f"/api/v1/vehicles/{vid}", json={**round_trip, "blacklisted": False}, headers=staff
    )
    assert lift.status_code == 400 and lift.json()["field"] == "blacklisted"
    assert db.execute("SELECT count(*) FROM blacklisted_vehicles").fetchone() == (1,)
