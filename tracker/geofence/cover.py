"""H3 covers of one fence: interior cells (inside, no geometry needed) and boundary cells
(exact test needed); every other cell is outside.

A cell at resolution ``r`` stands for the union of its ``QUERY_RES`` descendants. That region
lies within ``rho_m`` of the cell's centre (measured once per place and resolution, with a safety
factor). So a cell whose centre lies deeper than ``rho_m`` inside the fence is interior, and a
cell whose centre is farther than ``rho_m`` from it is outside.

Covers are made by descent (:func:`descent_covers`, the default for every fence kind): one
coarse fill, then level by level the cells near the edge are split and their children sorted by
the metric distance of their centres (from offset tables, centres.py) to the fence's line,
point or edges, many fences at a time in numpy. About 5x less CPU than the fill method below,
which stays for what the descent cannot take (pentagons, face edges) and as its test reference.

Fill method (:func:`fill_cover_of`): polygons get two centroid polyfills (the fence shrunk and
grown by ``rho_m``); circles and corridors one fill of the grown shape, whose cells are then
sorted by the metric distance of their centres.

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
from h3ronpy.vector import cells_to_coordinates, geometry_to_cells, wkb_to_cells
from numpy.typing import NDArray

from tracker.geofence.cells import (
    MIN_RES,
    QUERY_RES,
    U64,
    descendants_at,
    parents,
    ragged_ranges,
    resolution_of,
    unique_cells,
)
from tracker.geofence.centres import CENTRE_TOL_M, child_centres, exact_centres
from tracker.geofence.fences import CircleFence, CorridorFence, Fence, PolygonFence
from tracker.geofence.projection import FloatArray, LocalProjection

COARSEST_LEAF_RES = 8
DESCENT_START_RES = 8
MAX_DESCENT_PAIRS = 2_000_000  # (start cell, segment) pairs of one fence: beyond, fills
DESCENT_BATCH = 64
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

    @classmethod
    def empty(cls, fence: Fence) -> Cover:
        """No cells: a fence held by the index but never returned by a point lookup."""
        return cls(fence, QUERY_RES, _EMPTY, _EMPTY)


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


def fill_cover_of(fence: Fence) -> Cover:
    """The cover from polyfills (every fence kind): interior cells compacted from the resolution
    chosen by the fence's size; boundary cells at ``QUERY_RES`` (coarser only near pentagons)."""
    bounds = fence.bounds()
    return _refined(_coarse_cover(fence, choose_res(fence, bounds), bounds), bounds)


def cover_of(fence: Fence) -> Cover:
    """The fence's cover by descent (see :func:`descent_covers`), or from polyfills where the
    descent cannot take it."""
    return covers_of([fence], workers=1)[0]


def covers_of(fences: list[Fence], workers: int = 2) -> list[Cover]:
    """Covers of many fences by descent in batches of ``DESCENT_BATCH`` (big numpy arrays: little
    per-fence overhead, and the GIL is released), with fills for the fences the descent cannot
    take; ``workers`` threads share the batches."""
    out: list[Cover | None] = [None] * len(fences)

    def run_batch(batch: list[int]) -> None:
        picked = [fences[i] for i in batch]
        for i, cover in zip(batch, descent_covers(picked), strict=True):
            out[i] = cover if cover is not None else fill_cover_of(fences[i])

    batches = [
        list(range(k, min(k + DESCENT_BATCH, len(fences))))
        for k in range(0, len(fences), DESCENT_BATCH)
    ]
    if workers <= 1 or len(batches) < 2:
        for batch in batches:
            run_batch(batch)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run_batch, batches))
    return [c for c in out if c is not None]


@lru_cache(maxsize=4096)
def _descent_rhos(minx_dd: int, miny_dd: int, maxx_dd: int, maxy_dd: int) -> FloatArray:
    """``rho_m`` plus ``CENTRE_TOL_M`` at each descent level, for bounds rounded as ``rho_m``
    rounds them (to 0.1 degree; read only)."""
    bounds = (minx_dd / 10.0, miny_dd / 10.0, maxx_dd / 10.0, maxy_dd / 10.0)
    out = np.array(
        [rho_m(res, bounds) + CENTRE_TOL_M for res in range(DESCENT_START_RES, QUERY_RES + 1)]
    )
    out.flags.writeable = False
    return out


