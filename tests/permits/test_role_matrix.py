"""Each role can do what it should and nothing more; company users see their company only."""

from __future__ import annotations

from typing import Any

import pytest
from permit_world import SITE, YARD, World, box

FAR = box(7.45, 43.75)
READS = {"list_companies", "list_vehicles", "list_sites", "list_permits", "get_permit"}
OFFICE = {
    "add_company",
    "add_vehicle",
    "add_site",
    "add_yard",
    "add_zone",
    "list_terminals",
    "issue_token",
    "draft",
    "submit",
    "approve",
    "reject",
}
ALLOWED = {
    "admin": READS | OFFICE | {"audit", "add_user"},
    "permit_officer": READS | OFFICE,
    "enforcement_officer": READS | {"list_terminals"},
    "viewer": READS | {"list_terminals"},
    "company_user": READS | {"draft", "submit"},
}


async def _act(w: World, h: dict[str, str], permit_id: int, terminal_id: int) -> dict[str, int]:
    c = w.client
    truck = {"plate": "R-9", "company_id": w.company_id, "rated_volume_m3": 9}
    calls: dict[str, Any] = {
        "list_companies": c.get("/api/v1/companies", headers=h),
        "list_vehicles": c.get("/api/v1/vehicles", headers=h),
        "list_sites": c.get("/api/v1/sites", headers=h),
        "list_permits": c.get("/api/v1/permits", headers=h),
        "get_permit": c.get(f"/api/v1/permits/{permit_id}", headers=h),
        "list_terminals": c.get("/api/v1/terminals", headers=h),
        "audit": c.get("/api/v1/audit", headers=h),
        "add_company": c.post("/api/v1/companies", json={"name": "New Co"}, headers=h),
        "add_vehicle": c.post("/api/v1/vehicles", json=truck, headers=h),
        "add_site": c.post(
            "/api/v1/sites", json={"name": "S", "kind": "quarry", "geometry": SITE}, headers=h
        ),
        "add_yard": c.post(
            "/api/v1/yards", json={"name": "Y", "geometry": YARD, "capacity_m3": 9}, headers=h
        ),
        "add_zone": c.post("/api/v1/zones", json={"name": "Z", "geometry": FAR}, headers=h),
        "issue_token": c.post(f"/api/v1/terminals/{terminal_id}/token", headers=h),
        "add_user": c.post(
            "/api/v1/users",
            json={"username": "newbie", "password": "0123456789ab", "role": "viewer"},
            headers=h,
        ),
    }
    status = {name: (await call).status_code for name, call in calls.items()}
    draft = await c.post("/api/v1/permits", json=w.permit(), headers=h)
    status["draft"] = draft.status_code
    own = draft.json()["id"] if draft.status_code == 201 else permit_id
    status["submit"] = (await c.post(f"/api/v1/permits/{own}/submit", headers=h)).status_code
    pending = [await w.submitted(), await w.submitted(vehicle_ids=w.vehicle_ids[1:])]
    approve = await c.post(f"/api/v1/permits/{pending[0]}/approve", headers=h)
    status["approve"] = approve.status_code
    status["reject"] = (
        await c.post(f"/api/v1/permits/{pending[1]}/reject", json={}, headers=h)
    ).status_code
    return status


@pytest.mark.parametrize("role", sorted(ALLOWED))
async def test_role_matrix(world: World, accounts: Any, fleet: Any, role: str) -> None:
    permit_id = (await world.post("/permits", world.permit(quota_m3=10))).json()["id"]
    terminal = {"identity": "013900000009"}
    terminal_id = (await world.post("/terminals", terminal)).json()["id"]
    headers = accounts.headers(role, world.company_id if role == "company_user" else None)
    status = await _act(world, headers, permit_id, terminal_id)
    allowed = {name for name, code in status.items() if code < 300}
    refused = {name: code for name, code in status.items() if code >= 300}
    assert allowed == ALLOWED[role], status
    assert set(refused.values()) <= {403}, refused


async def test_company_user_sees_only_its_company(world: World, accounts: Any) -> None:
    other = {"plate": "O-7", "company_id": world.other_company_id, "rated_volume_m3": 9}
    other_vehicle = (await world.post("/vehicles", other)).json()["id"]
    theirs = await world.post(
        "/permits", world.permit(company_id=world.other_company_id, vehicle_ids=[other_vehicle])
    )
    assert theirs.status_code == 201, theirs.text
    ours = (await world.post("/permits", world.permit())).json()["id"]
    h = accounts.headers("company_user", world.company_id)
    c = world.client
    companies = (await c.get("/api/v1/companies", headers=h)).json()
    assert [x["id"] for x in companies] == [world.company_id]
    vehicles = (await c.get("/api/v1/vehicles", headers=h)).json()
    assert {v["id"] for v in vehicles} == set(world.vehicle_ids)
    asked = await c.get(
        "/api/v1/vehicles", params={"company_id": world.other_company_id}, headers=h
    )
    assert {v["id"] for v in asked.json()} == set(world.vehicle_ids)
    assert (await c.get(f"/api/v1/vehicles/{other_vehicle}", headers=h)).status_code == 404
    assert (
        await c.get(f"/api/v1/companies/{world.other_company_id}", headers=h)
    ).status_code == 404
    permits = (await c.get("/api/v1/permits", headers=h)).json()
    assert [p["id"] for p in permits] == [ours]
    their_id = theirs.json()["id"]
    assert (await c.get(f"/api/v1/permits/{their_id}", headers=h)).status_code == 404
    assert (await c.post(f"/api/v1/permits/{their_id}/submit", headers=h)).status_code == 404
    foreign = world.permit(company_id=world.other_company_id, vehicle_ids=[other_vehicle])
    drafted = await c.post("/api/v1/permits", json=foreign, headers=h)
    assert drafted.status_code == 403 and drafted.json()["field"] == "company_id"
    edit = await c.put(f"/api/v1/permits/{their_id}", json=foreign, headers=h)
    assert edit.status_code == 403
