"""Annotation: a fix plus what the in-memory geofence index says about it (no database).

The per-fix cost matters (it runs once per fix of the fleet), so:

- the zones' bounding boxes sit on a coarse lon/lat grid, cached per registry view and index
  snapshot: the rules only use the segment events of zones (a segment that crossed a zone
  between two fixes), so a segment whose box meets no zone's box needs no geometry at all;
- the city's other corridors in a point's answer are skipped unread; the vehicle's permit
  corridors are measured with the corridor fence's own segment grid, exact within its reach
  (half-width + 1 m), and with the exact shapely distance only farther out (a deviation).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tracker.geofence import GeofenceIndex
from tracker.geofence.fences import CorridorFence, Fence
from tracker.trips.core.models import AnnotatedFix, SegmentEvent, VehicleContext
from tracker.trips.core.view import RegistryView
from tracker.wire import Fix

CELL_DEG = 0.01  # zone-box grid cell (about 1 km)
EMPTY: frozenset[str] = frozenset()
# Point lookups of the engine's index skip corridors: the rules use the permit's own corridor
# distances (measured below), never the city's other corridors.
POINT_SKIP_KINDS = frozenset({"corridor"})
FAR_RINGS = 2  # squares searched around a fix off its corridor before asking GEOS


def engine_index(fences: Iterable[Fence] = ()) -> GeofenceIndex:
    """The geofence index an engine worker annotates with (see ``POINT_SKIP_KINDS``)."""
    return GeofenceIndex(fences, point_skip_kinds=POINT_SKIP_KINDS)


@dataclass(slots=True)
class _ZoneBox:
    fence: Fence
    zone_id: str
    minx: float
    miny: float
    maxx: float
    maxy: float


@dataclass(slots=True)
class _ZoneGrid:
    """Zone fences by grid cell, for one registry view and one index snapshot."""

    view: RegistryView
    lookup: object  # the index's ``containing`` at build time: it is re-bound at each swap
    cells: dict[tuple[int, int], list[_ZoneBox]] = field(default_factory=dict)
    # Each vehicle's last annotated point and its zones: the next segment starts there, so its
    # start needs no geometry. Valid for this grid's view and snapshot only, as the grid is.
    last: dict[int, tuple[float, float, frozenset[str]]] = field(default_factory=dict)

    @staticmethod
    def build(index: GeofenceIndex, view: RegistryView) -> _ZoneGrid:
        grid = _ZoneGrid(view, index.containing)
        for fence_id, (role, registry_id) in view.fence_roles.items():
            fence = index.get(fence_id) if role == "zone" else None
            if fence is None:
                continue
            minx, miny, maxx, maxy = fence.bounds()
            box = _ZoneBox(fence, registry_id, minx, miny, maxx, maxy)
            for i in range(int(minx // CELL_DEG), int(maxx // CELL_DEG) + 1):
                for j in range(int(miny // CELL_DEG), int(maxy // CELL_DEG) + 1):
                    grid.cells.setdefault((i, j), []).append(box)
        return grid

    def events(
        self,
        lon1: float,
        lat1: float,
        lon2: float,
        lat2: float,
        now_in: frozenset[str],
        was_in: frozenset[str] | None = None,
    ) -> tuple[tuple[str, SegmentEvent], ...]:
        """``now_in``: the zones the end point is in (the caller's point lookup); ``was_in``:
        those of the start point when known (else each zone near it is tested)."""
        minx, maxx = (lon1, lon2) if lon1 <= lon2 else (lon2, lon1)
        miny, maxy = (lat1, lat2) if lat1 <= lat2 else (lat2, lat1)
        seen: set[str] = set()
        out: list[tuple[str, SegmentEvent]] = []
        cells = self.cells
        for i in range(int(minx // CELL_DEG), int(maxx // CELL_DEG) + 1):
            for j in range(int(miny // CELL_DEG), int(maxy // CELL_DEG) + 1):
                for box in cells.get((i, j), ()):
                    if box.zone_id in seen:
                        continue
                    if box.maxx < minx or box.minx > maxx or box.maxy < miny or box.miny > maxy:
                        continue
                    seen.add(box.zone_id)
                    fence = box.fence
                    now = box.zone_id in now_in
                    was = fence.covers_xy(lon1, lat1) if was_in is None else box.zone_id in was_in
                    if was and not now:
                        out.append((box.zone_id, "exit"))
                    elif now and not was:
                        out.append((box.zone_id, "enter"))
                    elif not was and fence.intersects_segment(lon1, lat1, lon2, lat2):
                        out.append((box.zone_id, "cross"))
        return tuple(out)


def _zone_grid(index: GeofenceIndex, view: RegistryView) -> _ZoneGrid:
    """The view's zone grid for this index: built once per view and index snapshot, kept on the
    view (which lives as long as the registry it describes), not in module state."""
    grid = view.derived.get("zone_grid")
    # ``==``: the index re-binds ``containing`` at each snapshot swap (a bound method of
    # another lookup object compares equal while its object and function are the same).
    if isinstance(grid, _ZoneGrid) and grid.lookup == index.containing:
        return grid
    grid = _ZoneGrid.build(index, view)
    view.derived["zone_grid"] = grid
    return grid


def corridor_distance_m(fence: CorridorFence, lon: float, lat: float) -> float:
    """Distance to the corridor's centre line: the fence's segment grid is exact within its
    reach (half-width + 1 m); beyond it, its ring search (exact, a few squares around the
    point), and farther out the exact shapely distance."""
    x, y = fence.projection.xy(lon, lat)
    near_m = fence.grid.nearest_m(x, y)
    if near_m <= fence.half_width_m + 1.0:
        return near_m
    far_m = fence.grid.search_m(x, y, FAR_RINGS)
    return far_m if far_m is not None else fence.distance_m(lon, lat)


def annotate(
    index: GeofenceIndex,
    view: RegistryView,
    ctx: VehicleContext,
    fix: Fix,
    prev_lon_lat: tuple[float, float] | None,
    t_us: int | None = None,
    received_us: int | None = None,
) -> AnnotatedFix:
    """Sites, yards and zones the fix is in (by registry id), distances to the vehicle's permit
    corridors (and those it is within), and the zones the segment from the previous fix
    entered, left or crossed (the only segment events the rules use). Other corridors of the
    city are not looked at."""
    lon, lat = fix.lon, fix.lat
    sites = yards = zones = EMPTY
    roles = view.fence_roles
    for fence_id, kind in index.containing(lon, lat):
        if kind == "corridor":  # only from an index that holds their cells (not engine_index)
            continue
        role = roles.get(fence_id)
        if role is None:
            continue
        place, registry_id = role
        if place == "site":
            sites = sites | {registry_id}
        elif place == "yard":
            yards = yards | {registry_id}
        elif place == "zone":
            zones = zones | {registry_id}
    distances: dict[str, float] = {}
    corridors = EMPTY
    for fence_id in ctx.corridor_ids:
        fence = index.get(fence_id)
        if isinstance(fence, CorridorFence):
            distance = distances[fence_id] = corridor_distance_m(fence, lon, lat)
            if distance <= fence.half_width_m:
                corridors = corridors | {fence_id}
    events: tuple[tuple[str, SegmentEvent], ...] = ()
    grid = _zone_grid(index, view)
    if grid.cells:
        vehicle_id = ctx.vehicle_id
        if prev_lon_lat is not None and prev_lon_lat != (lon, lat):
            known = grid.last.get(vehicle_id)
            was_in = None
            if known is not None and known[0] == prev_lon_lat[0] and known[1] == prev_lon_lat[1]:
                was_in = known[2]
            events = grid.events(prev_lon_lat[0], prev_lon_lat[1], lon, lat, zones, was_in)
        grid.last[vehicle_id] = (lon, lat, zones)
    return AnnotatedFix(
        fix=fix,
        site_ids=sites,
        yard_ids=yards,
        zone_ids=zones,
        corridor_ids=corridors,
        corridor_distance_m=distances,
        segment_events=events,
        t_us=t_us,
        received_us=received_us,
    )
