"""A small world for sighting tests: a checkpoint, two camera systems, trucks with terminals,
all made through the real API (staff token) or the registry's own helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from httpx import AsyncClient

from tracker.registry import repo

NOW = datetime.now(UTC).replace(microsecond=0)
CP_LON, CP_LAT = 108.32, 22.82
STAFF = {"Authorization": "Bearer test-staff"}


def sighting(plate: str, checkpoint_id: int, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "plate": plate,
        "plate_colour": "yellow",
        "time": (NOW - timedelta(minutes=2)).isoformat(),
        "checkpoint_id": checkpoint_id,
        "direction": "inbound",
        "camera_id": "cam-1",
        "photo_ref": "https://cams.example/p/1.jpg",
        "confidence": 0.97,
    }
    return {**body, **kw}


@dataclass
class World:
    client: AsyncClient
    db: psycopg.Connection[Any]
    checkpoint_id: int = 0
    camera_a: str = ""
    camera_b: str = ""
    camera_b_id: int = 0

    async def build(self, muck_lanes: bool = True) -> World:
        made = await self.client.post(
            "/api/v1/checkpoints",
            json={
                "name": "大沙田卡点",
                "lon": CP_LON,
                "lat": CP_LAT,
                "directions": [{"name": "inbound", "bearing_deg": 90}],
                "district": "良庆区",
                "cameras": ["cam-1", "cam-2"],
                "muck_lanes": muck_lanes,
            },
            headers=STAFF,
        )
        assert made.status_code == 201, made.text
        self.checkpoint_id = made.json()["id"]
        self.camera_a, _ = await self.camera("交警卡口")
        self.camera_b, self.camera_b_id = await self.camera("城管视频")
        return self

    async def camera(self, name: str) -> tuple[str, int]:
        made = await self.client.post("/api/v1/camera-systems", json={"name": name}, headers=STAFF)
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
        issued = await self.client.post(f"/api/v1/camera-systems/{cid}/token", headers=STAFF)
        assert issued.status_code == 200, issued.text
        return issued.json()["token"], cid

    def truck(self, plate: str, company: str = "Acme Haulage") -> tuple[int, int, str]:
        """A registered truck with a terminal: vehicle id, company id, terminal token."""
        company_id = repo.ensure_company(self.db, company)
        vehicle_id = repo.ensure_vehicle(self.db, plate, company_id, 16.0)
        terminal_id = repo.ensure_terminal(self.db, f"T-{plate}", vehicle_id)
        return vehicle_id, company_id, repo.issue_token(self.db, terminal_id)

    def permit(self, vehicle_id: int, company_id: int) -> None:
        row = self.db.execute(
            "INSERT INTO permits (company_id, state, valid_from, valid_to, quota_m3) "
            "VALUES (%s, 'approved', current_date - 1, current_date + 1, 1000) RETURNING id",
            (company_id,),
        ).fetchone()
        assert row is not None
        self.db.execute(
            "INSERT INTO permit_vehicles (permit_id, vehicle_id) VALUES (%s, %s)",
            (row[0], vehicle_id),
        )

    async def post(self, token: str, *items: dict[str, Any]) -> Any:
        return await self.client.post(
            "/api/v1/sightings",
            json={"sightings": list(items)},
            headers={"Authorization": f"Bearer {token}"},
        )

    def incidents(self) -> list[dict[str, Any]]:
        with self.db.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(
                "SELECT incident_id, type, vehicle_id, company_id, detail, evidence "
                "FROM incidents ORDER BY incident_id"
            )
            return cur.fetchall()
