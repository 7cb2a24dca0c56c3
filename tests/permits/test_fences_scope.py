"""``GET /api/v1/fences``: a company user sees its own sites and corridors and the public places."""

from __future__ import annotations

from typing import Any

from permit_world import World, box


async def test_company_users_see_only_their_fences(world: World, accounts: Any) -> None:
    theirs_site = {
        "name": "Their site",
        "kind": "quarry",
        "company_id": world.other_company_id,
        "geometry": box(7.44, 43.74),
    }
    assert (await world.post("/sites", theirs_site)).status_code == 201
    own_site = {**theirs_site, "name": "Own site", "company_id": world.company_id}
    own_site["geometry"] = box(7.45, 43.74)
    assert (await world.post("/sites", own_site)).status_code == 201
    zone = await world.post("/zones", {"name": "School", "geometry": box(7.46, 43.75)})
    assert zone.status_code == 201, zone.text
    other = {"plate": "O-1", "company_id": world.other_company_id, "rated_volume_m3": 9}
    other_vehicle = (await world.post("/vehicles", other)).json()["id"]
    own_permit = await world.approved(quota_m3=400)
    await world.approved(
        company_id=world.other_company_id, vehicle_ids=[other_vehicle], quota_m3=400
    )

    staff_view = (await world.client.get("/api/v1/fences", headers=world.staff)).json()
    company = accounts.headers("company_user", world.company_id)
    company_view = await world.client.get("/api/v1/fences", headers=company)
    seen = {
        (f["properties"]["role"], f["properties"]["name"]) for f in company_view.json()["features"]
    }
    assert staff_view["count"] == 7  # 3 sites, 1 yard, 1 zone, 2 corridors
    assert ("site", "Their site") not in seen
    assert ("site", "Own site") in seen and ("site", "Tower site") not in seen
    assert ("yard", "East yard") in seen and ("zone", "School") in seen
    corridors = [
        f for f in company_view.json()["features"] if f["properties"]["role"] == "corridor"
    ]
    assert [c["properties"]["name"] for c in corridors] == [f"permit {own_permit}"]
    assert company_view.json()["count"] == 4
