"""Fence kinds and their exact membership tests.

Rule for points exactly on an edge: fences are closed sets, the boundary counts as inside.
Polygons use shapely's ``intersects`` on the original lon/lat geometry (RFC 7946 straight edges,
holes excluded but their rings included). Circles contain the points with
``sqrt(dx*dx + dy*dy) <= radius_m`` and corridors the points with
``shapely.distance(centre_line, point) <= half_width_m``, both measured in the fence's own
:class:`LocalProjection` (see there for the accuracy of those metres).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import shapely
from numpy.typing import NDArray

from tracker.geofence.exact import TIE_M, RingTest, SegmentGrid
from tracker.geofence.projection import FloatArray, LocalProjection

BoolArray = NDArray[np.bool_]
FenceKey = tuple[str, str]

# GEOS puts buffer vertices on the arc, so a polygonal buffer lies inside the true one; dividing
# the radius by cos(half the chord angle) makes it enclose the true one.
_QUAD_SEGS = 8
_CHORD_FACTOR = 1.0 / math.cos(math.pi / (4 * _QUAD_SEGS))
# Edges no longer than this keep H3's (geodesic) and RFC 7946's (straight in lon/lat) notion of
# an edge within ~0.02 m of each other at mid latitudes, well inside the covers' margin.
_SEGMENTIZE_M = 1000.0


class Fence(ABC):
    """A geofence: an id, a kind and an exact closed region."""

    kind: ClassVar[str]
    __slots__ = ("fence_id", "key", "projection", "role")

    def __init__(self, fence_id: str, projection: LocalProjection, role: str) -> None:
        self.fence_id = fence_id
        self.key: FenceKey = (fence_id, self.kind)
        self.projection = projection
        self.role = role

    @abstractmethod
    def covers_xy(self, lon: float, lat: float) -> bool: ...

    @abstractmethod
    def covers_many(self, lons: FloatArray, lats: FloatArray) -> BoolArray: ...

    @abstractmethod
    def intersects_segment(self, lon1: float, lat1: float, lon2: float, lat2: float) -> bool: ...

    @abstractmethod
    def metric_shape(self, grow_m: float) -> shapely.Geometry:
        """Points within ``grow_m`` of the fence (``grow_m < 0``: deeper than ``-grow_m``
        inside), as a polygon in the metric frame that encloses (grows) or lies within (shrinks)
        the true set. Empty when nothing is left."""

    @property
    @abstractmethod
    def size_m(self) -> float:
        """A characteristic half-width, used to pick the H3 resolution."""

    @abstractmethod
    def geometry_geojson(self) -> dict[str, Any]: ...

    def lonlat_shape(self, grow_m: float) -> shapely.Geometry:
        shape = shapely.segmentize(self.metric_shape(grow_m), _SEGMENTIZE_M)
        return self.projection.to_lonlat(shape)

    def bounds(self) -> tuple[float, float, float, float]:
        minx, miny, maxx, maxy = self.lonlat_shape(0.0).bounds
        return float(minx), float(miny), float(maxx), float(maxy)

    def to_geojson(self) -> dict[str, Any]:
        props: dict[str, Any] = {"kind": self.kind, "role": self.role}
        props.update(self._extra_properties())
        return {
            "type": "Feature",
            "id": self.fence_id,
            "geometry": self.geometry_geojson(),
            "properties": props,
        }

    def _extra_properties(self) -> dict[str, Any]:
        return {}


def _round_radius(radius_m: float, grow_m: float) -> float:
    """Buffer radius for a round shape (disk, line buffer) of true radius ``radius_m``: chords
    already lie inside when shrinking; when growing, push the vertices out so chords enclose."""
    return radius_m if grow_m <= 0 else radius_m * _CHORD_FACTOR


class PolygonFence(Fence):
    kind = "polygon"
    __slots__ = ("geom", "metric", "rings")

    def __init__(self, fence_id: str, geom: shapely.Geometry, role: str = "") -> None:
        minx, miny, maxx, maxy = geom.bounds
        super().__init__(
            fence_id, LocalProjection.around((minx + maxx) / 2, (miny + maxy) / 2), role
        )
        self.geom = geom
        self.metric = self.projection.to_metric(geom)
        self.rings = RingTest(geom)
        shapely.prepare(self.geom)

    def bounds(self) -> tuple[float, float, float, float]:
        minx, miny, maxx, maxy = self.geom.bounds
        return float(minx), float(miny), float(maxx), float(maxy)

    def covers_xy(self, lon: float, lat: float) -> bool:
        fast = self.rings.covers(lon, lat)
        if fast is not None:
            return fast
        return bool(shapely.intersects_xy(self.geom, lon, lat))

    def covers_many(self, lons: FloatArray, lats: FloatArray) -> BoolArray:
        return np.asarray(shapely.intersects_xy(self.geom, lons, lats), dtype=np.bool_)

    def intersects_segment(self, lon1: float, lat1: float, lon2: float, lat2: float) -> bool:
        """An edge crossed, or else (the segment then lies wholly in or out) its start inside;
        GEOS decides near a tie and for polygons too big for the ring test."""
        crossed = self.rings.crosses_segment(lon1, lat1, lon2, lat2)
        if crossed:
            return True
        if crossed is not None:
            inside = self.rings.covers(lon1, lat1)
            if inside is not None:
                return inside
        return self._geos_intersects_segment(lon1, lat1, lon2, lat2)

    def _geos_intersects_segment(self, lon1: float, lat1: float, lon2: float, lat2: float) -> bool:
        return bool(self.geom.intersects(shapely.LineString([(lon1, lat1), (lon2, lat2)])))

    def metric_shape(self, grow_m: float) -> shapely.Geometry:
        # Arcs appear at convex corners when growing and at reflex corners when shrinking; both
        # need the vertices pushed past the arc.
        return self.metric.buffer(grow_m * _CHORD_FACTOR, quad_segs=_QUAD_SEGS)

    @property
    def size_m(self) -> float:
        return float(2.0 * self.metric.area / max(self.metric.length, 1e-9))

    def geometry_geojson(self) -> dict[str, Any]:
        return _lists(shapely.geometry.mapping(self.geom))


class CircleFence(Fence):
    kind = "circle"
    __slots__ = ("_fast", "radius_m")

    def __init__(
        self, fence_id: str, lon: float, lat: float, radius_m: float, role: str = ""
    ) -> None:
        super().__init__(fence_id, LocalProjection.around(lon, lat), role)
        self.radius_m = radius_m
        p = self.projection
        self._fast = (p.lon0, p.lat0, p.kx, p.ky, radius_m)

    def distance_m(self, lon: float, lat: float) -> float:
        dx, dy = self.projection.xy(lon, lat)
        return math.sqrt(dx * dx + dy * dy)

    def covers_xy(self, lon: float, lat: float) -> bool:
        # distance_m inlined (the same arithmetic): this runs on the single-fix hot path
        lon0, lat0, kx, ky, radius_m = self._fast
        dx, dy = (lon - lon0) * kx, (lat - lat0) * ky
        return math.sqrt(dx * dx + dy * dy) <= radius_m

    def covers_many(self, lons: FloatArray, lats: FloatArray) -> BoolArray:
        dx, dy = self.projection.xy_many(lons, lats)
        result: BoolArray = np.sqrt(dx * dx + dy * dy) <= self.radius_m
        return result

    def intersects_segment(self, lon1: float, lat1: float, lon2: float, lat2: float) -> bool:
        """Distance from the centre to the segment against the radius, in the fence's frame;
        within ``TIE_M`` of the radius, GEOS decides (the engine runs this per fix near a
        zone, and a shapely call costs microseconds)."""
        lon0, lat0, kx, ky, radius_m = self._fast
        ax, ay = (lon1 - lon0) * kx, (lat1 - lat0) * ky
        dx, dy = (lon2 - lon0) * kx - ax, (lat2 - lat0) * ky - ay
        len2 = dx * dx + dy * dy
        t = -(ax * dx + ay * dy) / len2 if len2 > 0.0 else 0.0
        if t > 0.0:
            if t >= 1.0:
                ax += dx
                ay += dy
            else:
                ax += t * dx
                ay += t * dy
        distance = math.sqrt(ax * ax + ay * ay)
        if abs(distance - radius_m) > TIE_M:
            return distance <= radius_m
        return self._geos_intersects_segment(lon1, lat1, lon2, lat2)

    def _geos_intersects_segment(self, lon1: float, lat1: float, lon2: float, lat2: float) -> bool:
        seg = shapely.LineString([self.projection.xy(lon1, lat1), self.projection.xy(lon2, lat2)])
        return bool(shapely.distance(shapely.Point(0.0, 0.0), seg) <= self.radius_m)

    def metric_shape(self, grow_m: float) -> shapely.Geometry:
        radius = self.radius_m + grow_m
        if radius <= 0:
            return shapely.Polygon()
        return shapely.Point(0.0, 0.0).buffer(_round_radius(radius, grow_m), quad_segs=_QUAD_SEGS)

    @property
    def size_m(self) -> float:
        return self.radius_m

    def geometry_geojson(self) -> dict[str, Any]:
        return {"type": "Point", "coordinates": [self.projection.lon0, self.projection.lat0]}

    def _extra_properties(self) -> dict[str, Any]:
        return {"radius_m": self.radius_m}


class CorridorFence(Fence):
    kind = "corridor"
    __slots__ = ("_fast", "grid", "half_width_m", "line", "line_m")

    def __init__(
        self, fence_id: str, line: shapely.LineString, half_width_m: float, role: str = ""
    ) -> None:
        minx, miny, maxx, maxy = line.bounds
        super().__init__(
            fence_id, LocalProjection.around((minx + maxx) / 2, (miny + maxy) / 2), role
        )
        self.line = line
        self.half_width_m = half_width_m
        self.line_m = self.projection.to_metric(line)
        shapely.prepare(self.line_m)
        xy = [(float(x), float(y)) for x, y in shapely.get_coordinates(self.line_m)]
        self.grid = SegmentGrid(xy, half_width_m + 1.0)
        p = self.projection
        inside2 = (half_width_m - TIE_M) ** 2 if half_width_m > TIE_M else -1.0
        self._fast = (p.lon0, p.lat0, p.kx, p.ky, inside2, (half_width_m + TIE_M) ** 2)

    def distance_m(self, lon: float, lat: float) -> float:
        x, y = self.projection.xy(lon, lat)
        return float(shapely.distance(self.line_m, shapely.Point(x, y)))

    def covers_xy(self, lon: float, lat: float) -> bool:
        """Squared distance to the segments near the point against the half-width squared;
        within ``TIE_M`` of the half-width, GEOS decides."""
        lon0, lat0, kx, ky, inside2, outside2 = self._fast
        near2 = self.grid.nearest2((lon - lon0) * kx, (lat - lat0) * ky)
        if near2 <= inside2:
            return True
        if near2 >= outside2:
            return False
        return self.distance_m(lon, lat) <= self.half_width_m

    def covers_many(self, lons: FloatArray, lats: FloatArray) -> BoolArray:
        xs, ys = self.projection.xy_many(lons, lats)
        result: BoolArray = (
            shapely.distance(self.line_m, shapely.points(xs, ys)) <= self.half_width_m
        )
        return result

    def intersects_segment(self, lon1: float, lat1: float, lon2: float, lat2: float) -> bool:
        seg = shapely.LineString([self.projection.xy(lon1, lat1), self.projection.xy(lon2, lat2)])
        return bool(shapely.distance(self.line_m, seg) <= self.half_width_m)

    def metric_shape(self, grow_m: float) -> shapely.Geometry:
        radius = self.half_width_m + grow_m
        if radius <= 0:
            return shapely.Polygon()
        return self.line_m.buffer(_round_radius(radius, grow_m), quad_segs=_QUAD_SEGS)

    @property
    def size_m(self) -> float:
        return self.half_width_m

    def geometry_geojson(self) -> dict[str, Any]:
        return _lists(shapely.geometry.mapping(self.line))

    def _extra_properties(self) -> dict[str, Any]:
        return {"half_width_m": self.half_width_m}


def _lists(mapping: Any) -> dict[str, Any]:
    out: dict[str, Any] = _listify(mapping)
    return out


def _listify(value: Any) -> Any:
    """shapely's mapping uses tuples; GeoJSON readers expect arrays."""
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_listify(v) for v in value]
    return value
