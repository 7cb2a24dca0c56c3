"""Geofence engine: exact fences (polygon, circle, corridor) behind an H3 cell index.

See docs/ARCHITECTURE.md §5. Edge rule: fences are closed, a point exactly on an edge is inside.
"""

from tracker.geofence.batch import BatchResult
from tracker.geofence.errors import GeometryError
from tracker.geofence.fences import CircleFence, CorridorFence, Fence, FenceKey, PolygonFence
from tracker.geofence.geojson import fence_from_feature, fence_from_geojson
from tracker.geofence.index import Change, Event, GeofenceIndex, Remove, Upsert

__all__ = [
    "BatchResult",
    "Change",
    "CircleFence",
    "CorridorFence",
    "Event",
    "Fence",
    "FenceKey",
    "GeofenceIndex",
    "GeometryError",
    "PolygonFence",
    "Remove",
    "Upsert",
    "fence_from_feature",
    "fence_from_geojson",
]
