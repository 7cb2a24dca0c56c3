"""Annotation: a fix plus what the in-memory geofence index says about it (no database)."""

from __future__ import annotations

from collections.abc import Iterable

from tracker.geofence import GeofenceIndex
from tracker.ingest.models import Fix
from tracker.trips.context import RegistryView
from tracker.trips.models import AnnotatedFix, SegmentEvent, VehicleContext

_NOT_PLACES = frozenset({"corridor"})  # corridor events go unused: the rules use distances


def annotate(
    index: GeofenceIndex,
    view: RegistryView,
    ctx: VehicleContext,
    fix: Fix,
    prev_lon_lat: tuple[float, float] | None,
) -> AnnotatedFix:
    """Sites, yards and zones the fix is in (by registry id), distances to the vehicle's permit
    corridors, and the places/zones the segment from the previous fix entered, left or crossed."""
    sites: set[str] = set()
    yards: set[str] = set()
    zones: set[str] = set()
    corridors: set[str] = set()
    buckets = {"site": sites, "yard": yards, "zone": zones, "corridor": corridors}
    for fence_id, _kind in index.containing(fix.lon, fix.lat):
        role = view.fence_roles.get(fence_id)
        if role is not None:
            buckets[role[0]].add(role[1])
    distances: dict[str, float] = {}
    for scope in ctx.permits:
        for fence_id in scope.corridors:
            if fence_id not in distances and index.get(fence_id) is not None:
                distances[fence_id] = index.corridor_distance_m(fence_id, fix.lon, fix.lat)
    events: tuple[tuple[str, SegmentEvent], ...] = ()
    if prev_lon_lat is not None and prev_lon_lat != (fix.lon, fix.lat):
        raw = index.segment_events(
            prev_lon_lat[0], prev_lon_lat[1], fix.lon, fix.lat, skip_kinds=_NOT_PLACES
        )
        events = tuple(_by_registry_id(view, raw))
    return AnnotatedFix(
        fix=fix,
        site_ids=frozenset(sites),
        yard_ids=frozenset(yards),
        zone_ids=frozenset(zones),
        corridor_ids=frozenset(corridors),
        corridor_distance_m=distances,
        segment_events=events,
    )


def _by_registry_id(
    view: RegistryView, raw: Iterable[tuple[str, SegmentEvent]]
) -> Iterable[tuple[str, SegmentEvent]]:
    for fence_id, event in raw:
        role = view.fence_roles.get(fence_id)
        if role is not None and role[0] != "corridor":
            yield role[1], event
