"""H3 covers of one fence: interior cells (inside, no geometry needed) and boundary cells
(exact test needed); every other cell is outside.

A cell at resolution ``r`` stands for the union of its ``QUERY_RES`` descendants. That region
lies within ``rho_m`` of the cell's centre (measured once per place and resolution, with a safety
factor). So a cell whose centre lies deeper than ``rho_m`` inside the fence is interior, and a
cell whose centre is farther than ``rho_m`` from it is outside. Polygons get two centroid
polyfills (the fence shrunk and grown by ``rho_m``); circles and corridors one fill of the grown
shape, whose cells are then sorted by the metric distance of their centres (measured: less CPU
for a 40 km corridor than two fills, of the shrunk corridor and of the band around its edge).

The fill resolution follows the fence's size, but boundary cells coarser than ``QUERY_RES`` are
then refined: their ``QUERY_RES`` descendants are sorted the same way by the metric distance of
their centres to the fence's edge. The band that needs an exact test is so at most about
``2 * rho_m(QUERY_RES)`` (~25 m) wide for every fence, and a fix near a 5 km zone's edge costs
no more than one near a small site's.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from h3.api import basic_int as h3
from h3ronpy import compact
from h3ronpy.vector import cells_to_coordinates, geometry_to_cells

from tracker.geofence.cells import (
    MIN_RES,
    QUERY_RES,
    U64,
    descendants_at,
    ragged_ranges,
    resolution_of,
    unique_cells,
)
from tracker.geofence.fences import CircleFence, CorridorFence, Fence, PolygonFence
from tracker.geofence.projection import FloatArray, LocalProjection

COARSEST_LEAF_RES = 8
# Cells a quarter of the fence's half-width across leave most of it interior.
SIZE_TO_RHO = 4.0
RHO_SAFETY = 1.1
RHO_MARGIN_M = 0.5

_EMPTY = np.zeros(0, dtype=np.uint64)
_PENTAGON_BASES = np.array([4, 14, 24, 38, 49, 58, 63, 72, 83, 97, 107, 117], dtype=np.uint64)
Bounds = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Cover:
    fence: Fence
    res: int
    interior: U64  # compacted, resolutions MIN_RES..res
    boundary: U64  # all at res


@lru_cache(maxsize=4096)
def _rho_at(res: int, lon_dd: int, lat_dd: int) -> float:
    lon, lat = lon_dd / 10.0, lat_dd / 10.0
    cell = h3.latlng_to_cell(lat, lon, res)
    clat, clon = h3.cell_to_latlng(cell)
    proj = LocalProjection.around(clon, clat)
    kids = [cell] if res == QUERY_RES else h3.cell_to_children(cell, QUERY_RES)
    far = 0.0
    for kid in kids:
        for vlat, vlon in h3.cell_to_boundary(kid):
            x, y = proj.xy(vlon, vlat)
            far = max(far, math.hypot(x, y))
    return far


def rho_m(res: int, bounds: Bounds) -> float:
    """Bound on the distance from a cell centre to any point of the cell's region, in bounds."""
    minx, miny, maxx, maxy = bounds
    samples = [(minx, miny), (minx, maxy), (maxx, miny), (maxx, maxy)]
    far = max(_rho_at(res, round(lon * 10), round(lat * 10)) for lon, lat in samples)
    return far * RHO_SAFETY + RHO_MARGIN_M


def choose_res(fence: Fence, bounds: Bounds) -> int:
    for res in range(COARSEST_LEAF_RES, QUERY_RES):
        if rho_m(res, bounds) * SIZE_TO_RHO <= fence.size_m:
            return res
    return QUERY_RES


def _polyfill(shape: shapely.Geometry, res: int) -> U64:
    if shape.is_empty:
        return _EMPTY
    return unique_cells(np.asarray(geometry_to_cells(shape, res), dtype=np.uint64))


