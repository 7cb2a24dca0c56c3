"""Vectorised exact tests of circles and corridors across many fences in one pass.

Batch lookups leave (fix, fence) rows that need an exact test, spread over thousands of fences;
testing them fence by fence costs a Python round trip per fence. Here every circle and corridor
is a row of flat tables (frame origin and scale, reach, and for corridors the
:class:`~tracker.geofence.exact.SegmentGrid` squares with their segments), so all rows are
settled with a handful of numpy operations. Results within ``TIE_M`` of the reach are settled
by the fence's scalar test (GEOS), as in exact.py.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tracker.geofence.exact import GRID_M, TIE_M
from tracker.geofence.fences import CircleFence, CorridorFence, Fence
from tracker.geofence.projection import FloatArray
from tracker.geofence.rows import sorted_search

I64 = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
_SIDE = 1 << 21  # square indices are offset into [0, 2^22) per axis


def _square_keys(fence: I64, i: I64, j: I64) -> I64:
    out: I64 = (fence << 44) | ((i + _SIDE) << 22) | (j + _SIDE)
    return out


class RoundTests:
    """Flat tables of all circles and corridors among ``fences`` (indexed as there)."""

    def __init__(self, fences: tuple[Fence, ...]) -> None:
        n = len(fences)
        self.fences = fences
        self.kind = np.zeros(n, dtype=np.int8)  # 0 other, 1 circle, 2 corridor
        self.frame = np.zeros((n, 4))  # lon0, lat0, kx, ky
        self.reach_m = np.zeros(n)
        keys, counts, segments = [], [], []
        for idx, fence in enumerate(fences):
            if not isinstance(fence, CircleFence | CorridorFence):
                continue
            p = fence.projection
            self.frame[idx] = (p.lon0, p.lat0, p.kx, p.ky)
            self.kind[idx] = 1 if isinstance(fence, CircleFence) else 2
            self.reach_m[idx] = fence.size_m
            if isinstance(fence, CorridorFence):
                sq_keys, sq_counts, sq_segments = fence.grid.as_arrays()
                keys.append(sq_keys + (idx << 44))
                counts.append(sq_counts)
                segments.append(sq_segments)
        all_keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        all_counts = np.concatenate(counts) if counts else np.zeros(0, np.int64)
        order = np.argsort(all_keys, kind="stable")
        starts = np.r_[0, np.cumsum(all_counts)[:-1]] if all_counts.size else all_counts
        self.square_keys = all_keys[order]
        self.square_start = starts[order].astype(np.int64)
        self.square_count = all_counts[order].astype(np.int64)
        self.segments = np.concatenate(segments) if segments else np.zeros((0, 4))

    def handles(self, fence: I64) -> BoolArray:
        out: BoolArray = self.kind[fence] > 0
        return out

    def covers(self, fix: I64, fence: I64, lons: FloatArray, lats: FloatArray) -> BoolArray:
        """Exact test of rows (fix, fence) whose fences are all circles or corridors."""
        frame = self.frame[fence]
        xs = (lons[fix] - frame[:, 0]) * frame[:, 2]
        ys = (lats[fix] - frame[:, 1]) * frame[:, 3]
        dist = np.sqrt(xs * xs + ys * ys)  # circles: centre at the origin of their frame
        lines = np.flatnonzero(self.kind[fence] == 2)
        dist[lines] = self._line_distance(fence[lines], xs[lines], ys[lines])
        reach = self.reach_m[fence]
        inside = dist <= reach
        for row in np.flatnonzero(np.abs(dist - reach) <= TIE_M).tolist():
            inside[row] = self.fences[int(fence[row])].covers_xy(
                float(lons[fix[row]]), float(lats[fix[row]])
            )
        return inside

    def _line_distance(self, fence: I64, xs: FloatArray, ys: FloatArray) -> FloatArray:
        keys = _square_keys(
            fence, np.floor(xs / GRID_M).astype(np.int64), np.floor(ys / GRID_M).astype(np.int64)
        )
        best = np.full(xs.size, np.inf)
        if self.square_keys.size == 0 or xs.size == 0:
            return best
        pos = sorted_search(self.square_keys, keys)
        pos[pos == self.square_keys.size] = 0
        found = self.square_keys[pos] == keys
        count = np.where(found, self.square_count[pos], 0)
        owner = np.repeat(np.arange(xs.size, dtype=np.int64), count)
        first = np.cumsum(count) - count
        rows = np.arange(owner.size, dtype=np.int64) + np.repeat(
            self.square_start[pos] - first, count
        )
        ax, ay, bx, by = self.segments[rows].T
        px, py = xs[owner], ys[owner]
        dx, dy = bx - ax, by - ay
        len2 = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(len2 > 0, ((px - ax) * dx + (py - ay) * dy) / len2, 0.0)
        t = np.clip(t, 0.0, 1.0)
        ex, ey = px - (ax + t * dx), py - (ay + t * dy)
        has = np.flatnonzero(count > 0)
        if has.size:  # owner is sorted: reduce each row's run of segments
            best[has] = np.minimum.reduceat(np.sqrt(ex * ex + ey * ey), first[has])
        return best
