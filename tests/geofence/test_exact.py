"""The pure-Python and vectorised exact tests agree with GEOS, also on and next to edges."""

from __future__ import annotations

import numpy as np
import shapely

from tracker.geofence import CircleFence, CorridorFence, PolygonFence
from tracker.geofence.exact_many import ManyTests
from tracker.geofence.projection import LocalProjection

PROJ = LocalProjection.around(9.19, 45.46)


def lonlat(xy: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x / PROJ.kx + PROJ.lon0, y / PROJ.ky + PROJ.lat0) for x, y in xy]


def near(points: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The points, points a hair (1e-12 to 1e-7 degrees) off them, and random ones nearby."""
    offsets = np.array([0.0, 1e-12, -1e-12, 1e-9, -1e-9, 1e-7, -1e-7])
    lons = (points[:, :1] + offsets[None, :]).ravel()
    lats = np.repeat(points[:, 1], offsets.size)
    lo, hi = points.min(axis=0) - 1e-3, points.max(axis=0) + 1e-3
    cloud = rng.uniform(lo, hi, size=(3000, 2))
    return np.r_[lons, points[:, 0], cloud[:, 0]], np.r_[lats, points[:, 1] + 1e-12, cloud[:, 1]]


def test_polygon_ring_test_matches_geos() -> None:
    shell = lonlat([(0, 0), (300, 0), (300, 200), (150, 80), (0, 200)])
    hole = lonlat([(100, 20), (200, 20), (150, 60)])
    fence = PolygonFence("p", shapely.Polygon(shell, [hole]))
    edges = shapely.segmentize(fence.geom.boundary, 1e-4)
    lons, lats = near(shapely.get_coordinates(edges), np.random.default_rng(1))
    truth = shapely.intersects_xy(fence.geom, lons, lats)
    mine = [fence.covers_xy(x, y) for x, y in zip(lons.tolist(), lats.tolist(), strict=True)]
    assert mine == truth.tolist()


def test_corridor_and_circle_tests_match_geos() -> None:
    line = lonlat([(0, 0), (900, 0), (900, 700), (20, 60)])  # sharp turn, comes back
    corridor = CorridorFence("c", shapely.LineString(line), 35.0)
    circle = CircleFence("r", *lonlat([(400, 300)])[0], 120.0)
    rims = [corridor.lonlat_shape(0.0).exterior, circle.lonlat_shape(0.0).exterior]
    points = np.concatenate([shapely.get_coordinates(r) for r in rims])
    lons, lats = near(points, np.random.default_rng(2))
    tests = ManyTests((corridor, circle))
    for idx, fence in enumerate((corridor, circle)):
        truth = fence.covers_many(lons, lats)
        scalar = [fence.covers_xy(x, y) for x, y in zip(lons.tolist(), lats.tolist(), strict=True)]
        assert scalar == truth.tolist()
        fix = np.arange(lons.size)
        many = tests.covers(fix, np.full(lons.size, idx), lons, lats)
        assert many.tolist() == truth.tolist()


def test_segment_grid_ring_search_gives_the_line_distance_or_declines() -> None:
    """Far from a corridor (beyond its grid's reach), the ring search finds GEOS's distance to
    within rounding whenever it answers, and declines only beyond its rings."""
    rng = np.random.default_rng(5)
    walk = np.cumsum(rng.normal(0, 150, size=(60, 2)), axis=0)  # sharp turns, self-approaches
    line = shapely.LineString(lonlat([(float(x), float(y)) for x, y in walk]))
    fence = CorridorFence("c", line, 40.0)
    lo, hi = walk.min(axis=0) - 2500, walk.max(axis=0) + 2500
    answered = 0
    for x, y in rng.uniform(lo, hi, size=(4000, 2)).tolist():
        ((lon, lat),) = lonlat([(x, y)])
        fx, fy = fence.projection.xy(lon, lat)
        found = fence.grid.search_m(fx, fy, rings=2)
        truth = fence.distance_m(lon, lat)
        if found is None:
            assert truth > 500.0  # all within (rings - 1) squares is settled
            continue
        answered += 1
        assert abs(found - truth) < 1e-6
    assert answered > 800


def test_polygon_segment_test_matches_geos() -> None:
    """Random segments, segments through and to vertices, along edges and a hair off them,
    against a concave polygon with a hole and a multipolygon."""
    rng = np.random.default_rng(9)
    shell = lonlat([(0, 0), (300, 0), (300, 200), (150, 80), (0, 200)])
    hole = lonlat([(100, 20), (200, 20), (150, 60)])
    far = lonlat([(500, 500), (600, 500), (550, 600)])
    fences = [
        PolygonFence("p", shapely.Polygon(shell, [hole])),
        PolygonFence("m", shapely.MultiPolygon([shapely.Polygon(shell), shapely.Polygon(far)])),
    ]
    vertices = np.array(shell + hole + far)
    cases = []
    for _ in range(3000):
        a, b = lonlat([tuple(p) for p in rng.uniform(-100, 700, size=(2, 2)).tolist()])
        cases.append((*a, *b))
    for _ in range(1500):
        v, w = vertices[rng.integers(len(vertices), size=2)]
        t = rng.choice([0.0, 1.0, 0.5, rng.uniform(-1, 2)])
        hair = rng.choice([0.0, 1e-12, -1e-9, 1e-7])
        start = v + t * (w - v)  # on the line through two vertices, maybe on an edge
        end = lonlat([tuple(rng.uniform(-100, 700, size=2).tolist())])[0]
        cases.append((start[0] + hair, start[1], *(w if rng.random() < 0.3 else end)))
    for fence in fences:
        disagree = [
            c for c in cases if fence.intersects_segment(*c) != fence._geos_intersects_segment(*c)
        ]
        assert disagree == []
