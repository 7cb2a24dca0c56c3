"""A synthetic city for ``tracker bench geofence``.

The Monaco extract that ``tracker.roads.network`` reads is about 2 km², too small for 5-40 km permit
routes, so the bench draws its own road-like network in a 40 x 40 km box: a jittered grid of
arterials 800 m apart (node jitter shared by every route through a node, so routes overlap on
the same roads as real permits do). Corridors are random walks on it (mostly straight, turns and
the odd U-turn); sites and yards are star-shaped (often concave) polygons beside roads; no-go
zones are half circles, half polygons; fixes lie mostly on routes and roads with GPS-like noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from tracker.geofence.fences import CircleFence, CorridorFence, Fence, PolygonFence
from tracker.geofence.projection import LocalProjection

CENTRE_LON, CENTRE_LAT = 9.19, 45.46
BOX_M = 40_000.0
SPACING_M = 800.0
_STEPS = ((1, 0), (0, 1), (-1, 0), (0, -1))


@dataclass(frozen=True, slots=True)
class City:
    fences: list[Fence]
    lons: np.ndarray
    lats: np.ndarray
    counts: dict[str, int]


class _Grid:
    def __init__(self, rng: np.random.Generator) -> None:
        self.n = int(BOX_M // SPACING_M) + 1
        self.jitter = rng.normal(0.0, 40.0, size=(self.n, self.n, 2))
        self.proj = LocalProjection.around(CENTRE_LON, CENTRE_LAT)

    def xy(self, i: int, j: int) -> tuple[float, float]:
        dx, dy = self.jitter[i, j]
        return i * SPACING_M - BOX_M / 2 + dx, j * SPACING_M - BOX_M / 2 + dy

    def walk(self, rng: np.random.Generator, length_m: float) -> list[tuple[float, float]]:
        i, j = (int(v) for v in rng.integers(0, self.n, 2))
        heading = int(rng.integers(0, 4))
        points, done = [self.xy(i, j)], 0.0
        while done < length_m:
            u = rng.random()
            heading = (heading + (0 if u < 0.7 else 1 if u < 0.84 else 3 if u < 0.98 else 2)) % 4
            di, dj = _STEPS[heading]
            if not (0 <= i + di < self.n and 0 <= j + dj < self.n):
                heading = (heading + 2) % 4
                di, dj = _STEPS[heading]
            i, j = i + di, j + dj
            points.append(self.xy(i, j))
            done += SPACING_M
        return points

    def lonlat(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return xs / self.proj.kx + self.proj.lon0, ys / self.proj.ky + self.proj.lat0


def _star(rng: np.random.Generator, cx: float, cy: float, across_m: float) -> shapely.Polygon:
    k = int(rng.integers(5, 11))
    angles = np.sort(rng.uniform(0, 2 * math.pi, k))
    radii = across_m / 2 * rng.uniform(0.45, 1.0, k)
    return shapely.Polygon(
        np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)])
    )


def _areas(
    grid: _Grid, rng: np.random.Generator, n: int, lo_m: float, hi_m: float, tag: str
) -> list[PolygonFence]:
    fences: list[PolygonFence] = []
    while len(fences) < n:
        across = float(rng.uniform(lo_m, hi_m))
        x, y = grid.xy(*(int(v) for v in rng.integers(1, grid.n - 1, 2)))
        side = across / 2 + 25.0
        cx, cy = x + rng.choice([-side, side]), y + rng.uniform(-SPACING_M / 2, SPACING_M / 2)
        poly = _star(rng, cx, cy, across)
        if not poly.is_valid:
            continue
        geom = grid.proj.to_lonlat(poly)
        fences.append(PolygonFence(f"{tag}-{len(fences)}", geom, role=tag))
    return fences


def _zones(grid: _Grid, rng: np.random.Generator, n: int) -> list[Fence]:
    fences: list[Fence] = []
    while len(fences) < n:
        across = float(rng.uniform(1_000, 5_000))
        cx, cy = rng.uniform(-BOX_M / 2 + 3000, BOX_M / 2 - 3000, 2)
        if len(fences) % 2:
            lon, lat = grid.lonlat(np.array([cx]), np.array([cy]))
            fences.append(
                CircleFence(f"zone-{len(fences)}", float(lon[0]), float(lat[0]), across / 2, "zone")
            )
            continue
        poly = _star(rng, cx, cy, across)
        if poly.is_valid:
            fences.append(PolygonFence(f"zone-{len(fences)}", grid.proj.to_lonlat(poly), "zone"))
    return fences


def _corridors(grid: _Grid, rng: np.random.Generator, n: int) -> list[CorridorFence]:
    fences: list[CorridorFence] = []
    for k in range(n):
        xy = np.array(grid.walk(rng, float(rng.uniform(5_000, 40_000))))
        lon, lat = grid.lonlat(xy[:, 0], xy[:, 1])
        line = shapely.LineString(np.column_stack([lon, lat]))
        fences.append(CorridorFence(f"route-{k}", line, float(rng.uniform(30, 100)), "permit"))
    return fences


def _along(rng: np.random.Generator, lines: list[np.ndarray], n: int, noise_m: float) -> np.ndarray:
    """``n`` points uniform along random polylines (metric), with Gaussian lateral noise."""
    picks = rng.integers(0, len(lines), n)
    out = np.empty((n, 2))
    for k in np.unique(picks).tolist():
        sel = np.flatnonzero(picks == k)
        line = shapely.LineString(lines[k])
        pts = shapely.line_interpolate_point(line, rng.uniform(0, line.length, sel.size))
        out[sel] = shapely.get_coordinates(pts)
    return out + rng.normal(0.0, noise_m, size=out.shape)


def build_city(n_fixes: int, scale: float = 1.0, seed: int = 7) -> City:
    rng = np.random.default_rng(seed)
    grid = _Grid(rng)
    sites = _areas(grid, rng, int(5000 * scale), 50, 500, "site")
    yards = _areas(grid, rng, int(200 * scale), 200, 2000, "yard")
    zones = _zones(grid, rng, max(2, int(100 * scale)))
    routes = _corridors(grid, rng, int(3000 * scale))
    fences: list[Fence] = [*sites, *yards, *zones, *routes]
    route_xy = [np.column_stack(grid.proj.xy_many(*np.asarray(r.line.coords).T)) for r in routes]
    roads = [np.array([grid.xy(i, j) for j in range(grid.n)]) for i in range(0, grid.n, 3)]
    n_route, n_road, n_area = int(n_fixes * 0.6), int(n_fixes * 0.15), int(n_fixes * 0.15)
    areas = [np.asarray(grid.proj.to_metric(f.geom).exterior.coords) for f in sites + yards]
    parts = [
        _along(rng, route_xy, n_route, 4.0),
        _along(rng, roads, n_road, 4.0),
        _along(rng, areas, n_area, 60.0),
        rng.uniform(-BOX_M / 2, BOX_M / 2, size=(n_fixes - n_route - n_road - n_area, 2)),
    ]
    xy = np.concatenate(parts)[rng.permutation(n_fixes)]
    lons, lats = grid.lonlat(xy[:, 0], xy[:, 1])
    counts = {
        "sites": len(sites),
        "yards": len(yards),
        "zones": len(zones),
        "corridors": len(routes),
    }
    return City(fences, lons, lats, counts)
