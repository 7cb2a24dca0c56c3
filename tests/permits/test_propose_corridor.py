"""Corridor proposals on the real Monaco road network, around a no-go zone.

Map data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import shapely
from permit_world import World, box
from shapely.geometry import shape

from tracker.permits import corridor
from tracker.sim.data import DataUnavailableError, ensure_monaco_pbf

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(world: World) -> Path:
    data = Path(os.environ.get("TRACKER_DATA_DIR", REPO / ".data"))
    try:
        ensure_monaco_pbf(data)
    except DataUnavailableError as exc:
        pytest.skip(f"Monaco extract unavailable: {exc}")
    settings = world.client.app.state.platform.settings  # type: ignore[attr-defined]
    settings.data_dir = str(data)
    return data


def around(lon: float, lat: float, half: float = 0.0003) -> dict[str, Any]:
    return box(lon - half, lat - half, 2 * half)


async def test_proposal_avoids_a_zone_and_passes_approval(world: World, data_dir: Path) -> None:
    network = corridor.road_network(data_dir / "monaco.osm.pbf")
    a = network.coord(network.nearest_node(7.4165, 43.7315))
    b = network.coord(network.nearest_node(7.4285, 43.7395))
    site = {"name": "Fontvieille works", "kind": "construction", "geometry": around(*a)}
    yard = {"name": "Larvotto yard", "geometry": around(*b), "capacity_m3": 90000}
    site_id = (await world.post("/sites", site)).json()["id"]
    yard_id = (await world.post("/yards", yard)).json()["id"]
    ask = {"site_id": site_id, "yard_id": yard_id, "half_width_m": 25}
    direct = await world.post("/permits/propose-corridor", ask)
    assert direct.status_code == 200, direct.text
    line = direct.json()["geometry"]["coordinates"]
    assert direct.json()["start_gap_m"] == 0 and direct.json()["end_gap_m"] == 0
    middle = line[len(line) // 2]
    zone = around(*middle, 0.0004)
    zone_id = (await world.post("/zones", {"name": "Hospital", "geometry": zone})).json()["id"]
    detour = await world.post("/permits/propose-corridor", ask)
    assert detour.status_code == 200, detour.text
    body = detour.json()
    assert body["avoided_zone_ids"] == [zone_id]
    assert body["length_m"] > direct.json()["length_m"]
    assert not shapely.LineString(body["geometry"]["coordinates"]).intersects(shape(zone))
    corridors = [{"geometry": body["geometry"], "half_width_m": 25}]
    permit_id = await world.submitted(site_ids=[site_id], yard_ids=[yard_id], corridors=corridors)
    approved = await world.post(f"/permits/{permit_id}/approve")
    assert approved.status_code == 200, approved.text
    blocked = [{"geometry": direct.json()["geometry"], "half_width_m": 25}]
    refused_id = await world.submitted(
        site_ids=[site_id],
        yard_ids=[yard_id],
        corridors=blocked,
        vehicle_ids=world.vehicle_ids[1:],
        quota_m3=10,
    )
    refused = await world.post(f"/permits/{refused_id}/approve")
    assert [r["code"] for r in refused.json()["details"]] == ["corridor_no_go_zone"]


async def test_proposal_errors(world: World, data_dir: Path, accounts: Any) -> None:
    ask = {"site_id": world.site_id, "yard_id": 999, "half_width_m": 25}
    missing = await world.post("/permits/propose-corridor", ask)
    assert missing.status_code == 404 and missing.json()["field"] == "yard_id"
    viewer = accounts.headers("viewer")
    ask["yard_id"] = world.yard_id
    resp = await world.post("/permits/propose-corridor", ask, headers=viewer)
    assert resp.status_code == 403