def _compact(cells: U64) -> U64:
    if cells.size == 0:
        return cells
    packed = np.asarray(compact(cells, mixed_resolutions=True), dtype=np.uint64)
    coarse = resolution_of(packed) < MIN_RES
    if not coarse.any():
        return packed
    return np.concatenate([packed[~coarse], descendants_at(packed[coarse], MIN_RES)])


def _segment_distance_m(
    xs: FloatArray, ys: FloatArray, line: FloatArray, within_m: float
) -> FloatArray:
    """Distance from each point to a polyline, all in one metric frame (numpy, no GEOS);
    ``inf`` for points farther than ``within_m`` from it. Points are sorted by x and by y, and
    each segment meets only the points of the narrower of its two slices (its x or y range
    grown by ``within_m``); all (segment, point) pairs are then measured at once."""
    a, b = line[:-1], line[1:]
    picks = []
    slices = []
    for axis, coords in ((0, xs), (1, ys)):
        order = np.argsort(coords, kind="stable")
        ordered = coords[order]
        lo = np.searchsorted(ordered, np.minimum(a[:, axis], b[:, axis]) - within_m)
        hi = np.searchsorted(ordered, np.maximum(a[:, axis], b[:, axis]) + within_m)
        picks.append(order)
        slices.append((lo.astype(np.int64), (hi - lo).astype(np.int64)))
    by_y = slices[1][1] < slices[0][1]
    segs, pts = [], []
    for axis, use in ((0, ~by_y), (1, by_y)):
        lo, count = slices[axis][0][use], slices[axis][1][use]
        segs.append(np.repeat(np.flatnonzero(use), count))
        pts.append(picks[axis][ragged_ranges(lo, count)])
    seg, pt = np.concatenate(segs), np.concatenate(pts)
    ax, ay = a[seg, 0], a[seg, 1]
    dx, dy = b[seg, 0] - ax, b[seg, 1] - ay
    px, py = xs[pt] - ax, ys[pt] - ay
    len2 = dx * dx + dy * dy
    t = np.divide(px * dx + py * dy, len2, out=np.zeros_like(len2), where=len2 > 0)
    np.clip(t, 0.0, 1.0, out=t)
    best = np.full(xs.shape, np.inf)
    np.minimum.at(best, pt, np.hypot(px - t * dx, py - t * dy))
    return best


def _round_reach(
    fence: CircleFence | CorridorFence, cells: U64, within_m: float
) -> tuple[FloatArray, float]:
    """Metric distance from each cell centre to the fence's centre point or line (``inf`` when
    beyond ``within_m`` of the line), and the distance within which points are inside."""
    centres = cells_to_coordinates(cells)
    lats, lons = np.asarray(centres.column(0)), np.asarray(centres.column(1))
    xs, ys = fence.projection.xy_many(lons, lats)
    if isinstance(fence, CircleFence):
        return np.hypot(xs, ys), fence.radius_m
    line = np.asarray(shapely.get_coordinates(fence.line_m))
    return _segment_distance_m(xs, ys, line, within_m), fence.half_width_m


def _round_cover(fence: CircleFence | CorridorFence, res: int, bounds: Bounds) -> Cover:
    """Circles and corridors: one fill one resolution coarser, sorted by centre distance into
    interior parents and parents whose children are then sorted the same way."""
    rho, coarse = rho_m(res, bounds), res - 1
    rho_coarse = rho_m(coarse, bounds)
    tops = _polyfill(fence.lonlat_shape(rho + rho_coarse), coarse)
    if tops.size == 0:
        return Cover(fence, res, _EMPTY, _EMPTY)
    if np.isin((tops >> np.uint64(45)) & np.uint64(0x7F), _PENTAGON_BASES).any():
        return _round_cover_direct(fence, res, rho)  # children of pentagons have gaps
    dist, reach = _round_reach(fence, tops, fence.size_m + rho + rho_coarse)
    deep = dist <= reach - rho_coarse
    kids = descendants_at(tops[~deep & (dist <= reach + rho + rho_coarse)], res)
    interior, boundary = _split(fence, kids, rho)
    return Cover(fence, res, _compact(np.r_[tops[deep], interior]), boundary)


