"""Four eyes: the account that drafted, edited or submitted a permit may not decide it."""

from __future__ import annotations

from typing import Any

from permit_world import World


async def _drafted_by(world: World, headers: dict[str, str]) -> int:
    made = await world.post("/permits", world.permit(), headers=headers)
    assert made.status_code == 201, made.text
    permit_id = int(made.json()["id"])
    submitted = await world.post(f"/permits/{permit_id}/submit", headers=headers)
    assert submitted.status_code == 200, submitted.text
    return permit_id


async def test_an_officer_cannot_approve_what_it_drafted(world: World, accounts: Any) -> None:
    alice = accounts.headers("permit_officer")
    bob = accounts.headers("permit_officer")
    permit_id = await _drafted_by(world, alice)
    refused = await world.post(f"/permits/{permit_id}/approve", headers=alice)
    assert refused.status_code == 403, refused.text
    body = refused.json()
    assert body["error"] == "four_eyes" and "four eyes" in body["message"]
    got = (await world.client.get(f"/api/v1/permits/{permit_id}", headers=world.staff)).json()
    assert got["state"] == "submitted"
    approved = await world.post(f"/permits/{permit_id}/approve", headers=bob)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"


async def test_nor_reject_it_and_admins_too(world: World, accounts: Any) -> None:
    admin = accounts.headers("admin")
    permit_id = await _drafted_by(world, admin)
    assert (await world.post(f"/permits/{permit_id}/approve", headers=admin)).status_code == 403
    rejected = await world.post(f"/permits/{permit_id}/reject", {}, headers=admin)
    assert rejected.status_code == 403 and rejected.json()["error"] == "four_eyes"
    other = accounts.headers("permit_officer")
    assert (await world.post(f"/permits/{permit_id}/reject", {}, headers=other)).status_code == 200


async def test_an_editor_counts_as_an_author(world: World, accounts: Any) -> None:
    company = accounts.headers("company_user", world.company_id)
    officer = accounts.headers("permit_officer")
    made = await world.post("/permits", world.permit(), headers=company)
    permit_id = int(made.json()["id"])
    edited = await world.client.put(
        f"/api/v1/permits/{permit_id}", json=world.permit(quota_m3=500), headers=officer
    )
    assert edited.status_code == 200, edited.text
    assert (await world.post(f"/permits/{permit_id}/submit", headers=company)).status_code == 200
    assert (await world.post(f"/permits/{permit_id}/approve", headers=officer)).status_code == 403
    second = accounts.headers("permit_officer")
    assert (await world.post(f"/permits/{permit_id}/approve", headers=second)).status_code == 200
