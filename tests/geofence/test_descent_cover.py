"""Covers by descent (cover.descent_covers) against the fill method and the exact fence tests,
and the offset tables of cell centres (centres.py) against h3's own centres."""

from __future__ import annotations

import math

import numpy as np
import shapely
from h3.api import basic_int as h3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.geo import M_PER_DEG
from tracker.geofence import CircleFence, CorridorFence, Fence, PolygonFence
from tracker.geofence.cells import QUERY_RES, descendants_at, resolution_of
from tracker.geofence.centres import (
    CENTRE_TOL_M,
    GROUP_RES,
    child_centres,
    exact_centres,
    tables_of,
)
from tracker.geofence.cover import covers_of, descent_covers, fill_cover_of
from tracker.geofence.projection import LocalProjection

PROJ = LocalProjection.around(9.19, 45.46)
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lonlat(xy: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x / PROJ.kx + PROJ.lon0, y / PROJ.ky + PROJ.lat0) for x, y in xy]


def star(draw: st.DrawFn, cx: float, cy: float, across_m: float) -> shapely.Polygon:
    k = draw(st.integers(3, 12))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi), min_size=k, max_size=k, unique=True)))
    radii = draw(st.lists(st.floats(0.2, 1.0), min_size=k, max_size=k))
    ring = [
        (cx + across_m / 2 * r * math.cos(a), cy + across_m / 2 * r * math.sin(a))
        for a, r in zip(angles, radii, strict=True)
    ]
    poly = shapely.Polygon(ring)
    return poly if poly.is_valid else shapely.convex_hull(poly)


@st.composite
def descent_fences(draw: st.DrawFn) -> Fence:
    """Circles, corridors with sharp turns, and polygons (concave, with a hole, or two parts)."""
    kind = draw(st.integers(0, 5))
    if kind == 5:
        across = draw(st.sampled_from([4.0, 60.0, 400.0, 3000.0]))
        shell = star(draw, 0.0, 0.0, across)
        geom: shapely.Geometry = shell
        if draw(st.booleans()):
            hole = star(draw, 0.0, 0.0, across * 0.3)
            if shell.contains(hole):
                geom = shapely.Polygon(shell.exterior.coords, [hole.exterior.coords])
        if draw(st.booleans()):
            geom = shapely.MultiPolygon([geom, star(draw, across * 2, 0.0, across)])
        geom = shapely.transform(geom, lambda xy: np.array(lonlat([tuple(p) for p in xy])))
        if not geom.is_valid:
            geom = shapely.convex_hull(geom)
        return PolygonFence("p", geom)
    if kind == 0:
        x, y = draw(st.floats(-3000, 3000)), draw(st.floats(-3000, 3000))
        radius = draw(st.sampled_from([1.0, 35.0, 400.0, 2500.0]))
        return CircleFence("r", *lonlat([(x, y)])[0], radius)
    heading, xy = draw(st.floats(0, 2 * math.pi)), [(0.0, 0.0)]
    for _ in range(draw(st.integers(1, 9))):
        heading += draw(st.floats(-3.14, 3.14))  # sharp turns and U-turns
        step = draw(st.floats(5.0, 3000.0))
        xy.append((xy[-1][0] + step * math.cos(heading), xy[-1][1] + step * math.sin(heading)))
    half_width = draw(st.sampled_from([1.0, 30.0, 64.5, 100.0, 400.0]))
    return CorridorFence("c", shapely.LineString(lonlat(xy)), half_width)


def res12(cells: np.ndarray) -> set[int]:
    return set(descendants_at(cells, QUERY_RES).tolist()) if cells.size else set()


