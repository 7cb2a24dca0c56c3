"""Places trucks drive between: construction sites (origins) and a disposal yard."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.ops import nearest_points

from tracker.geo import EARTH_RADIUS_M
from tracker.roads.landuse import LanduseArea
from tracker.roads.network import RoadNetwork

ORIGIN_KINDS = ("construction",)
YARD_KINDS = ("quarry", "landfill")
INWARD_M = 15.0  # trucks park this far inside the boundary, so fences see them inside
FALLBACK_RADIUS_M = 60.0


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    kind: str  # "construction" | "quarry" | "landfill"
    polygon: Polygon  # lon/lat
    node: int  # road node trucks enter and leave by
    dwell_lon: float  # where trucks stand while loading or tipping
    dwell_lat: float


def _metres_to_degrees(distance_m: float, lat: float) -> tuple[float, float]:
    """(dlon, dlat) in degrees for a distance in metres at latitude ``lat``."""
    dlat = math.degrees(distance_m / EARTH_RADIUS_M)
    return dlat / max(math.cos(math.radians(lat)), 1e-6), dlat


def _dwell_point(polygon: Polygon, lon: float, lat: float) -> tuple[float, float]:
    """The point of ``polygon`` nearest to the gate, ``INWARD_M`` inside if the polygon allows."""
    inward_deg = _metres_to_degrees(INWARD_M, lat)[1]
    inner = polygon.buffer(-inward_deg)
    target = inner if not inner.is_empty else polygon
    gate = Point(lon, lat)
    if target.contains(gate):
        return lon, lat
    point = nearest_points(target, gate)[0]
    if not polygon.contains(point):
        point = polygon.representative_point()
    return point.x, point.y


def place_from_area(network: RoadNetwork, area: LanduseArea, fallback_name: str) -> Place:
    distances_m = network.nodes_near_polygon(area.polygon)
    nearest_m = float(distances_m.min())
    candidates = np.flatnonzero(distances_m <= nearest_m + 1.0)
    centre = area.polygon.centroid
    # Of the equally near nodes (several may lie inside), take the one nearest the centre.
    node = min(
        (int(c) for c in candidates),
        key=lambda n: (network.lons[n] - centre.x) ** 2 + (network.lats[n] - centre.y) ** 2,
    )
    dwell_lon, dwell_lat = _dwell_point(area.polygon, *network.coord(node))
    return Place(area.name or fallback_name, area.kind, area.polygon, node, dwell_lon, dwell_lat)


def place_at_node(network: RoadNetwork, node: int, name: str, kind: str) -> Place:
    lon, lat = network.coord(node)
    dlon, dlat = _metres_to_degrees(FALLBACK_RADIUS_M, lat)
    circle = shapely.affinity.scale(Point(lon, lat).buffer(dlat), xfact=dlon / dlat, yfact=1.0)
    return Place(name, kind, circle, node, lon, lat)


def _fallback_places(network: RoadNetwork, n_sites: int) -> tuple[list[Place], Place]:
    """Without landuse: the yard at the node farthest from the centre, sites spread around."""
    lons, lats = np.asarray(network.lons), np.asarray(network.lats)
    centre_node = network.nearest_node(float(lons.mean()), float(lats.mean()))
    d2 = (lons - lons.mean()) ** 2 + (lats - lats.mean()) ** 2
    yard = place_at_node(network, int(np.argmax(d2)), "Disposal yard", "landfill")
    sites = [place_at_node(network, centre_node, "Site 1", "construction")]
    step = max(1, len(network) // (n_sites + 1))
    for i in range(1, n_sites):
        sites.append(
            place_at_node(network, (i * step) % len(network), f"Site {i + 1}", ORIGIN_KINDS[0])
        )
    return sites, yard


def demo_places(
    network: RoadNetwork, landuse: list[LanduseArea], n_fallback_sites: int = 3
) -> tuple[list[Place], Place]:
    """Origins from construction landuse, the yard from the largest quarry or landfill."""
    yards = [a for a in landuse if a.kind in YARD_KINDS]
    origins = [a for a in landuse if a.kind in ORIGIN_KINDS]
    if not yards or not origins:
        return _fallback_places(network, n_fallback_sites)
    yard_area = max(yards, key=lambda a: a.polygon.area)
    yard = place_from_area(network, yard_area, f"{yard_area.kind.title()} {yard_area.osm_id}")
    sites = [
        place_from_area(network, a, f"Construction site {i + 1}") for i, a in enumerate(origins)
    ]
    sites = [s for s in sites if s.node != yard.node]
    return sites, yard
