"""The credit grade acts: a grade-D company's new permits are refused with that reason."""

from __future__ import annotations

from typing import Any

import psycopg
from permit_world import World


async def test_a_grade_d_company_gets_no_new_permit(
    world: World, db: psycopg.Connection[Any]
) -> None:
    permit_id = await world.submitted()
    db.execute("UPDATE credit_settings SET score_listing_penalty = 50")
    listing = {"vehicle_id": world.vehicle_ids[1], "reason": "多次随意倾倒"}
    assert (await world.post("/blacklist", listing)).status_code == 201
    grade = await world.client.get(f"/api/v1/companies/{world.company_id}/credit",
                                   headers=world.staff)  # fmt: skip
    assert grade.json()["grade"] == "D"
    resp = await world.post(f"/permits/{permit_id}/approve")
    assert resp.status_code == 409, resp.text
    codes = [d["code"] for d in resp.json()["details"]]
    assert codes == ["company_grade_d"]
    assert resp.json()["field"] == "company_id"
    db.execute("UPDATE credit_settings SET score_listing_penalty = 10")  # back to C: approved
    assert (await world.post(f"/permits/{permit_id}/approve")).status_code == 200