def any_point_inside(fence: Fence, cells: list[int]) -> np.ndarray:
    """Per cell: whether its centre or a vertex is in the fence."""
    if not cells:
        return np.zeros(0)
    lons, lats, owner = [], [], []
    for i, cell in enumerate(cells):
        for lat, lon in (h3.cell_to_latlng(cell), *h3.cell_to_boundary(cell)):
            lons.append(lon)
            lats.append(lat)
            owner.append(i)
    inside = fence.covers_many(np.array(lons), np.array(lats))
    return np.bincount(np.array(owner), weights=inside.astype(np.float64), minlength=len(cells))


@SETTINGS
@given(descent_fences(), st.integers(0, 2**32))
def test_descent_cover_is_exact_and_no_bigger_than_the_fill_cover(fence: Fence, seed: int) -> None:
    assert_exact_cover(fence, seed)


def test_corridor_that_retraces_itself_is_covered() -> None:
    """A route out and back on the same road (exact U-turns): GEOS buffers of such lines come
    out too small at large distances, so the start cells must not come from one."""
    xy = [(422, -364), (439, 394), (416, 1270), (390, 2011), (-424, 1977), (-374, 1207)]
    xy += [(-341, 429), (-424, -345), (-304, -1145), (-439, -2011), (-304, -1145), (-424, -345)]
    xy += [(-341, 429), (-374, 1207), (416, 1270), (439, 394), (422, -364)]
    line = shapely.LineString(lonlat([(float(x), float(y)) for x, y in xy]))
    fence = CorridorFence("uturns", line, 92.3)
    assert_exact_cover(fence, 5)
    (cover,) = descent_covers([fence])
    assert cover is not None
    covered = res12(cover.interior) | set(cover.boundary.tolist())
    on_line = shapely.get_coordinates(shapely.segmentize(line, 1e-4))
    assert all(h3.latlng_to_cell(la, lo, QUERY_RES) in covered for lo, la in on_line)


def assert_exact_cover(fence: Fence, seed: int) -> None:
    (new,) = descent_covers([fence])
    assert new is not None
    old = fill_cover_of(fence)
    assert set(resolution_of(new.boundary).tolist()) <= {QUERY_RES}
    assert new.interior.size == 0 or resolution_of(new.interior).min() >= 7
    inner, edge = res12(new.interior), set(new.boundary.tolist())
    assert not inner & edge
    rng = np.random.default_rng(seed)
    # Interior cells lie wholly inside: centre and vertices (a sample of them).
    sample = sorted(inner)
    if len(sample) > 1500:
        sample = rng.choice(np.array(sample, dtype=np.uint64), 1500, replace=False).tolist()
    counts = any_point_inside(fence, sample)
    assert (counts == 7).all()
    # Cells the fill method keeps but the descent drops have no point in the fence.
    dropped = sorted((res12(old.interior) | set(old.boundary.tolist())) - inner - edge)
    if dropped:
        assert not any_point_inside(fence, dropped).any()
    # Random points near the fence: the cover's verdict never contradicts the exact test.
    minx, miny, maxx, maxy = fence.lonlat_shape(60.0).bounds
    if isinstance(fence, PolygonFence):  # edges of polygons: on them, and a hair off
        on_edge = shapely.get_coordinates(shapely.segmentize(fence.geom.boundary, 1e-5))[:1000]
        jitter = rng.normal(0.0, 2e-7, size=on_edge.shape)
        extra_lons, extra_lats = np.r_[on_edge, on_edge + jitter].T
    else:
        extra_lons = extra_lats = np.zeros(0)
    lons = np.r_[rng.uniform(minx, maxx, 3000), extra_lons]
    lats = np.r_[rng.uniform(miny, maxy, 3000), extra_lats]
    truth = fence.covers_many(lons, lats)
    cells = [h3.latlng_to_cell(la, lo, QUERY_RES) for lo, la in zip(lons, lats, strict=True)]
    for cell, inside in zip(cells, truth.tolist(), strict=True):
        if cell in inner:
            assert inside
        elif cell not in edge:
            assert not inside
    # The band left for exact tests is no wider than the fill method's.
    assert len(edge) <= 1.05 * old.boundary.size + 30


