"""Property tests: the index answers exactly as shapely does on the original geometry."""

from __future__ import annotations

import math

import numpy as np
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tracker.geofence import CircleFence, CorridorFence, Fence, GeofenceIndex, PolygonFence
from tracker.geofence.projection import LocalProjection

LON0, LAT0 = 9.19, 45.46
PROJ = LocalProjection.around(LON0, LAT0)
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def oracle(fence: Fence, lon: float, lat: float) -> bool:
    """The definitions, written with shapely independently of the engine's code paths."""
    if isinstance(fence, PolygonFence):
        return bool(fence.geom.intersects(shapely.Point(lon, lat)))
    proj = fence.projection
    point = shapely.Point(*proj.xy(lon, lat))
    if isinstance(fence, CircleFence):
        return bool(shapely.distance(shapely.Point(0.0, 0.0), point) <= fence.radius_m)
    assert isinstance(fence, CorridorFence)
    line = shapely.LineString([proj.xy(x, y) for x, y in fence.line.coords])
    return bool(shapely.distance(line, point) <= fence.half_width_m)


def star(draw: st.DrawFn, cx: float, cy: float, across_m: float) -> list[tuple[float, float]]:
    k = draw(st.integers(3, 12))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi), min_size=k, max_size=k, unique=True)))
    radii = draw(st.lists(st.floats(0.2, 1.0), min_size=k, max_size=k))
    return [
        (cx + across_m / 2 * r * math.cos(a), cy + across_m / 2 * r * math.sin(a))
        for a, r in zip(angles, radii, strict=True)
    ]


def to_lonlat(xy: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x / PROJ.kx + LON0, y / PROJ.ky + LAT0) for x, y in xy]


@st.composite
def polygons(draw: st.DrawFn) -> Fence:
    across = draw(st.sampled_from([3.0, 12.0, 80.0, 400.0, 1500.0, 4500.0]))
    shell = shapely.Polygon(star(draw, 0, 0, across))
    holes = []
    if draw(st.booleans()):
        holes.append(star(draw, 0, 0, across * 0.25))
    poly = shapely.Polygon(shell.exterior.coords, holes)
    if not poly.is_valid or (holes and not shell.contains(shapely.Polygon(holes[0]))):
        poly = shell
    if not poly.is_valid:
        poly = shapely.convex_hull(shell)
    geom = shapely.Polygon(
        to_lonlat(list(poly.exterior.coords)), [to_lonlat(list(r.coords)) for r in poly.interiors]
    )
    assume(geom.is_valid)  # rounding to lon/lat can spoil it; such input is refused upstream
    return PolygonFence(f"p{draw(st.integers(0, 10**6))}", geom)


@st.composite
def corridors(draw: st.DrawFn) -> Fence:
    n = draw(st.integers(2, 8))
    heading, xy = draw(st.floats(0, 2 * math.pi)), [(0.0, 0.0)]
    for _ in range(n - 1):
        heading += draw(st.floats(-3.1, 3.1))  # sharp turns, lines that come back on themselves
        step = draw(st.floats(20.0, 2000.0))
        xy.append((xy[-1][0] + step * math.cos(heading), xy[-1][1] + step * math.sin(heading)))
    half_width = draw(st.sampled_from([2.0, 30.0, 55.0, 100.0]))
    return CorridorFence(
        f"c{draw(st.integers(0, 10**6))}", shapely.LineString(to_lonlat(xy)), half_width
    )


@st.composite
def circles(draw: st.DrawFn) -> Fence:
    radius = draw(st.sampled_from([1.5, 40.0, 700.0, 2500.0]))
    ((lon, lat),) = to_lonlat([(draw(st.floats(-500, 500)), draw(st.floats(-500, 500)))])
    return CircleFence(f"r{draw(st.integers(0, 10**6))}", lon, lat, radius)


def probe_points(fence: Fence, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random points around the fence, its vertices (exactly on edges) and points a hair off."""
    minx, miny, maxx, maxy = fence.lonlat_shape(30.0).bounds
    lons = list(rng.uniform(minx, maxx, 800))
    lats = list(rng.uniform(miny, maxy, 800))
    edge = (
        fence.geom.boundary if isinstance(fence, PolygonFence) else fence.lonlat_shape(0.0).boundary
    )
    for x, y in shapely.get_coordinates(edge)[:200]:
        for dx, dy in ((0, 0), (1e-9, 0), (-1e-9, 0), (0, 1e-9), (0, -1e-9)):
            lons.append(x + dx)
            lats.append(y + dy)
    return np.array(lons), np.array(lats)


def check(fences: list[Fence], seed: int) -> None:
    index = GeofenceIndex(fences, workers=1)
    rng = np.random.default_rng(seed)
    for fence in fences:
        lons, lats = probe_points(fence, rng)
        batch = index.containing_many(lons, lats)
        for i, (lon, lat) in enumerate(zip(lons.tolist(), lats.tolist(), strict=True)):
            truth = sorted(f.key for f in fences if oracle(f, lon, lat))
            assert sorted(index.containing(lon, lat)) == truth, (lon, lat)
            assert sorted(batch.keys_of(i)) == truth, (lon, lat)


@SETTINGS
@given(
    st.lists(polygons(), min_size=1, max_size=3, unique_by=lambda f: f.fence_id),
    st.integers(0, 2**32),
)
def test_polygons_agree_with_shapely(fences: list[Fence], seed: int) -> None:
    check(fences, seed)


@SETTINGS
@given(
    st.lists(corridors(), min_size=1, max_size=3, unique_by=lambda f: f.fence_id),
    st.integers(0, 2**32),
)
def test_corridors_agree_with_shapely(fences: list[Fence], seed: int) -> None:
    check(fences, seed)


@SETTINGS
@given(
    st.lists(
        circles() | polygons() | corridors(), min_size=2, max_size=4, unique_by=lambda f: f.fence_id
    ),
    st.integers(0, 2**32),
)
def test_mixed_fences_agree_with_shapely(fences: list[Fence], seed: int) -> None:
    check(fences, seed)
