"""A small world for capacity tests, built through the real API (Monaco coordinates, lon/lat),
and completed trips written through the engine's own write path (``tracker.trips.worker.repo``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from httpx import AsyncClient

from tracker.trips.core.events import TripCompleted
from tracker.trips.worker import repo as engine_repo

TODAY = datetime.now(UTC).date()
LINE = {"type": "LineString", "coordinates": [[7.411, 43.731], [7.421, 43.731], [7.431, 43.731]]}


def box(lon: float, lat: float, size: float = 0.002) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass
class LedgerWorld:
    client: AsyncClient
    staff: dict[str, str]
    database_url: str
    company_id: int = 0
    vehicle_ids: list[int] = field(default_factory=list)
    site_id: int = 0
    yard_ids: list[int] = field(default_factory=list)

    async def post(self, path: str, body: Any = None, headers: Any = None) -> Any:
        return await self.client.post(f"/api/v1{path}", json=body, headers=headers or self.staff)

    async def get(self, path: str, headers: Any = None) -> Any:
        return await self.client.get(f"/api/v1{path}", headers=headers or self.staff)

    async def yard(self, name: str, capacity_m3: float, lon: float = 7.430) -> int:
        body = {"name": name, "geometry": box(lon, 43.730), "capacity_m3": capacity_m3}
        resp = await self.post("/yards", body)
        assert resp.status_code == 201, resp.text
        self.yard_ids.append(int(resp.json()["id"]))
        return self.yard_ids[-1]

    async def trips(self, yard_id: int, volumes: list[float | None], *, days_ago: float = 0,
                    vehicle: int = 0, first: int = 0) -> list[str]:  # fmt: skip
        """Complete one trip per volume (None: the truck's rated volume) as the engine does."""
        end = datetime.now(UTC) - timedelta(days=days_ago)
        events = [
            TripCompleted(
                time=end - timedelta(minutes=i),
                late=False,
                trip_id=f"t-{self.vehicle_ids[vehicle]}-{yard_id}-{first + i}",
                vehicle_id=self.vehicle_ids[vehicle],
                origin_id=str(self.site_id),
                yard_id=str(yard_id),
                permit_id=None,
                loading_at=end - timedelta(hours=1),
                departed_at=end - timedelta(minutes=50),
                arrived_at=end - timedelta(minutes=10),
                volume_m3=v,
                volume_source="rated" if v is None else "weighbridge",
                outcome="yard",
            )
            for i, v in enumerate(volumes)
        ]
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            await engine_repo.save_events(conn, events, {self.vehicle_ids[vehicle]: None})
            await conn.commit()
        return [e.trip_id for e in events]

    def permit(self, yard_id: int, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "company_id": self.company_id,
            "vehicle_ids": self.vehicle_ids[:1],
            "site_ids": [self.site_id],
            "yard_ids": [yard_id],
            "corridors": [{"geometry": LINE, "half_width_m": 30}],
            "valid_from": TODAY.isoformat(),
            "valid_to": (TODAY + timedelta(days=30)).isoformat(),
            "windows": [{"start": "22:00", "end": "05:00"}],
            "quota_m3": 1,
        }
        return {**body, **overrides}

    async def approve(self, yard_id: int) -> Any:
        made = await self.post("/permits", self.permit(yard_id))
        assert made.status_code == 201, made.text
        permit_id = int(made.json()["id"])
        assert (await self.post(f"/permits/{permit_id}/submit")).status_code == 200
        return await self.post(f"/permits/{permit_id}/approve")


async def make_world(client: AsyncClient, staff: dict[str, str], database_url: str) -> LedgerWorld:
    w = LedgerWorld(client, staff, database_url)
    w.company_id = (await w.post("/companies", {"name": "Haul Co"})).json()["id"]
    for plate in ("C-1", "C-2"):
        truck = {"plate": plate, "company_id": w.company_id, "rated_volume_m3": 16}
        w.vehicle_ids.append((await w.post("/vehicles", truck)).json()["id"])
    site = {"name": "Tower site", "kind": "construction", "geometry": box(7.410, 43.730)}
    w.site_id = (await w.post("/sites", site)).json()["id"]
    return w
