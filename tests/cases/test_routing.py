"""Routing by jurisdiction: a case goes to the unit of its type whose area holds its place, else
the street office, else the city queue; the areas import checks its input."""

from __future__ import annotations

from typing import Any

import pytest
from case_world import IN_E, IN_W, IN_W1, OUTSIDE, World, area, box


@pytest.mark.parametrize(
    ("subtype", "place", "unit", "district", "deepest"),
    [
        ("dumping_at_will", IN_W1, "um_w", "W", "W1"),
        ("dumping_at_will", IN_W, "um_w", "W", "W"),
        ("dumping_at_will", IN_E, "um_e", "E", "E"),
        ("speeding", IN_W1, "tp", "W", "W1"),  # the city-wide traffic police
        ("site_dust", IN_W1, "so_w1", "W", "W1"),  # no environment unit: the street office
        ("site_dust", IN_E, None, "E", "E"),  # nobody there: the city queue
        ("dumping_at_will", OUTSIDE, None, None, None),
    ],
)
async def test_a_case_is_routed_to_the_unit_whose_area_holds_its_place(
    world: World,
    subtype: str,
    place: tuple[float, float],
    unit: str | None,
    district: str | None,
    deepest: str | None,
) -> None:
    case = await world.open(world.staff, place, subtype)
    assert case["unit_id"] == (None if unit is None else world.units[unit])
    assert case["district_id"] == (None if district is None else world.areas[district])
    assert case["area_id"] == (None if deepest is None else world.areas[deepest])
    assert case["state"] == "opened"


async def test_reimporting_an_area_moves_its_border(world: World) -> None:
    moved = {
        "type": "FeatureCollection",
        "features": [area("W", "西区", "district", "NN", box(108.0, 22.6, 108.35, 23.0))],
    }
    resp = await world.client.post("/api/v1/jurisdictions", json=moved, headers=world.staff)
    assert resp.status_code == 201, resp.text
    case = await world.open(world.staff, IN_E)  # now held by both districts: the first found
    assert case["district_id"] in (world.areas["W"], world.areas["E"])


@pytest.mark.parametrize(
    ("feature", "field"),
    [
        (area("X", "x", "street", "nowhere", box(108.0, 22.6, 108.1, 22.7)), "properties.parent"),
        (area("X", "x", "county", "NN", box(108.0, 22.6, 108.1, 22.7)),
         "features[0].properties.level"),
        (area("X", "x", "city", "NN", box(108.0, 22.6, 108.1, 22.7)),
         "features[0].properties.parent"),
        (area("X", "x", "street", "W", {"type": "Point", "coordinates": [108.0, 22.6]}),
         "features[0].geometry"),
        (area("X", "x", "street", "W",
              {"type": "Polygon", "coordinates": [[[108, 22], [109, 23], [108, 23], [109, 22],
                                                   [108, 22]]]}),
         "features[0].geometry"),
        (area("", "x", "street", "W", box(108.0, 22.6, 108.1, 22.7)),
         "features[0].properties.code"),
        (area("W2", "x", "street", "W1", box(108.0, 22.6, 108.1, 22.7)), "properties.parent"),
        ({"type": "Feature"}, "features[0]"),
        (area("X", "x", "street", "W", {"type": "Polygon", "coordinates": [[[1, 2]]]}),
         "features[0].geometry.coordinates"),
        (area("X", "x", "street", "W", {"type": "Polygon", "coordinates": "no"}),
         "features[0].geometry.coordinates"),
        (area("X", "x", "street", "W", box(200.0, 22.6, 201.0, 22.7)),
         "features[0].geometry.coordinates"),
    ],
)  # fmt: skip
async def test_bad_areas_are_refused_with_the_field(
    world: World, feature: dict[str, Any], field: str
) -> None:
    body = {"type": "FeatureCollection", "features": [feature]}
    resp = await world.client.post("/api/v1/jurisdictions", json=body, headers=world.staff)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "bad_request"
    assert resp.json()["field"] == field


async def test_a_whole_city_may_be_larger_than_a_fence(world: World) -> None:
    big = {
        "type": "FeatureCollection",
        "features": [area("NN", "南宁市", "city", None, box(107.0, 22.0, 109.6, 24.0))],
    }
    resp = await world.client.post("/api/v1/jurisdictions", json=big, headers=world.staff)
    assert resp.status_code == 201, resp.text  # about 60,000 km²: more than any fence


async def test_only_admins_import_areas_and_units(world: World) -> None:
    officer = world.account("enforcement_officer")
    resp = await world.client.post("/api/v1/jurisdictions", json={"type": "FeatureCollection",
                                   "features": []}, headers=officer)  # fmt: skip
    assert resp.status_code == 403
    unit = {"code": "x", "name": "x", "kind": "transport", "jurisdiction_code": "NN"}
    assert (await world.client.post("/api/v1/units", json=unit, headers=officer)).status_code == 403
    listed = await world.client.get("/api/v1/units", headers=officer)
    assert {u["code"] for u in listed.json()["units"]} == {"um_w", "um_e", "tp", "so_w1"}
