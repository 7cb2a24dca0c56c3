"""A small city for case tests: a city with two districts (west, east) and a street in the west,
urban-management units per district, a city-wide traffic police unit, a street office; two
companies with a truck each; accounts scoped to units and areas (lon, lat near Nanning)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

import psycopg
from httpx import AsyncClient


def box(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> dict[str, Any]:
    ring = [[min_lon, min_lat], [max_lon, min_lat], [max_lon, max_lat], [min_lon, max_lat],
            [min_lon, min_lat]]  # fmt: skip
    return {"type": "Polygon", "coordinates": [ring]}


def area(code: str, name: str, level: str, parent: str | None, geom: dict[str, Any]) -> Any:
    props = {"code": code, "name": name, "level": level, "parent": parent}
    return {"type": "Feature", "properties": props, "geometry": geom}


AREAS = {
    "type": "FeatureCollection",
    "features": [
        # children before parents on purpose: the import orders them
        area("W1", "西一街道", "street", "W", box(108.00, 22.70, 108.10, 22.90)),
        area("NN", "南宁市", "city", None, box(108.00, 22.60, 108.40, 23.00)),
        area("W", "西区", "district", "NN", box(108.00, 22.60, 108.20, 23.00)),
        area("E", "东区", "district", "NN", box(108.20, 22.60, 108.40, 23.00)),
    ],
}
IN_W1 = (108.05, 22.80)
IN_W = (108.15, 22.65)  # west district, outside the street
IN_E = (108.30, 22.80)
OUTSIDE = (109.50, 22.80)


@dataclass
class World:
    client: AsyncClient
    db: psycopg.Connection[Any]
    staff: dict[str, str]
    units: dict[str, int] = field(default_factory=dict)
    areas: dict[str, int] = field(default_factory=dict)
    companies: dict[str, int] = field(default_factory=dict)
    vehicles: dict[str, int] = field(default_factory=dict)

    def account(
        self, role: str, *, unit: str | None = None, area: str | None = None,
        company: str | None = None,
    ) -> dict[str, str]:  # fmt: skip
        """A ready token for a new account with the given scope."""
        username = f"{role}-{secrets.token_hex(4)}"
        row = self.db.execute(
            "INSERT INTO users (username, password_hash, role, company_id, unit_id, area_id) "
            "VALUES (%s, 'unusable', %s, %s, %s, %s) RETURNING id",
            (username, role, self.companies.get(company or ""), self.units.get(unit or ""),
             self.areas.get(area or "")),
        ).fetchone()  # fmt: skip
        assert row is not None
        token = "mu_test_" + secrets.token_urlsafe(16)
        self.db.execute(
            "INSERT INTO user_tokens (token_hash, user_id, expires_at) "
            "VALUES (%s, %s, now() + interval '1 hour')",
            (hashlib.sha256(token.encode()).digest(), row[0]),
        )
        return {"Authorization": f"Bearer {token}"}

    async def open(
        self, who: dict[str, str], place: tuple[float, float] = IN_W1,
        subtype: str = "dumping_at_will", company: str = "haul",
    ) -> dict[str, Any]:  # fmt: skip
        body = {"subtype": subtype, "lon": place[0], "lat": place[1],
                "vehicle_id": self.vehicles[company], "facts": "倾倒建筑垃圾于河道旁"}  # fmt: skip
        resp = await self.client.post("/api/v1/cases", json=body, headers=who)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    async def act(self, case_id: int, action: str, who: dict[str, str], **body: Any) -> Any:
        return await self.client.post(f"/api/v1/cases/{case_id}/{action}", json=body, headers=who)


async def make_world(
    client: AsyncClient, db: psycopg.Connection[Any], staff: dict[str, str]
) -> World:
    from tracker.cases.taxonomy import default_taxonomy

    w = World(client, db, staff)
    resp = await client.put(
        "/api/v1/cases/taxonomy", json=default_taxonomy().model_dump(), headers=staff
    )
    assert resp.status_code == 200, resp.text
    resp = await client.post("/api/v1/jurisdictions", json=AREAS, headers=staff)
    assert resp.status_code == 201, resp.text
    w.areas = {a["code"]: a["id"] for a in resp.json()["areas"]}
    for code, name, kind, where in (
        ("um_w", "西区城管执法局", "urban_management", "W"),
        ("um_e", "东区城管执法局", "urban_management", "E"),
        ("tp", "市交警支队", "traffic_police", "NN"),
        ("so_w1", "西一街道办", "street_office", "W1"),
    ):
        body = {"code": code, "name": name, "kind": kind, "jurisdiction_code": where}
        resp = await client.post("/api/v1/units", json=body, headers=staff)
        assert resp.status_code == 201, resp.text
        w.units[code] = resp.json()["id"]
    for key, name in (("haul", "Haul Co"), ("other", "Other Co")):
        w.companies[key] = (await client.post("/api/v1/companies", json={"name": name},
                                              headers=staff)).json()["id"]  # fmt: skip
        truck = {"plate": f"桂A-{key}", "company_id": w.companies[key], "rated_volume_m3": 16}
        w.vehicles[key] = (await client.post("/api/v1/vehicles", json=truck,
                                             headers=staff)).json()["id"]  # fmt: skip
    return w