def test_batched_covers_equal_single_ones_and_keep_order() -> None:
    fences: list[Fence] = [
        CorridorFence("a", shapely.LineString(lonlat([(0, 0), (900, 40), (880, -700)])), 40.0),
        PolygonFence("p", shapely.Polygon(lonlat([(0, 0), (300, 0), (300, 200), (0, 200)]))),
        CircleFence("c", *lonlat([(-500.0, 300.0)])[0], 150.0),
        CorridorFence("b", shapely.LineString(lonlat([(-900, 0), (-900, 900)])), 75.0),
    ] * 5
    together = covers_of(fences, workers=2)
    assert [c.fence for c in together] == fences
    for cover, fence in zip(together, fences, strict=True):
        (alone,) = covers_of([fence], workers=1)
        assert np.array_equal(np.sort(cover.interior), np.sort(alone.interior))
        assert np.array_equal(np.sort(cover.boundary), np.sort(alone.boundary))


def test_round_fences_near_a_pentagon_fall_back_to_fills() -> None:
    pentagon = next(c for c in h3.get_pentagons(5))
    lat, lon = h3.cell_to_latlng(pentagon)
    fence = CircleFence("pent", lon, lat, 300.0)
    assert descent_covers([fence]) == [None]
    (cover,) = covers_of([fence], workers=1)
    assert cover.boundary.size > 0  # the fill method's cover
    lats, lons = np.array([lat]), np.array([lon])
    assert fence.covers_many(lons, lats).all()


def random_groups(rng: np.random.Generator, n: int) -> np.ndarray:
    lats = np.degrees(np.arcsin(rng.uniform(-math.sin(math.radians(85)), 0.996, n)))
    lons = rng.uniform(-180, 180, n)
    cells = [h3.latlng_to_cell(la, lo, GROUP_RES) for la, lo in zip(lats, lons, strict=True)]
    return np.unique(np.array(cells, dtype=np.uint64))


def test_table_centres_are_within_tolerance_of_h3_everywhere() -> None:
    """Through three levels of offsets (accumulated), on groups all over the globe."""
    groups = random_groups(np.random.default_rng(11), 400)
    _, valid = tables_of(groups)
    assert valid.mean() > 0.9  # pentagons and face edges are rare
    cells = groups[valid]
    lons, lats = exact_centres(cells)
    worst = 0.0
    for res in range(GROUP_RES + 1, QUERY_RES + 1):
        cells, lons, lats, known = child_centres(cells, lons, lats, res)
        assert known.all()
        true_lons, true_lats = exact_centres(cells)
        dx = (lons - true_lons) * np.cos(np.radians(true_lats)) * M_PER_DEG
        dy = (lats - true_lats) * M_PER_DEG
        worst = max(worst, float(np.hypot(dx, dy).max()))
    assert 0.0 < worst <= CENTRE_TOL_M / 2


def test_groups_on_two_faces_or_in_pentagons_have_no_table() -> None:
    edge_groups = []
    for area in h3.get_res0_cells():
        if len(h3.get_icosahedron_faces(area)) < 2 or h3.is_pentagon(area):
            continue
        for cell in h3.cell_to_children(area, 4):
            if len(h3.get_icosahedron_faces(cell)) > 1:
                deep = cell
                while h3.get_resolution(deep) < GROUP_RES:
                    kids = [
                        k for k in h3.cell_to_children(deep) if len(h3.get_icosahedron_faces(k)) > 1
                    ]
                    deep = kids[0]
                edge_groups.append(deep)
                break
        if len(edge_groups) >= 5:
            break
    pentagon_groups = [h3.cell_to_center_child(p, GROUP_RES) for p in h3.get_pentagons(0)[:3]]
    groups = np.unique(np.array(edge_groups + pentagon_groups, dtype=np.uint64))
    _, valid = tables_of(groups)
    assert len(edge_groups) == 5
    assert not valid.any()
