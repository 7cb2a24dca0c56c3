"""A small haul world built through the real API, and timed fixes for a few trucks with known
violations (Monaco coordinates, lon/lat; fixes every 10 s, GPS only).

Truck 0 hauls cleanly; truck 1 stops 4 min loaded on the way (dumping); truck 2 leaves the
corridor for ~2 min (route deviation); truck 3 detours through a no-go zone (deviation and
no-go). Each does ``TRIPS`` trips, site -> corridor -> yard -> back out empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from httpx import AsyncClient

SITE_LON, YARD_LON, ROAD_LAT = 7.411, 7.431, 43.731
STEP_S = 10
TRIPS = 3
TODAY = datetime.now(UTC).date()


def box(lon: float, lat: float, size: float) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


async def build_world(
    client: AsyncClient, staff: dict[str, str], db: psycopg.Connection[Any], vehicle_ids: list[int]
) -> None:
    """Site, yard, no-go zone and an approved permit (all day) for ``vehicle_ids``."""

    async def post(path: str, body: Any = None) -> Any:
        resp = await client.post(f"/api/v1{path}", json=body, headers=staff)
        assert resp.status_code in (200, 201), resp.text
        return resp.json()

    company_id = db.execute(
        "SELECT company_id FROM vehicles WHERE id = %s", (vehicle_ids[0],)
    ).fetchone()[0]  # type: ignore[index]
    site = await post("/sites", {"name": "Tower", "kind": "construction",
                                 "geometry": box(7.410, 43.730, 0.002)})  # fmt: skip
    yard = await post("/yards", {"name": "East", "capacity_m3": 5000,
                                 "geometry": box(7.430, 43.730, 0.002)})  # fmt: skip
    await post("/zones", {"name": "School", "geometry": box(7.420, 43.734, 0.001)})
    line = {"type": "LineString", "coordinates": [[SITE_LON, ROAD_LAT], [YARD_LON, ROAD_LAT]]}
    permit = await post(
        "/permits",
        {
            "company_id": company_id,
            "vehicle_ids": vehicle_ids,
            "site_ids": [site["id"]],
            "yard_ids": [yard["id"]],
            "corridors": [{"geometry": line, "half_width_m": 30}],
            "valid_from": (TODAY - timedelta(days=1)).isoformat(),
            "valid_to": (TODAY + timedelta(days=30)).isoformat(),
            "windows": [{"start": "00:00", "end": "23:59"}],
            "quota_m3": 1000,
        },
    )
    await post(f"/permits/{permit['id']}/submit")
    await post(f"/permits/{permit['id']}/approve")


def _stay(lon: float, lat: float, n: int) -> Iterator[tuple[float, float, float]]:
    for _ in range(n):
        yield lon, lat, 0.0


def _drive(
    a: tuple[float, float], b: tuple[float, float], step_deg: float = 0.00125
) -> Iterator[tuple[float, float, float]]:
    (lon0, lat0), (lon1, lat1) = a, b
    dist = max(abs(lon1 - lon0), abs(lat1 - lat0))
    n = max(1, round(dist / step_deg))
    for i in range(1, n + 1):
        yield lon0 + (lon1 - lon0) * i / n, lat0 + (lat1 - lat0) * i / n, 36.0


def _haul(kind: int) -> Iterator[tuple[float, float, float]]:
    yield from _stay(SITE_LON, ROAD_LAT, 15)  # loading
    here = (SITE_LON, ROAD_LAT)
    if kind == 1:  # dumping: 4 min loaded stop on the road
        yield from _drive(here, (7.421, ROAD_LAT))
        yield from _stay(7.421, ROAD_LAT, 24)
        here = (7.421, ROAD_LAT)
    elif kind in (2, 3):  # deviation; truck 3 goes through the zone
        off_lat = 43.7345 if kind == 3 else 43.7335
        yield from _drive(here, (7.418, ROAD_LAT))
        yield from _drive((7.418, ROAD_LAT), (7.418, off_lat), 0.0008)
        yield from _drive((7.418, off_lat), (7.424, off_lat))
        yield from _drive((7.424, off_lat), (7.424, ROAD_LAT), 0.0008)
        here = (7.424, ROAD_LAT)
    yield from _drive(here, (YARD_LON, ROAD_LAT))
    yield from _stay(YARD_LON, ROAD_LAT, 15)  # unloading
    yield from _drive((YARD_LON, ROAD_LAT), (7.426, ROAD_LAT))  # out of the yard, empty
    yield from _drive((7.426, ROAD_LAT), (SITE_LON, ROAD_LAT), 0.003)


def truck_fixes(kind: int, start: datetime) -> list[dict[str, Any]]:
    points = [p for _ in range(TRIPS) for p in _haul(kind)]
    return [
        {
            "time": (start + timedelta(seconds=i * STEP_S)).isoformat(),
            "lon": round(lon, 7),
            "lat": round(lat, 7),
            "speed_kmh": speed,
        }
        for i, (lon, lat, speed) in enumerate(points)
    ]


def chunks(fixes: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [fixes[i : i + size] for i in range(0, len(fixes), size)]