def _split(fence: CircleFence | CorridorFence, cells: U64, rho: float) -> tuple[U64, U64]:
    if cells.size == 0:
        return _EMPTY, _EMPTY
    dist, reach = _round_reach(fence, cells, fence.size_m + rho)
    inner = dist <= reach - rho
    return cells[inner], cells[~inner & (dist <= reach + rho)]


def _round_cover_direct(fence: CircleFence | CorridorFence, res: int, rho: float) -> Cover:
    interior, boundary = _split(fence, _polyfill(fence.lonlat_shape(rho), res), rho)
    return Cover(fence, res, _compact(interior), boundary)


def _coarse_cover(fence: Fence, res: int, bounds: Bounds) -> Cover:
    if isinstance(fence, CircleFence | CorridorFence):
        return _round_cover(fence, res, bounds)
    rho = rho_m(res, bounds)
    inner = _polyfill(fence.lonlat_shape(-rho), res)
    outer = _polyfill(fence.lonlat_shape(rho), res)
    boundary = np.setdiff1d(outer, inner, assume_unique=True)
    return Cover(fence, res, _compact(inner), boundary)


def _split_polygon(fence: PolygonFence, cells: U64, rho: float) -> tuple[U64, U64]:
    """Cells whose centre lies deeper than ``rho`` inside (interior), and within ``rho`` of the
    boundary (boundary), by metric distance in the fence's frame."""
    if cells.size == 0:
        return _EMPTY, _EMPTY
    centres = cells_to_coordinates(cells)
    lats, lons = np.asarray(centres.column(0)), np.asarray(centres.column(1))
    xs, ys = fence.projection.xy_many(lons, lats)
    dist = shapely.distance(fence.metric.boundary, shapely.points(xs, ys))
    inside = shapely.intersects_xy(fence.metric, xs, ys)
    return cells[inside & (dist > rho)], cells[dist <= rho]


def _refined(cover: Cover, bounds: Bounds) -> Cover:
    """A cover whose boundary cells are coarser than ``QUERY_RES`` with those cells' descendants
    sorted into interior, boundary and outside: the band that needs an exact test is then at
    most ``2 * rho_m(QUERY_RES)`` wide whatever the fence's size."""
    if cover.res >= QUERY_RES or cover.boundary.size == 0:
        return cover
    if np.isin((cover.boundary >> np.uint64(45)) & np.uint64(0x7F), _PENTAGON_BASES).any():
        return cover  # children of pentagons have gaps: keep the coarse boundary
    fence, rho = cover.fence, rho_m(QUERY_RES, bounds)
    kids = descendants_at(cover.boundary, QUERY_RES)
    if isinstance(fence, CircleFence | CorridorFence):
        interior, boundary = _split(fence, kids, rho)
    elif isinstance(fence, PolygonFence):
        interior, boundary = _split_polygon(fence, kids, rho)
    else:  # pragma: no cover - every fence kind is handled above
        return cover
    return Cover(fence, QUERY_RES, _compact(np.r_[cover.interior, interior]), boundary)


def cover_of(fence: Fence) -> Cover:
    """Interior cells compacted from the resolution chosen by the fence's size; boundary cells
    always at ``QUERY_RES``."""
    bounds = fence.bounds()
    return _refined(_coarse_cover(fence, choose_res(fence, bounds), bounds), bounds)


def covers_of(fences: list[Fence], workers: int = 2) -> list[Cover]:
    """Covers of many fences; h3ronpy and shapely release the GIL, so threads help."""
    if workers <= 1 or len(fences) < 8:
        return [cover_of(f) for f in fences]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(cover_of, fences, chunksize=16))
