"""The fast paths against plain references: H3 bit arithmetic against the h3 library, the dense
cell table against a dict, chunked and threaded batches against single lookups, the vectorised
exact tests and cover distances against GEOS, and covers refined to ``QUERY_RES``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from h3.api import basic_int as h3

from tracker.geofence import CircleFence, CorridorFence, Fence, GeofenceIndex, PolygonFence, batch
from tracker.geofence.cells import (
    BUCKET_RES,
    QUERY_RES,
    parent_masks,
    parents,
    ragged_ranges,
    resolution_of,
    slots_of,
)
from tracker.geofence.cover import _segment_distance_m, cover_of
from tracker.geofence.dense import ANCHOR_RES, DenseCells
from tracker.geofence.exact_many import ManyTests
from tracker.geofence.projection import LocalProjection
from tracker.geofence.rows import sorted_rows

PROJ = LocalProjection.around(9.19, 45.46)


def lonlat(xy: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x / PROJ.kx + PROJ.lon0, y / PROJ.ky + PROJ.lat0) for x, y in xy]


def random_cells(rng: np.random.Generator, n: int, res: int = 15) -> list[int]:
    """Cells all over the globe (pentagons' neighbourhoods included by chance)."""
    lats = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lons = rng.uniform(-180, 180, n)
    return [h3.latlng_to_cell(lat, lon, res) for lat, lon in zip(lats, lons, strict=True)]


def test_bit_arithmetic_parents_match_h3_at_all_resolutions() -> None:
    rng = np.random.default_rng(3)
    for child_res in (15, QUERY_RES, 9):
        cells = random_cells(rng, 300, child_res)
        array = np.array(cells, dtype=np.uint64)
        assert resolution_of(array).tolist() == [child_res] * len(cells)
        for res in range(0, child_res + 1):
            want = [h3.cell_to_parent(c, res) for c in cells]
            assert parents(array, res).tolist() == want
            and_mask, or_mask = parent_masks(res)
            assert [(c & and_mask) | or_mask for c in cells] == want


def test_dense_table_matches_leaf_then_bucket_then_empty() -> None:
    rng = np.random.default_rng(4)
    lons, lats = rng.uniform(9.0, 9.4, 5000), rng.uniform(45.3, 45.6, 5000)
    far_lons, far_lats = rng.uniform(-60, 60, 200), rng.uniform(-60, 60, 200)
    cells = np.array(
        [h3.latlng_to_cell(la, lo, QUERY_RES) for lo, la in zip(lons, lats, strict=True)],
        dtype=np.uint64,
    )
    far = np.array(
        [h3.latlng_to_cell(la, lo, QUERY_RES) for lo, la in zip(far_lons, far_lats, strict=True)],
        dtype=np.uint64,
    )
    leaves = np.unique(cells[: cells.size // 3])
    leaf_entry = rng.integers(0, 50, leaves.size)
    buckets = np.unique(parents(cells[cells.size // 2 :], BUCKET_RES))
    bucket_entry = rng.integers(0, 50, buckets.size)
    empty = 99
    dense = DenseCells.build(leaves, leaf_entry, buckets, bucket_entry, empty)
    by_leaf = dict(zip(leaves.tolist(), leaf_entry.tolist(), strict=True))
    by_bucket = dict(zip(buckets.tolist(), bucket_entry.tolist(), strict=True))
    queries = np.r_[cells, far]
    want = [
        by_leaf.get(c, by_bucket.get(b, empty))
        for c, b in zip(queries.tolist(), parents(queries, BUCKET_RES).tolist(), strict=True)
    ]
    assert dense.entries(queries).tolist() == want
    assert dense.anchors.size == np.unique(parents(np.r_[leaves, buckets], ANCHOR_RES)).size
    empty_table = DenseCells.build(leaves[:0], leaf_entry[:0], buckets[:0], bucket_entry[:0], 7)
    assert empty_table.entries(queries).tolist() == [7] * queries.size
    assert slots_of(leaves).max() < 512


def city() -> list[Fence]:
    shell = lonlat([(0, 0), (900, 0), (900, 700), (450, 300), (0, 700)])
    hole = lonlat([(300, 50), (600, 50), (450, 200)])
    many = lonlat(
        [(1500 + 400 * math.cos(a), 200 + 300 * math.sin(a)) for a in np.linspace(0, 6.2, 300)]
    )
    return [
        PolygonFence("p", shapely.Polygon(shell, [hole])),
        PolygonFence("many", shapely.Polygon(many)),  # 300 vertices: banded ring test
        CircleFence("r", *lonlat([(400, 300)])[0], 2500.0),  # coarse cover, refined edge
        CorridorFence(
            "c",
            shapely.LineString(lonlat([(-800, -500), (2500, -400), (2500, 900), (-300, 200)])),
            45.0,
        ),
    ]


def test_batch_chunks_and_threads_agree_with_single_lookups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fences = city()
    index = GeofenceIndex(fences, workers=2)
    rng = np.random.default_rng(5)
    (lo_lon, lo_lat), (hi_lon, hi_lat) = lonlat([(-3000, -3000), (3500, 3500)])
    lons, lats = rng.uniform(lo_lon, hi_lon, 4000), rng.uniform(lo_lat, hi_lat, 4000)
    single = [sorted(index.containing(x, y)) for x, y in zip(lons, lats, strict=True)]
    assert sum(1 for s in single if s) > 500  # the fences are hit, and often
    monkeypatch.setattr(batch, "CHUNK", 333)  # many chunks, one of them short
    table = index._snapshot.batch_table()
    for workers in (1, 2):
        result = table.containing_many(lons, lats, workers=workers)
        assert [sorted(result.keys_of(i)) for i in range(lons.size)] == single
    empty = index.containing_many(lons[:0], lats[:0])
    assert empty.entry.size == 0
    assert empty.pairs()[0].size == 0


def test_many_tests_match_each_fence_own_test() -> None:
    fences = city()
    tests = ManyTests(tuple(fences))
    rng = np.random.default_rng(6)
    edges = [f.geom.boundary if isinstance(f, PolygonFence) else f.lonlat_shape(0.0).exterior
             for f in fences]  # fmt: skip
    points = np.concatenate([shapely.get_coordinates(e) for e in edges])
    moved = points + rng.normal(0, 2e-5, points.shape)
    lons, lats = np.r_[points[:, 0], moved[:, 0]], np.r_[points[:, 1], moved[:, 1]]
    fix = np.repeat(np.arange(lons.size), len(fences))
    fence = np.tile(np.arange(len(fences)), lons.size)
    many = tests.covers(fix, fence, lons, lats)
    own = [
        fences[f].covers_xy(float(lons[i]), float(lats[i]))
        for i, f in zip(fix.tolist(), fence.tolist(), strict=True)
    ]
    geos = np.concatenate([f.covers_many(lons, lats)[None, :] for f in fences]).T.ravel()
    assert many.tolist() == own == geos.tolist()
    assert 0 < many.sum() < many.size


def test_cover_distances_match_geos() -> None:
    rng = np.random.default_rng(7)
    line = np.array([(0.0, 0.0), (800.0, 10.0), (790.0, 820.0), (-20.0, 790.0), (0.0, 5.0)])
    xs, ys = rng.uniform(-300, 1100, 4000), rng.uniform(-300, 1100, 4000)
    got = _segment_distance_m(xs, ys, line, 120.0)
    truth = shapely.distance(shapely.LineString(line), shapely.points(xs, ys))
    near = truth <= 120.0
    assert near.sum() > 1000
    np.testing.assert_allclose(got[near], truth[near], rtol=0, atol=1e-9)
    assert np.all(got[~near] > 120.0 - 1e-9)


def test_ragged_ranges() -> None:
    starts, lengths = np.array([5, 0, 9]), np.array([2, 0, 3])
    assert ragged_ranges(starts, lengths).tolist() == [5, 6, 9, 10, 11]


@pytest.mark.parametrize("which", [0, 2])
def test_big_fences_get_boundary_cells_at_the_query_resolution(which: int) -> None:
    fence = city()[which]
    cover = cover_of(fence)
    assert set(resolution_of(cover.boundary).tolist()) == {QUERY_RES}
    assert resolution_of(cover.interior).min() < QUERY_RES  # interior stays compacted


def test_single_lookups_across_anchors_and_after_updates() -> None:
    """Fences in two cities far apart (different anchor blocks); lookups in both, between them,
    and after a change that adds a third city."""

    def square(fence_id: str, lon: float, lat: float) -> PolygonFence:
        ring = [(lon, lat), (lon + 0.01, lat), (lon + 0.01, lat + 0.01), (lon, lat + 0.01)]
        return PolygonFence(fence_id, shapely.Polygon(ring))

    index = GeofenceIndex([square("milan", 9.19, 45.46), square("sydney", 151.2, -33.87)])
    assert index.containing(9.195, 45.465) == (("milan", "polygon"),)
    assert index.containing(151.205, -33.865) == (("sydney", "polygon"),)
    assert index.containing(80.0, 5.0) == ()
    assert index.containing(9.25, 45.46) == ()  # same city, an empty bucket
    index.upsert(square("lima", -77.04, -12.05))
    assert index.containing(-77.035, -12.045) == (("lima", "polygon"),)
    assert index.containing(9.195, 45.465) == (("milan", "polygon"),)
    batch = index.containing_many(np.array([-77.035, 9.195, 80.0]), np.array([-12.045, 45.465, 5]))
    assert [batch.keys_of(i) for i in range(3)] == [
        [("lima", "polygon")],
        [("milan", "polygon")],
        [],
    ]


def test_packed_row_sort_matches_a_plain_sort() -> None:
    rng = np.random.default_rng(8)
    for res in (BUCKET_RES, 10, QUERY_RES):
        cells = parents(np.array(random_cells(rng, 2000, QUERY_RES), dtype=np.uint64), res)
        cells = np.r_[cells, cells[:500]]  # shared cells: codes must come out sorted
        codes = rng.integers(0, 40_000, cells.size).astype(np.int32)
        got_cells, got_codes = sorted_rows(cells, codes)
        order = np.lexsort((codes, cells))
        assert got_cells.tolist() == cells[order].tolist()
        assert got_codes.tolist() == codes[order].tolist()
        assert got_codes.dtype == np.int32


def test_circle_segment_test_matches_geos() -> None:
    """Segments near, through, tangent to and ending on the circle, and degenerate ones."""
    rng = np.random.default_rng(11)
    circle = CircleFence("c", PROJ.lon0, PROJ.lat0, 250.0)
    cases: list[tuple[float, float, float, float]] = []
    for _ in range(3000):
        x1, y1, x2, y2 = rng.uniform(-600, 600, 4)
        cases.append((x1, y1, x2, y2))
    for _ in range(500):  # tangent lines: closest approach at the radius, to rounding
        angle, half = rng.uniform(0, 2 * math.pi), rng.uniform(1, 300)
        nx, ny = math.cos(angle), math.sin(angle)
        px, py = 250.0 * nx, 250.0 * ny
        cases.append((px - half * ny, py + half * nx, px + half * ny, py - half * nx))
        cases.append((px, py, px + half * nx, py + half * ny))  # starts on the circle
    cases.append((300.0, 0.0, 300.0, 0.0))  # a point, outside
    cases.append((100.0, 0.0, 100.0, 0.0))  # a point, inside
    disagree = 0
    for x1, y1, x2, y2 in cases:
        (lon1, lat1), (lon2, lat2) = lonlat([(x1, y1), (x2, y2)])
        fast = circle.intersects_segment(lon1, lat1, lon2, lat2)
        disagree += fast != circle._geos_intersects_segment(lon1, lat1, lon2, lat2)
    assert disagree == 0