def _start_cells(fence: Fence, bounds: Bounds, grow_m: float) -> U64:
    """``DESCENT_START_RES`` cells whose centre lies within ``grow_m`` of the fence (and more).
    A corridor's are filled from one rectangle around each segment (grown by the half-width and
    ``grow_m`` on all sides), not from a buffer of the line: GEOS buffers of lines that retrace
    themselves (U-turns on the same road) come out too small for large distances. Others fill
    their grown bounding box."""
    if not isinstance(fence, CorridorFence):
        p = fence.projection
        minx, miny, maxx, maxy = bounds
        box = shapely.box(
            minx - grow_m / p.kx, miny - grow_m / p.ky, maxx + grow_m / p.kx, maxy + grow_m / p.ky
        )
        return _polyfill(box, DESCENT_START_RES)
    xy = np.asarray(shapely.get_coordinates(fence.line_m), dtype=np.float64)
    a, b = xy[:-1], xy[1:]
    length = np.hypot(*(b - a).T)
    u = np.where(
        length[:, None] > 0, (b - a) / np.where(length > 0, length, 1.0)[:, None], [1.0, 0.0]
    )
    ru = u * (fence.half_width_m + grow_m)
    rn = np.column_stack([-ru[:, 1], ru[:, 0]])
    corners = np.stack([a - ru - rn, b + ru - rn, b + ru + rn, a - ru + rn, a - ru - rn], axis=1)
    p = fence.projection
    lonlat = np.stack([corners[..., 0] / p.kx + p.lon0, corners[..., 1] / p.ky + p.lat0], axis=-1)
    boxes = shapely.polygons(lonlat)
    cells = wkb_to_cells(shapely.to_wkb(boxes), DESCENT_START_RES, flatten=True)
    return unique_cells(np.asarray(cells, dtype=np.uint64))


def _descent_bounds(fence: Fence) -> Bounds:
    """The fence's lon/lat bounds; a round one's from its centre line or point (no buffer)."""
    if isinstance(fence, PolygonFence):
        return fence.bounds()
    assert isinstance(fence, CircleFence | CorridorFence)
    if isinstance(fence, CircleFence):
        minx = miny = maxx = maxy = 0.0
    else:
        minx, miny, maxx, maxy = fence.line_m.bounds
    p, grow = fence.projection, fence.size_m
    return (
        (minx - grow) / p.kx + p.lon0,
        (miny - grow) / p.ky + p.lat0,
        (maxx + grow) / p.kx + p.lon0,
        (maxy + grow) / p.ky + p.lat0,
    )


def _segments(fence: Fence) -> tuple[FloatArray, FloatArray]:
    """Start points and vectors of the segments the descent measures to, in the fence's frame:
    the centre point (one empty segment), the centre line, or every ring of the polygon."""
    if isinstance(fence, CircleFence):
        return np.zeros((1, 2)), np.zeros((1, 2))
    if isinstance(fence, CorridorFence):
        line = np.asarray(shapely.get_coordinates(fence.line_m), dtype=np.float64)
        return line[:-1], line[1:] - line[:-1]
    assert isinstance(fence, PolygonFence)
    rings = [
        np.asarray(shapely.get_coordinates(r), dtype=np.float64)
        for r in shapely.get_rings(shapely.get_parts(fence.metric))
    ]
    return (
        np.concatenate([r[:-1] for r in rings]),
        np.concatenate([r[1:] - r[:-1] for r in rings]),
    )


