"""A small world for permit tests: a company with trucks, an origin site, a yard, and a
corridor between them (Monaco coordinates, lon/lat)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient


def box(lon: float, lat: float, size: float = 0.002) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


SITE = box(7.410, 43.730)
YARD = box(7.430, 43.730)
LINE = {"type": "LineString", "coordinates": [[7.411, 43.731], [7.421, 43.731], [7.431, 43.731]]}
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the city's day (settings.city_tz)


@dataclass
class World:
    client: AsyncClient
    staff: dict[str, str]
    company_id: int = 0
    other_company_id: int = 0
    vehicle_ids: list[int] = field(default_factory=list)
    site_id: int = 0
    yard_id: int = 0

    async def post(self, path: str, body: Any = None, headers: Any = None) -> Any:
        return await self.client.post(f"/api/v1{path}", json=body, headers=headers or self.staff)

    def permit(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "company_id": self.company_id,
            "vehicle_ids": self.vehicle_ids[:1],
            "site_ids": [self.site_id],
            "yard_ids": [self.yard_id],
            "corridors": [{"geometry": LINE, "half_width_m": 30}],
            "valid_from": TODAY.isoformat(),
            "valid_to": (TODAY + timedelta(days=30)).isoformat(),
            "windows": [{"start": "22:00", "end": "05:00"}],
            "quota_m3": 1000,
        }
        return {**body, **overrides}

    async def submitted(self, **overrides: Any) -> int:
        made = await self.post("/permits", self.permit(**overrides))
        assert made.status_code == 201, made.text
        permit_id = int(made.json()["id"])
        submitted = await self.post(f"/permits/{permit_id}/submit")
        assert submitted.json()["state"] == "submitted", submitted.text
        return permit_id

    async def approved(self, **overrides: Any) -> int:
        permit_id = await self.submitted(**overrides)
        resp = await self.post(f"/permits/{permit_id}/approve")
        assert resp.status_code == 200, resp.text
        return permit_id


async def make_world(client: AsyncClient, staff: dict[str, str]) -> World:
    w = World(client, staff)
    w.company_id = (await w.post("/companies", {"name": "Haul Co"})).json()["id"]
    w.other_company_id = (await w.post("/companies", {"name": "Other Co"})).json()["id"]
    for plate in ("A-1", "A-2"):
        truck = {"plate": plate, "company_id": w.company_id, "rated_volume_m3": 16}
        w.vehicle_ids.append((await w.post("/vehicles", truck)).json()["id"])
    site = {"name": "Tower site", "kind": "construction", "geometry": SITE}
    w.site_id = (await w.post("/sites", site)).json()["id"]
    yard = {"name": "East yard", "geometry": YARD, "capacity_m3": 1500}
    w.yard_id = (await w.post("/yards", yard)).json()["id"]
    return w
