from typing import Any

import pytest

from tracker.geofence import (
    CircleFence,
    CorridorFence,
    GeometryError,
    PolygonFence,
    fence_from_feature,
    fence_from_geojson,
)

SQUARE = [[9.0, 45.0], [9.01, 45.0], [9.01, 45.01], [9.0, 45.01], [9.0, 45.0]]


def _poly(rings: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": rings}


@pytest.mark.parametrize(
    ("geometry", "extra", "field", "words"),
    [
        (
            _poly([[[9.0, 45.0], [9.01, 45.01], [9.01, 45.0], [9.0, 45.01], [9.0, 45.0]]]),
            {},
            "geometry",
            "Self-intersection",
        ),
        (
            _poly([[[9.0, 45.0], [9.01, 45.0], [9.0, 45.0]]]),
            {},
            "geometry.coordinates[0]",
            "at least 4",
        ),
        (
            _poly([[[9.0, 45.0], [9.01, 45.0], [9.01, 45.01], [9.0, 45.01]]]),
            {},
            "geometry.coordinates[0]",
            "first position",
        ),
        (
            _poly([[[9.0, 95.0], [9.01, 45.0], [9.01, 45.01], [9.0, 95.0]]]),
            {},
            "geometry.coordinates[0][0]",
            "latitude",
        ),
        (
            _poly([[[189.0, 45.0], [9.01, 45.0], [9.01, 45.01], [189.0, 45.0]]]),
            {},
            "geometry.coordinates[0][0]",
            "longitude",
        ),
        (
            _poly([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]]),
            {},
            "geometry",
            "5000 km²",
        ),
        (
            {"type": "Point", "coordinates": [9.0, 45.0]},
            {"radius_m": 60_000},
            "radius_m",
            "at most",
        ),
        ({"type": "Point", "coordinates": [9.0, 45.0]}, {}, "radius_m", "required"),
        (
            {"type": "LineString", "coordinates": [[9.0, 45.0], [9.0, 45.0]]},
            {"half_width_m": 50},
            "geometry",
            "zero length",
        ),
        (
            {"type": "LineString", "coordinates": [[9.0, 45.0]]},
            {"half_width_m": 50},
            "geometry.coordinates",
            "at least 2",
        ),
        (
            {"type": "LineString", "coordinates": [[9.0, 45.0], [9.1, 45.0]]},
            {"half_width_m": -1},
            "half_width_m",
            "at least",
        ),
        (
            {"type": "Polygon", "coordinates": [[["a", 45.0]]]},
            {},
            "geometry.coordinates[0][0]",
            "number",
        ),
        ({"type": "GeometryCollection", "geometries": []}, {}, "geometry.type", "unsupported"),
    ],
)
def test_refuses_bad_geometry_with_a_message(
    geometry: dict[str, Any], extra: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(GeometryError) as err:
        fence_from_geojson("f", geometry, **extra)
    assert err.value.field == field
    assert words in err.value.message


def test_multipolygon_with_hole_and_round_trip() -> None:
    hole = [[9.002, 45.002], [9.004, 45.002], [9.004, 45.004], [9.002, 45.002]]
    far = [[c[0] + 0.1, c[1]] for c in SQUARE]
    geometry = {"type": "MultiPolygon", "coordinates": [[SQUARE, hole], [far]]}
    fence = fence_from_geojson("m", geometry, role="site")
    assert isinstance(fence, PolygonFence)
    again = fence_from_feature(fence.to_geojson())
    assert again.to_geojson() == fence.to_geojson()
    assert again.key == ("m", "polygon")


@pytest.mark.parametrize(
    ("geometry", "extra", "cls"),
    [
        ({"type": "Point", "coordinates": [9.0, 45.0]}, {"radius_m": 150.0}, CircleFence),
        (
            {"type": "LineString", "coordinates": [[9.0, 45.0], [9.1, 45.0]]},
            {"half_width_m": 40.0},
            CorridorFence,
        ),
    ],
)
def test_round_fences_round_trip(
    geometry: dict[str, Any], extra: dict[str, Any], cls: type
) -> None:
    fence = fence_from_geojson("r", geometry, **extra)
    assert isinstance(fence, cls)
    feature = fence.to_geojson()
    assert feature["geometry"] == geometry
    assert fence_from_feature(feature).to_geojson() == feature


def test_feature_needs_an_id() -> None:
    with pytest.raises(GeometryError, match="id"):
        fence_from_feature({"type": "Feature", "geometry": _poly([SQUARE]), "properties": {}})