def descent_covers(fences: list[Fence]) -> list[Cover | None]:
    """Covers by descent through the H3 hierarchy, with no fill below ``DESCENT_START_RES``:
    cells whose centre lies in the fence grown by ``rho`` at that resolution; then at each level
    the metric distance of every cell centre to the fence's centre point or line (circles,
    corridors) or edges (polygons) sorts the cells into interior (deeper than ``rho`` inside),
    outside (farther than ``rho``) and the rest, whose children are sorted the same way, down to
    ``QUERY_RES`` where the rest is the boundary. A polygon's cell farther than ``rho`` from every
    edge is wholly inside or outside: its centre says which (one prepared GEOS test).

    Centres below ``GROUP_RES`` come from offset tables (centres.py) within ``CENTRE_TOL_M``,
    which is added to ``rho``. Each cell carries only the segments that can be nearest to some
    point of it (those within ``2 * rho`` of its nearest one), so a distance costs a segment or
    two. All fences of a batch go through the levels together, in the same arrays.
    ``None`` (the caller falls back to fills) for a fence near a pentagon, with a group that has
    no offset table, or whose start cells and segments would make too many pairs."""
    n = len(fences)
    if n > 2048:  # fence numbers share 64 bits with cells in _merge_siblings
        return descent_covers(fences[:2048]) + descent_covers(fences[2048:])
    out: list[Cover | None] = [None] * n
    ok = np.zeros(n, dtype=np.bool_)
    rho = np.zeros((n, QUERY_RES + 1))
    is_poly = np.array([isinstance(f, PolygonFence) for f in fences], dtype=np.bool_)
    reach = np.array([0.0 if p else f.size_m for f, p in zip(fences, is_poly, strict=True)])
    frame = np.array(
        [(f.projection.lon0, f.projection.lat0, f.projection.kx, f.projection.ky) for f in fences],
        dtype=np.float64,
    ).reshape(n, 4)
    seg_a, seg_ab, starts, owners = [], [], [], []
    for i, fence in enumerate(fences):
        a_i, ab_i = _segments(fence)
        seg_a.append(a_i)
        seg_ab.append(ab_i)
        bounds = _descent_bounds(fence)
        rho[i, DESCENT_START_RES:] = _descent_rhos(*(round(v * 10) for v in bounds))
        cells = _start_cells(fence, bounds, rho[i, DESCENT_START_RES])
        if cells.size == 0:
            out[i] = Cover(fence, QUERY_RES, _EMPTY, _EMPTY)
        elif cells.size * len(a_i) <= MAX_DESCENT_PAIRS and not _has_pentagon(cells):
            ok[i] = True
            starts.append(cells)
            owners.append(np.full(cells.size, i, dtype=np.int64))
    if not starts:
        return out
    seg_count = np.array([len(a_i) for a_i in seg_a], dtype=np.int64)
    seg_off = np.cumsum(seg_count) - seg_count
    a = np.concatenate(seg_a)
    ab = np.concatenate(seg_ab)
    len2 = (ab * ab).sum(axis=1)
    inv_len2 = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0)
    ax, ay = np.ascontiguousarray(a[:, 0]), np.ascontiguousarray(a[:, 1])
    abx, aby = np.ascontiguousarray(ab[:, 0]), np.ascontiguousarray(ab[:, 1])
    lon0, lat0 = np.ascontiguousarray(frame[:, 0]), np.ascontiguousarray(frame[:, 1])
    kx, ky = np.ascontiguousarray(frame[:, 2]), np.ascontiguousarray(frame[:, 3])

    cells, fid = np.concatenate(starts), np.concatenate(owners)
    lons, lats = exact_centres(cells)
    counts = seg_count[fid]
    pair_cell = np.repeat(np.arange(cells.size), counts)
    pair_seg = ragged_ranges(seg_off[fid], counts)
    firsts = np.cumsum(counts) - counts
    inner: dict[int, tuple[U64, NDArray[np.int64]]] = {}
    boundary, boundary_fid = _EMPTY, np.zeros(0, dtype=np.int64)
    res = DESCENT_START_RES
    while cells.size:
        xs = lons - lon0[fid]
        xs *= kx[fid]
        ys = lats - lat0[fid]
        ys *= ky[fid]
        px = xs[pair_cell]
        px -= ax[pair_seg]
        py = ys[pair_cell]
        py -= ay[pair_seg]
        dx, dy = abx[pair_seg], aby[pair_seg]
        t = px * dx
        t += py * dy
        t *= inv_len2[pair_seg]
        np.clip(t, 0.0, 1.0, out=t)
        dx *= t
        dy *= t
        px -= dx
        py -= dy
        px *= px
        py *= py
        px += py
        dist = np.sqrt(px, out=px)
        nearest = np.minimum.reduceat(dist, firsts)  # every cell keeps at least one segment
        cell_rho, cell_reach = rho[fid, res], reach[fid]
        deep = nearest <= cell_reach - cell_rho
        inner[res] = (cells[deep], fid[deep])
        near = ~deep & (nearest <= cell_reach + cell_rho)
        if is_poly.any():  # polygons (reach 0): cells clear of every edge, inside or out
            clear = np.flatnonzero(~near & is_poly[fid])
            if clear.size:
                inside = _centres_inside(fences, fid[clear], lons[clear], lats[clear])
                deep[clear[inside]] = True
                inner[res] = (cells[deep], fid[deep])
        if res == QUERY_RES:
            boundary, boundary_fid = cells[near], fid[near]
            break
        kids, kid_lons, kid_lats, known = child_centres(
            cells[near], lons[near], lats[near], res + 1
        )
        if not known.all():  # some groups have no offset table: those fences fall back
            ok[fid[near][~known]] = False
            near &= ok[fid]
            kids, kid_lons, kid_lats, _ = child_centres(
                cells[near], lons[near], lats[near], res + 1
            )
        # A segment farther than the nearest one by 2 rho is nearest to no point of the cell.
        limit = nearest + 2.0 * cell_rho
        limit[~near] = -1.0
        keep = dist <= limit[pair_cell]
        renumber = np.cumsum(near) - 1
        pair_cell, pair_seg, firsts = _child_pairs(
            renumber[pair_cell[keep]], pair_seg[keep], int(renumber[-1]) + 1
        )
        fid = np.tile(fid[near], 7)
        cells, lons, lats = kids, kid_lons, kid_lats
        res += 1

    interior, interior_fid = _merge_siblings(inner)
    order = np.argsort(interior_fid, kind="stable")
    interior, interior_fid = interior[order], interior_fid[order]
    ids = np.arange(n + 1)
    i_cut = np.searchsorted(interior_fid, ids)
    order = np.argsort(boundary_fid, kind="stable")
    boundary, boundary_fid = boundary[order], boundary_fid[order]
    b_cut = np.searchsorted(boundary_fid, ids)
    for i in np.flatnonzero(ok).tolist():
        out[i] = Cover(
            fences[i],
            QUERY_RES,
            interior[i_cut[i] : i_cut[i + 1]],
            boundary[b_cut[i] : b_cut[i + 1]],
        )
    return out


