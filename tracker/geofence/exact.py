"""Fast scalar exact tests in pure Python, each falling back to GEOS near a tie.

A Python call into shapely costs microseconds; a few float operations cost tens of
nanoseconds. These tests compute the same quantities as GEOS (point-to-segment distance in the
fence's metric frame; ray crossings of lon/lat rings) and hand the decision back to GEOS
whenever the point is so close to the boundary that rounding could tell them apart, so answers
stay identical to shapely's.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import shapely
from numpy.typing import NDArray

# Distances within this many metres of the half-width go to GEOS (float error is ~1e-12 m).
TIE_M = 1e-6
# Cross products this small relative to the edge and offset lengths go to GEOS.
TIE_REL = 1e-12
MAX_FAST_VERTICES = 64
GRID_M = 500.0

Segment = tuple[float, float, float, float]


class SegmentGrid:
    """A polyline's segments by ``GRID_M`` squares: each square lists the segments that come
    within ``reach_m`` of it, so a point only looks at a few."""

    __slots__ = ("squares",)

    def __init__(self, xy: list[tuple[float, float]], reach_m: float) -> None:
        squares: dict[tuple[int, int], list[Segment]] = {}
        for (ax, ay), (bx, by) in itertools.pairwise(xy):
            lo_i, hi_i = _span(min(ax, bx) - reach_m, max(ax, bx) + reach_m)
            lo_j, hi_j = _span(min(ay, by) - reach_m, max(ay, by) + reach_m)
            for i in range(lo_i, hi_i + 1):
                for j in range(lo_j, hi_j + 1):
                    squares.setdefault((i, j), []).append((ax, ay, bx, by))
        self.squares = {k: tuple(v) for k, v in squares.items()}

    def as_arrays(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """Square keys (``i`` and ``j`` offset by 2^21, packed in 22 bits each), the number of
        segments of each square, and all segments (ax, ay, bx, by) square after square."""
        side = 1 << 21
        keys = [((i + side) << 22) | (j + side) for i, j in self.squares]
        counts = [len(v) for v in self.squares.values()]
        segments = [s for v in self.squares.values() for s in v]
        return (
            np.array(keys, dtype=np.int64),
            np.array(counts, dtype=np.int64),
            np.array(segments, dtype=np.float64).reshape(-1, 4),
        )

    def nearest_m(self, x: float, y: float) -> float:
        """Distance to the nearest listed segment (``inf`` if none is listed here)."""
        best = math.inf
        for ax, ay, bx, by in self.squares.get((int(x // GRID_M), int(y // GRID_M)), ()):
            dx, dy = bx - ax, by - ay
            len2 = dx * dx + dy * dy
            t = 0.0 if len2 == 0.0 else ((x - ax) * dx + (y - ay) * dy) / len2
            t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
            ex, ey = x - (ax + t * dx), y - (ay + t * dy)
            d = math.sqrt(ex * ex + ey * ey)
            if d < best:
                best = d
        return best


def _span(lo: float, hi: float) -> tuple[int, int]:
    return int(lo // GRID_M), int(hi // GRID_M)


class RingTest:
    """Point in polygon (closed: edges count as inside) by ray crossings over lon/lat rings;
    ``None`` when the point is too near an edge to be sure, or the polygon too big."""

    __slots__ = ("polygons",)

    def __init__(self, geom: shapely.Geometry) -> None:
        parts = list(getattr(geom, "geoms", [geom]))
        self.polygons: list[list[list[tuple[float, float]]]] | None = [
            [list(p.exterior.coords), *(list(r.coords) for r in p.interiors)] for p in parts
        ]
        if sum(len(r) for p in self.polygons for r in p) > MAX_FAST_VERTICES:
            self.polygons = None

    def covers(self, x: float, y: float) -> bool | None:
        if self.polygons is None:
            return None
        inside_any = False
        for rings in self.polygons:
            inside = False
            for ring in rings:
                crossed = _crossings(ring, x, y)
                if crossed is None:
                    return None
                inside ^= crossed
            inside_any = inside_any or inside
        return inside_any


def _crossings(ring: list[tuple[float, float]], x: float, y: float) -> bool | None:
    """Odd number of crossings of the ray to +x; ``None`` if the point is nearly on an edge."""
    odd = False
    ax, ay = ring[0]
    for bx, by in ring[1:]:
        if (ay > y) != (by > y) or ay == y or by == y:
            cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
            scale = (abs(bx - ax) + abs(by - ay)) * (abs(x - ax) + abs(y - ay))
            if abs(cross) <= TIE_REL * scale:
                return None
            if (ay > y) != (by > y) and (cross > 0) == (by > ay):
                odd = not odd
        ax, ay = bx, by
    return odd
