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

import shapely

# Distances within this many metres of the half-width go to GEOS (float error is ~1e-12 m).
TIE_M = 1e-6
# Cross products this small relative to the edge and offset lengths go to GEOS.
TIE_REL = 1e-12
MAX_FAST_VERTICES = 512
GRID_M = 500.0

Segment = tuple[float, float, float, float, float]  # ax, ay, dx, dy, 1 / (dx² + dy²) or 0
_ROW = float(1 << 22)  # square key: i * _ROW + j as a float (no int conversions on lookup)


class SegmentGrid:
    """A polyline's segments by ``GRID_M`` squares: each square lists the segments that come
    within ``reach_m`` of it, so a point only looks at a few."""

    __slots__ = ("squares",)

    def __init__(self, xy: list[tuple[float, float]], reach_m: float) -> None:
        squares: dict[float, list[Segment]] = {}
        for (ax, ay), (bx, by) in itertools.pairwise(xy):
            dx, dy = bx - ax, by - ay
            len2 = dx * dx + dy * dy
            segment = (ax, ay, dx, dy, 1.0 / len2 if len2 > 0.0 else 0.0)
            lo_i, hi_i = _span(min(ax, bx) - reach_m, max(ax, bx) + reach_m)
            lo_j, hi_j = _span(min(ay, by) - reach_m, max(ay, by) + reach_m)
            for i in range(lo_i, hi_i + 1):
                for j in range(lo_j, hi_j + 1):
                    squares.setdefault(i * _ROW + j, []).append(segment)
        self.squares = {k: tuple(v) for k, v in squares.items()}

    def nearest2(self, x: float, y: float) -> float:
        """Squared distance to the nearest segment listed for the point's square (``inf`` if
        none is listed there)."""
        return _nearest2(self.squares.get((x // GRID_M) * _ROW + (y // GRID_M), ()), x, y, math.inf)

    def nearest_m(self, x: float, y: float) -> float:
        """Distance to the nearest listed segment (``inf`` if none is listed here)."""
        return math.sqrt(self.nearest2(x, y))

    def search_m(self, x: float, y: float, rings: int) -> float | None:
        """Distance to the nearest segment of the whole line, from the point's square and
        rings of squares around it, or ``None`` if ``rings`` rings do not settle it.

        Every segment is listed in each square it passes through, so the nearest point of a
        segment not met in rings ``0..k`` lies in a square of ring ``k + 1`` or beyond, at least
        ``k`` whole squares away: a best distance within ``k * GRID_M`` is the answer."""
        i0, j0 = x // GRID_M, y // GRID_M
        squares = self.squares
        best = math.inf
        for k in range(rings + 1):
            for di in range(-k, k + 1):
                step = 1 if di in (-k, k) else 2 * k  # whole edge rows, else the two sides
                for dj in range(-k, k + 1, step or 1):
                    best = _nearest2(squares.get((i0 + di) * _ROW + (j0 + dj), ()), x, y, best)
            if best <= (k * GRID_M) ** 2:
                return math.sqrt(best)
        return None


def _nearest2(segments: tuple[Segment, ...], x: float, y: float, best: float) -> float:
    """The smaller of ``best`` and the squared distance to the nearest of ``segments``."""
    for ax, ay, dx, dy, inv_len2 in segments:
        px, py = x - ax, y - ay
        t = (px * dx + py * dy) * inv_len2
        if t > 0.0:
            if t >= 1.0:
                px -= dx
                py -= dy
            else:
                px -= t * dx
                py -= t * dy
        d2 = px * px + py * py
        if d2 < best:
            best = d2
    return best


def _span(lo: float, hi: float) -> tuple[int, int]:
    return int(lo // GRID_M), int(hi // GRID_M)


Edge = tuple[float, float, float, float]  # ax, ay, bx, by
Ring = tuple[float, float, float, tuple[tuple[Edge, ...], ...]]  # ymin, ymax, bands/deg, bands


class RingTest:
    """Point in polygon (closed: edges count as inside) by ray crossings over lon/lat rings;
    ``None`` when the point is too near an edge to be sure, or the polygon too big.

    Each ring's edges are sorted into horizontal bands (an edge goes into every band its
    latitude range meets, and one more each side against rounding), so a point only looks at
    the few edges of its band: the only ones that can cross its ray or pass through it."""

    __slots__ = ("polygons",)

    def __init__(self, geom: shapely.Geometry) -> None:
        parts = list(getattr(geom, "geoms", [geom]))
        rings = [[list(p.exterior.coords), *(list(r.coords) for r in p.interiors)] for p in parts]
        self.polygons: list[list[Ring]] | None = None
        if sum(len(r) for p in rings for r in p) <= MAX_FAST_VERTICES:
            self.polygons = [[_banded(ring) for ring in p] for p in rings]

    def covers(self, x: float, y: float) -> bool | None:
        if self.polygons is None:
            return None
        inside_any = False
        for rings in self.polygons:
            inside = False
            for ymin, ymax, per_deg, bands in rings:
                if y < ymin or y > ymax:  # the ray meets no edge of this ring
                    continue
                k = int((y - ymin) * per_deg)
                crossed = _crossings(bands[k if k < len(bands) else -1], x, y)
                if crossed is None:
                    return None
                inside ^= crossed
            inside_any = inside_any or inside
        return inside_any

    def crosses_segment(self, x1: float, y1: float, x2: float, y2: float) -> bool | None:
        """Whether the segment meets an edge of any ring; ``None`` near a tie (an end on an
        edge, a touch at a vertex, collinear edges) or when the polygon is too big. Only the
        bands the segment's latitudes span are looked at."""
        if self.polygons is None:
            return None
        xlo, xhi = (x1, x2) if x1 <= x2 else (x2, x1)
        ylo, yhi = (y1, y2) if y1 <= y2 else (y2, y1)
        for rings in self.polygons:
            for ymin, ymax, per_deg, bands in rings:
                if yhi < ymin or ylo > ymax:
                    continue
                last = len(bands) - 1
                k_lo = min(max(int((ylo - ymin) * per_deg), 0), last)
                k_hi = min(int((yhi - ymin) * per_deg), last)
                for k in range(k_lo, k_hi + 1):
                    for ax, ay, bx, by in bands[k]:
                        if (ax if ax > bx else bx) < xlo or (ax if ax < bx else bx) > xhi:
                            continue
                        if (ay if ay > by else by) < ylo or (ay if ay < by else by) > yhi:
                            continue
                        met = _segments_meet(x1, y1, x2, y2, ax, ay, bx, by)
                        if met is None or met:
                            return met
        return False


def _side(ax: float, ay: float, bx: float, by: float, px: float, py: float) -> float | None:
    """Cross product of ``b - a`` and ``p - a`` (its sign says the side of p), or ``None`` when
    it is too small against the lengths for its sign to be sure."""
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    if abs(cross) <= TIE_REL * (abs(bx - ax) + abs(by - ay)) * (abs(px - ax) + abs(py - ay)):
        return None
    return cross


def _segments_meet(
    x1: float, y1: float, x2: float, y2: float, ax: float, ay: float, bx: float, by: float
) -> bool | None:
    """Proper crossing of two segments by orientation signs; ``None`` near a tie."""
    s1 = _side(ax, ay, bx, by, x1, y1)
    s2 = _side(ax, ay, bx, by, x2, y2)
    s3 = _side(x1, y1, x2, y2, ax, ay)
    s4 = _side(x1, y1, x2, y2, bx, by)
    if s1 is None or s2 is None or s3 is None or s4 is None:
        return None
    return (s1 > 0) != (s2 > 0) and (s3 > 0) != (s4 > 0)


def _banded(ring: list[tuple[float, float]]) -> Ring:
    edges = [(ax, ay, bx, by) for (ax, ay), (bx, by) in itertools.pairwise(ring)]
    ymin = min(y for _, y in ring)
    ymax = max(y for _, y in ring)
    n = max(1, len(edges))
    per_deg = n / (ymax - ymin) if ymax > ymin else 0.0
    bands: list[list[Edge]] = [[] for _ in range(n)]
    for edge in edges:
        lo = int((min(edge[1], edge[3]) - ymin) * per_deg) - 1
        hi = int((max(edge[1], edge[3]) - ymin) * per_deg) + 1
        for k in range(max(lo, 0), min(hi, n - 1) + 1):
            bands[k].append(edge)
    return ymin, ymax, per_deg, tuple(tuple(b) for b in bands)


def _crossings(edges: tuple[Edge, ...], x: float, y: float) -> bool | None:
    """Odd number of crossings of the ray to +x; ``None`` if the point is nearly on an edge."""
    odd = False
    for ax, ay, bx, by in edges:
        if (ay > y) != (by > y) or ay == y or by == y:
            cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
            scale = (abs(bx - ax) + abs(by - ay)) * (abs(x - ax) + abs(y - ay))
            if abs(cross) <= TIE_REL * scale:
                return None
            if (ay > y) != (by > y) and (cross > 0) == (by > ay):
                odd = not odd
    return odd
