"""H3 covers of one fence: interior cells (inside, no geometry needed) and boundary cells
(exact test needed); every other cell is outside.

A cell at resolution ``r`` stands for the union of its ``QUERY_RES`` descendants. That region
lies within ``rho_m`` of the cell's centre (measured once per place and resolution, with a safety
factor). So a cell whose centre lies deeper than ``rho_m`` inside the fence is interior, and a
cell whose centre is farther than ``rho_m`` from it is outside. Polygons get two centroid
polyfills (the fence shrunk and grown by ``rho_m``); circles and corridors one fill of the grown
shape, whose cells are then sorted by the metric distance of their centres (cheaper than a
second fill of a 40 km corridor).
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
    resolution_of,
    unique_cells,
)
from tracker.geofence.fences import CircleFence, CorridorFence, Fence
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
    ``inf`` for points farther than ``within_m`` from it. Points are sorted by x so that each
    segment only looks at the slice of points beside it."""
    order = np.argsort(xs, kind="stable")
    sx, sy = xs[order], ys[order]
    best = np.full(xs.shape, np.inf)
    for (ax, ay), (bx, by) in zip(line[:-1].tolist(), line[1:].tolist(), strict=True):
        lo, hi = np.searchsorted(sx, [min(ax, bx) - within_m, max(ax, bx) + within_m])
        if lo == hi:
            continue
        px, py = sx[lo:hi], sy[lo:hi]
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = np.zeros_like(px) if length2 == 0 else ((px - ax) * dx + (py - ay) * dy) / length2
        t = np.clip(t, 0.0, 1.0)
        rows = order[lo:hi]
        best[rows] = np.minimum(best[rows], np.hypot(px - (ax + t * dx), py - (ay + t * dy)))
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
    interior parents and parents whose children are then sorted the same way (a long corridor
    is cheaper so than with two fills at the fine resolution)."""
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


def cover_of(fence: Fence) -> Cover:
    bounds = fence.bounds()
    res = choose_res(fence, bounds)
    rho = rho_m(res, bounds)
    if isinstance(fence, CircleFence | CorridorFence):
        return _round_cover(fence, res, bounds)
    inner = _polyfill(fence.lonlat_shape(-rho), res)
    outer = _polyfill(fence.lonlat_shape(rho), res)
    boundary = np.setdiff1d(outer, inner, assume_unique=True)
    return Cover(fence, res, _compact(inner), boundary)


def covers_of(fences: list[Fence], workers: int = 2) -> list[Cover]:
    """Covers of many fences; h3ronpy and shapely release the GIL, so threads help."""
    if workers <= 1 or len(fences) < 8:
        return [cover_of(f) for f in fences]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(cover_of, fences, chunksize=16))