def _centres_inside(
    fences: list[Fence], fid: NDArray[np.int64], lons: FloatArray, lats: FloatArray
) -> NDArray[np.bool_]:
    """Whether each point lies in its polygon fence, by prepared GEOS tests (one per fence)."""
    order = np.argsort(fid, kind="stable")
    fid, lons, lats = fid[order], lons[order], lats[order]
    inside = np.zeros(fid.size, dtype=np.bool_)
    cuts = np.flatnonzero(np.r_[True, fid[1:] != fid[:-1], True])
    for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        fence = fences[int(fid[lo])]
        assert isinstance(fence, PolygonFence)
        inside[lo:hi] = shapely.intersects_xy(fence.geom, lons[lo:hi], lats[lo:hi])
    out = np.empty_like(inside)
    out[order] = inside
    return out


def _child_pairs(
    owner: NDArray[np.int64], seg: NDArray[np.int64], parents_n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """(cell, segment) pairs of the children of ``parents_n`` cells, each child with its parent's
    segments, and where each child's pairs start. Children are numbered digit-major, as
    ``child_centres`` makes them (child ``k`` of parent ``i`` is ``k * parents_n + i``), so the
    pairs are 7 copies of the parents' pairs and stay sorted by cell; ``owner`` is sorted, every
    parent has a pair."""
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    digit = np.arange(7, dtype=np.int64)[:, None]
    cells = (digit * parents_n + owner[None, :]).ravel()
    firsts = (digit * owner.size + starts[None, :]).ravel()
    return cells, np.tile(seg, 7), firsts


_BODY = np.uint64((1 << 52) - 1)  # base cell and digits of a cell


def _merge_siblings(
    by_res: dict[int, tuple[U64, NDArray[np.int64]]],
) -> tuple[U64, NDArray[np.int64]]:
    """Interior cells (with their fence) with every complete family of 7 siblings of one fence
    replaced by its parent, down to ``MIN_RES`` (the descent never meets pentagons)."""
    out: list[U64] = []
    out_fid: list[NDArray[np.int64]] = []
    carry, carry_fid = _EMPTY, np.zeros(0, dtype=np.int64)
    for res in range(QUERY_RES, MIN_RES - 1, -1):
        here, here_fid = by_res.get(res, (_EMPTY, carry_fid[:0]))
        cells = np.concatenate([here, carry])
        fid = np.concatenate([here_fid, carry_fid])
        if res == MIN_RES or cells.size == 0:
            out.append(cells)
            out_fid.append(fid)
            carry, carry_fid = _EMPTY, fid[:0]
            continue
        # one sort on (fence, cell) packed in 64 bits: the cells share mode and resolution bits
        key = (fid.astype(np.uint64) << np.uint64(52)) | (cells & _BODY)
        key.sort()
        fid = (key >> np.uint64(52)).astype(np.int64)
        cells = (key & _BODY) | (cells[0] & ~_BODY)
        up = parents(cells, res - 1)
        firsts = np.flatnonzero(np.r_[True, (up[1:] != up[:-1]) | (fid[1:] != fid[:-1])])
        sizes = np.diff(np.r_[firsts, up.size])
        full = sizes == 7
        carry, carry_fid = up[firsts[full]], fid[firsts[full]]
        stay = ~np.repeat(full, sizes)
        out.append(cells[stay])
        out_fid.append(fid[stay])
    return np.concatenate(out), np.concatenate(out_fid)


_IS_PENTAGON_BASE = np.zeros(128, dtype=np.bool_)
_IS_PENTAGON_BASE[_PENTAGON_BASES.astype(np.int64)] = True


def _has_pentagon(cells: U64) -> bool:
    return bool(
        _IS_PENTAGON_BASE[((cells >> np.uint64(45)) & np.uint64(0x7F)).astype(np.intp)].any()
    )
