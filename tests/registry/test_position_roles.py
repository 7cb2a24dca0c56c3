"""Positions by role: every staff role reads them; a company user sees its own trucks only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


async def _drive(client: AsyncClient, token: str, lon0: float) -> None:
    fixes = [
        {
            "time": (T0 + timedelta(seconds=30 * i)).isoformat().replace("+00:00", "Z"),
            "lon": lon0 + i * 1e-4,
            "lat": 43.73,
        }
        for i in range(3)
    ]
    resp = await client.post(
        "/api/v1/positions", json={"fixes": fixes}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    "role", ["admin", "permit_officer", "enforcement_officer", "viewer", "company_user"]
)
async def test_positions_by_role(client: AsyncClient, fleet: Any, accounts: Any, role: str) -> None:
    own, own_token = fleet.truck("P-OWN", company="Own Co")
    other, other_token = fleet.truck("P-OTHER", company="Other Co")
    await _drive(client, own_token, 7.41)
    await _drive(client, other_token, 7.42)
    await client.app.state.platform.publisher.stop()  # type: ignore[attr-defined]
    company_id = fleet.conn.execute(
        "SELECT company_id FROM vehicles WHERE id = %s", (own,)
    ).fetchone()[0]
    headers = accounts.headers(role, company_id if role == "company_user" else None)
    latest = await client.get("/api/v1/positions/latest", headers=headers)
    assert latest.status_code == 200, latest.text
    seen = {f["properties"]["vehicle_id"] for f in latest.json()["features"]}
    window = {"start": (T0 - timedelta(minutes=1)).isoformat()}
    own_track = await client.get(f"/api/v1/vehicles/{own}/track", params=window, headers=headers)
    other_track = await client.get(
        f"/api/v1/vehicles/{other}/track", params=window, headers=headers
    )
    assert own_track.status_code == 200 and own_track.json()["count"] == 3
    if role == "company_user":
        assert seen == {own}
        assert other_track.status_code == 404
        # asking for another company explicitly changes nothing
        other_company = await client.get(
            "/api/v1/positions/latest", params={"company_id": "999"}, headers=headers
        )
        assert {f["properties"]["vehicle_id"] for f in other_company.json()["features"]} == {own}
    else:
        assert seen == {own, other}
        assert other_track.status_code == 200
