"""Vectorised exact tests across many fences in one pass.

Batch lookups leave (fix, fence) rows that need an exact test, spread over thousands of fences;
testing them fence by fence costs a Python round trip per fence. Here every circle and corridor
is a row of flat tables (frame origin and scale, reach), and every corridor's segments are
listed per ``GRID_M`` square of its metric frame in a dense block over its bounding box (start
and count of the square's segments), so a row finds its segments with index arithmetic, without
sorting or searching. Polygons are tested with one vectorised GEOS call over an array of their
(prepared) geometries. Circle and corridor results within ``TIE_M`` of the reach are settled by
the fence's scalar test (GEOS), as in exact.py.
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

from tracker.geofence.cells import ragged_ranges
from tracker.geofence.exact import GRID_M, TIE_M
from tracker.geofence.fences import CircleFence, CorridorFence, Fence, PolygonFence
from tracker.geofence.projection import FloatArray

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
BoolArray = NDArray[np.bool_]

_OTHER, _CIRCLE, _CORRIDOR, _POLYGON = 0, 1, 2, 3
_REACH_EXTRA_M = 1.0  # segments are listed for squares they come within half-width + this of


class ManyTests:
    """Flat tables of all fences of a batch table (indexed as there)."""

    def __init__(self, fences: tuple[Fence, ...]) -> None:
        n = len(fences)
        self.fences = fences
        self.kind = np.zeros(n, dtype=np.int8)
        self.lon0, self.lat0 = np.zeros(n), np.zeros(n)
        self.kx, self.ky = np.ones(n), np.ones(n)
        self.reach_m = np.zeros(n)
        self.geoms = np.full(n, None, dtype=object)
        lines: list[FloatArray] = []
        owners: list[int] = []
        for idx, fence in enumerate(fences):
            if isinstance(fence, PolygonFence):
                self.kind[idx] = _POLYGON
                self.geoms[idx] = fence.geom
                continue
            if not isinstance(fence, CircleFence | CorridorFence):
                continue
            p = fence.projection
            self.lon0[idx], self.lat0[idx], self.kx[idx], self.ky[idx] = p.lon0, p.lat0, p.kx, p.ky
            self.reach_m[idx] = fence.size_m
            self.kind[idx] = _CIRCLE if isinstance(fence, CircleFence) else _CORRIDOR
            if isinstance(fence, CorridorFence):
                lines.append(np.asarray(shapely.get_coordinates(fence.line_m)))
                owners.append(idx)
        self._squares(n, lines, np.array(owners, dtype=np.int64))

    def _squares(self, n: int, lines: list[FloatArray], owners: I64) -> None:
        """Each corridor's block of squares: block of fence ``f`` starts at ``base[f]`` and has
        ``ni[f] x nj[f]`` squares from square ``(i0[f], j0[f])``; each square lists the segments
        whose bounding box grown by the reach meets it (``square_count`` from
        ``square_start``)."""
        self.base = np.zeros(n, dtype=np.int64)
        self.i0, self.j0 = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        self.ni, self.nj = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        if not lines:
            self.square_start = self.square_count = np.zeros(1, dtype=np.int64)
            self.ax = self.ay = self.dx = self.dy = self.inv_len2 = np.zeros(0)
            return
        nseg = np.array([len(c) - 1 for c in lines], dtype=np.int64)
        a = np.concatenate([c[:-1] for c in lines])
        b = np.concatenate([c[1:] for c in lines])
        seg_fence = np.repeat(owners, nseg)
        reach = self.reach_m[seg_fence] + _REACH_EXTRA_M
        lo_i = np.floor((np.minimum(a[:, 0], b[:, 0]) - reach) / GRID_M).astype(np.int64)
        hi_i = np.floor((np.maximum(a[:, 0], b[:, 0]) + reach) / GRID_M).astype(np.int64)
        lo_j = np.floor((np.minimum(a[:, 1], b[:, 1]) - reach) / GRID_M).astype(np.int64)
        hi_j = np.floor((np.maximum(a[:, 1], b[:, 1]) + reach) / GRID_M).astype(np.int64)
        firsts = np.r_[0, np.cumsum(nseg)[:-1]]
        i0, j0 = np.minimum.reduceat(lo_i, firsts), np.minimum.reduceat(lo_j, firsts)
        ni = np.maximum.reduceat(hi_i, firsts) - i0 + 1
        nj = np.maximum.reduceat(hi_j, firsts) - j0 + 1
        sizes = ni * nj
        base = np.r_[0, np.cumsum(sizes)[:-1]]
        self.base[owners], self.i0[owners], self.j0[owners] = base, i0, j0
        self.ni[owners], self.nj[owners] = ni, nj
        # every (segment, square) pair of each segment's grown box
        ci, cj = hi_i - lo_i + 1, hi_j - lo_j + 1
        per = ci * cj
        seg = np.repeat(np.arange(per.size, dtype=np.int64), per)
        k = ragged_ranges(np.zeros(per.size, dtype=np.int64), per)
        f = seg_fence[seg]
        square = (
            self.base[f]
            + (lo_i[seg] + k // cj[seg] - self.i0[f]) * self.nj[f]
            + (lo_j[seg] + k % cj[seg] - self.j0[f])
        )
        order = np.argsort(square, kind="stable")
        listed = seg[order]
        count = np.bincount(square, minlength=int(sizes.sum()))
        self.square_count = count.astype(np.int64)
        self.square_start = (np.cumsum(count) - count).astype(np.int64)
        self.ax, self.ay = a[listed, 0].copy(), a[listed, 1].copy()
        self.dx, self.dy = b[listed, 0] - a[listed, 0], b[listed, 1] - a[listed, 1]
        len2 = self.dx * self.dx + self.dy * self.dy
        self.inv_len2 = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0)

    def covers(self, fix: I64, fence: I64, lons: FloatArray, lats: FloatArray) -> BoolArray:
        """Exact test of rows (fix, fence): is fix ``fix[r]`` in fence ``fence[r]``."""
        kind = self.kind[fence]
        keep = np.zeros(fix.size, dtype=bool)
        poly = np.flatnonzero(kind == _POLYGON)
        if poly.size:
            sub = fix[poly]
            keep[poly] = shapely.intersects_xy(self.geoms[fence[poly]], lons[sub], lats[sub])
        round_rows = np.flatnonzero((kind == _CIRCLE) | (kind == _CORRIDOR))
        if round_rows.size:
            keep[round_rows] = self._covers_round(fix[round_rows], fence[round_rows], lons, lats)
        other = np.flatnonzero(kind == _OTHER)
        for row in other.tolist():  # no such fence kind today: the fence's own test
            keep[row] = self.fences[int(fence[row])].covers_xy(
                float(lons[fix[row]]), float(lats[fix[row]])
            )
        return keep

    def _covers_round(self, fix: I64, fence: I64, lons: FloatArray, lats: FloatArray) -> BoolArray:
        xs = (lons[fix] - self.lon0[fence]) * self.kx[fence]
        ys = (lats[fix] - self.lat0[fence]) * self.ky[fence]
        dist = np.sqrt(xs * xs + ys * ys)  # circles: centre at the origin of their frame
        lines = np.flatnonzero(self.kind[fence] == _CORRIDOR)
        if lines.size:
            dist[lines] = self._line_distance(fence[lines], xs[lines], ys[lines])
        reach = self.reach_m[fence]
        inside: BoolArray = dist <= reach
        for row in np.flatnonzero(np.abs(dist - reach) <= TIE_M).tolist():
            inside[row] = self.fences[int(fence[row])].covers_xy(
                float(lons[fix[row]]), float(lats[fix[row]])
            )
        return inside

    def _line_distance(self, fence: I64, xs: FloatArray, ys: FloatArray) -> FloatArray:
        """Distance to the nearest segment listed in the point's square (``inf`` if none: the
        point is farther than the reach from the line)."""
        i = np.floor(xs / GRID_M).astype(np.int64) - self.i0[fence]
        j = np.floor(ys / GRID_M).astype(np.int64) - self.j0[fence]
        nj = self.nj[fence]
        ok = (i >= 0) & (i < self.ni[fence]) & (j >= 0) & (j < nj)
        square = np.where(ok, self.base[fence] + i * nj + j, 0)
        count = np.where(ok, self.square_count[square], 0)
        best = np.full(xs.size, np.inf)
        total = int(count.sum())
        if total == 0:
            return best
        first = np.cumsum(count) - count
        owner = np.repeat(np.arange(xs.size, dtype=np.int64), count)
        rows = ragged_ranges(self.square_start[square], count)
        dx, dy = self.dx[rows], self.dy[rows]
        px, py = xs[owner] - self.ax[rows], ys[owner] - self.ay[rows]
        t = (px * dx + py * dy) * self.inv_len2[rows]
        np.clip(t, 0.0, 1.0, out=t)
        px -= t * dx
        py -= t * dy
        has = np.flatnonzero(count > 0)
        best[has] = np.sqrt(np.minimum.reduceat(px * px + py * py, first[has]))
        return best
