"""GeoJSON (RFC 7946, lon/lat) in, validated fences out.

Polygons come as ``Polygon``/``MultiPolygon``, circles as a ``Point`` with ``radius_m``, corridors
as a ``LineString`` with ``half_width_m``. Anything odd is refused with a :class:`GeometryError`
naming the field and saying what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import shapely

from tracker.geofence.errors import GeometryError
from tracker.geofence.fences import CircleFence, CorridorFence, Fence, PolygonFence
from tracker.geofence.projection import MAX_ABS_LAT, LocalProjection

MAX_AREA_M2 = 5_000e6
MAX_RADIUS_M = 50_000.0
MAX_HALF_WIDTH_M = 5_000.0
MAX_LENGTH_M = 1_000_000.0
MIN_SIZE_M = 0.5  # below this a fence is a typo, not a place


# arrays around a position in each geometry's ``coordinates``
_NESTING = {"Point": 0, "LineString": 1, "Polygon": 2, "MultiPolygon": 3}
_MEMBERS = frozenset({"type", "coordinates", "bbox"})


def count_positions(geometry: Any, field: str = "geometry", most: int | None = None) -> int:
    """The positions of a GeoJSON geometry, counted by walking its arrays only (cheap: no
    number is read and no shape is built), so a size cap can be applied before any geometry
    work. Refuses what is not shaped like its type, and members other than ``type``,
    ``coordinates`` and a flat ``bbox``, so nothing nests deeper than the type allows; and more
    than ``most`` positions."""
    if not isinstance(geometry, dict):
        raise GeometryError(field, "expected a GeoJSON geometry object")
    gtype = geometry.get("type")
    nesting = _NESTING.get(gtype) if isinstance(gtype, str) else None
    if nesting is None:
        raise GeometryError(f"{field}.type", f"unsupported type {gtype!r}")
    foreign = sorted(str(k) for k in geometry if k not in _MEMBERS)
    if foreign:
        raise GeometryError(f"{field}.{foreign[0]}", f"unknown member(s): {', '.join(foreign)}")
    bbox = geometry.get("bbox")
    flat = isinstance(bbox, list) and len(bbox) in (4, 6) and not any(map(_nested, bbox))
    if bbox is not None and not flat:
        raise GeometryError(f"{field}.bbox", "a bbox is a flat array of 4 or 6 numbers")
    level: list[Any] = [geometry.get("coordinates")]
    for _ in range(nesting):
        items: list[Any] = []
        for node in level:
            if not isinstance(node, list):
                raise GeometryError(f"{field}.coordinates", f"not the arrays of a {gtype}")
            items.extend(node)
        level = items
    if most is not None and len(level) > most:
        raise GeometryError(
            f"{field}.coordinates", f"{len(level)} positions: at most {most} per fence"
        )
    for position in level:
        if not (isinstance(position, list) and 2 <= len(position) <= 3) or any(
            map(_nested, position)
        ):
            raise GeometryError(f"{field}.coordinates", "a position is [lon, lat]")
    return len(level)


def _nested(value: Any) -> bool:
    return isinstance(value, list | dict)


def fence_from_feature(feature: dict[str, Any]) -> Fence:
    """Build a fence from a GeoJSON Feature as written by :meth:`Fence.to_geojson`."""
    if feature.get("type") != "Feature":
        raise GeometryError("type", "expected a GeoJSON Feature")
    props = feature.get("properties") or {}
    fence_id = feature.get("id")
    if not isinstance(fence_id, str | int) or isinstance(fence_id, bool):
        raise GeometryError("id", "a Feature needs a string or integer id")
    return fence_from_geojson(
        str(fence_id),
        feature.get("geometry"),
        radius_m=props.get("radius_m"),
        half_width_m=props.get("half_width_m"),
        role=str(props.get("role", "")),
    )


def fence_from_geojson(
    fence_id: str,
    geometry: Any,
    *,
    radius_m: float | None = None,
    half_width_m: float | None = None,
    role: str = "",
) -> Fence:
    if not isinstance(geometry, dict):
        raise GeometryError("geometry", "expected a GeoJSON geometry object")
    gtype = geometry.get("type")
    coords = geometry.get("coordinates")
    if gtype in ("Polygon", "MultiPolygon"):
        return PolygonFence(fence_id, _polygon(gtype, coords), role)
    if gtype == "Point":
        lon, lat = _position(coords, "geometry.coordinates")
        radius = _positive(radius_m, "radius_m", MAX_RADIUS_M)
        return CircleFence(fence_id, lon, lat, radius, role)
    if gtype == "LineString":
        return _corridor(fence_id, coords, half_width_m, role)
    raise GeometryError("geometry.type", f"unsupported type {gtype!r}")


def _polygon(gtype: str, coords: Any) -> shapely.Geometry:
    parts = [coords] if gtype == "Polygon" else _seq(coords, "geometry.coordinates")
    if not parts:
        raise GeometryError("geometry.coordinates", "a MultiPolygon needs at least one polygon")
    polys = []
    for p, rings in enumerate(parts):
        field = "geometry.coordinates" + ("" if gtype == "Polygon" else f"[{p}]")
        rings = _seq(rings, field)
        if not rings:
            raise GeometryError(field, "a polygon needs an exterior ring")
        checked = [_ring(r, f"{field}[{i}]") for i, r in enumerate(rings)]
        polys.append(shapely.Polygon(checked[0], checked[1:]))
    geom = polys[0] if gtype == "Polygon" else shapely.MultiPolygon(polys)
    if not shapely.is_valid(geom):
        reason = shapely.is_valid_reason(geom)
        raise GeometryError("geometry", f"invalid polygon: {reason}")
    _check_polygon_size(geom)
    return geom


def _check_polygon_size(geom: shapely.Geometry) -> None:
    minx, miny, maxx, maxy = geom.bounds
    proj = LocalProjection.around((minx + maxx) / 2, (miny + maxy) / 2)
    metric = proj.to_metric(geom)
    if metric.area > MAX_AREA_M2:
        raise GeometryError("geometry", f"area {metric.area / 1e6:.0f} km² exceeds 5000 km²")
    if math.sqrt(metric.area) < MIN_SIZE_M:
        raise GeometryError("geometry", "polygon is degenerate (area about zero)")
    if (maxx - minx) > 10 or (maxy - miny) > 10:
        raise GeometryError("geometry", "polygon spans more than 10 degrees")


def _corridor(fence_id: str, coords: Any, half_width_m: float | None, role: str) -> Fence:
    points = [
        _position(c, f"geometry.coordinates[{i}]")
        for i, c in enumerate(_seq(coords, "geometry.coordinates"))
    ]
    if len(points) < 2:
        raise GeometryError("geometry.coordinates", "a LineString needs at least 2 positions")
    half_width = _positive(half_width_m, "half_width_m", MAX_HALF_WIDTH_M)
    line = shapely.LineString(points)
    minx, miny, maxx, maxy = line.bounds
    if (maxx - minx) > 10 or (maxy - miny) > 10:
        raise GeometryError("geometry", "corridor spans more than 10 degrees")
    fence = CorridorFence(fence_id, line, half_width, role)
    if fence.line_m.length < MIN_SIZE_M:
        raise GeometryError("geometry", "corridor has zero length")
    if fence.line_m.length > MAX_LENGTH_M:
        raise GeometryError("geometry", "corridor is longer than 1000 km")
    return fence


def _ring(ring: Any, field: str) -> list[tuple[float, float]]:
    points = [_position(c, f"{field}[{i}]") for i, c in enumerate(_seq(ring, field))]
    if len(points) < 4:
        raise GeometryError(field, f"a linear ring needs at least 4 positions, got {len(points)}")
    if points[0] != points[-1]:
        raise GeometryError(field, "a linear ring must end at its first position")
    if len(set(points)) < 3:
        raise GeometryError(field, "a linear ring needs at least 3 distinct positions")
    return points


def _position(value: Any, field: str) -> tuple[float, float]:
    seq = _seq(value, field)
    if len(seq) not in (2, 3):
        raise GeometryError(field, "a position is [lon, lat] (optionally with altitude)")
    lon, lat = _number(seq[0], field), _number(seq[1], field)
    if not -180.0 <= lon <= 180.0:
        raise GeometryError(field, f"longitude {lon} out of range [-180, 180]")
    if not -MAX_ABS_LAT <= lat <= MAX_ABS_LAT:
        raise GeometryError(field, f"latitude {lat} out of range [-{MAX_ABS_LAT}, {MAX_ABS_LAT}]")
    return lon, lat


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GeometryError(field, f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise GeometryError(field, "coordinates must be finite")
    return float(value)


def _positive(value: Any, field: str, maximum: float) -> float:
    if value is None:
        raise GeometryError(field, "is required")
    number = _number(value, field)
    if number < MIN_SIZE_M:
        raise GeometryError(field, f"must be at least {MIN_SIZE_M} m, got {number}")
    if number > maximum:
        raise GeometryError(field, f"must be at most {maximum:.0f} m, got {number}")
    return number


def _seq(value: Any, field: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise GeometryError(field, "expected an array")
    return value
