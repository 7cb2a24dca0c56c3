"""Proposing a corridor: the shortest path on the road network from an origin site to a yard
that avoids the no-go zones in force.

Pure: the road network and plain geometries in, a line out. The network is read once per
process from the imported OpenStreetMap extract (``tracker import osm``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from tracker.errors import Unavailable
from tracker.geofence.projection import LocalProjection
from tracker.roads import DEMO_PBF, ROADS_PBF
from tracker.roads.network import RoadNetwork
from tracker.settings import Settings


def road_network_path(settings: Settings) -> Path:
    """The imported road network (``tracker import osm``), else the demo city's extract."""
    if settings.road_network_pbf:
        candidates = [Path(settings.road_network_pbf)]
    else:
        data = Path(settings.data_dir)
        candidates = [data / ROADS_PBF, data / DEMO_PBF]
    for path in candidates:
        if path.is_file():
            return path
    raise Unavailable("no road network imported yet (tracker import osm FILE.pbf)")


class NoRoute(ValueError):
    """No path joins the two places without entering a no-go zone."""


@dataclass(frozen=True, slots=True)
class Proposal:
    coordinates: list[tuple[float, float]]  # lon, lat
    length_m: float
    avoided_zone_ids: list[int]
    start_gap_m: float  # from the origin polygon to the first road node
    end_gap_m: float


@functools.lru_cache(maxsize=2)
def road_network(pbf: Path) -> RoadNetwork:
    return RoadNetwork.from_pbf(pbf)


def blocked_edges(network: RoadNetwork, zones: Sequence[dict[str, Any]]) -> set[tuple[int, int]]:
    """Directed edges whose straight segment touches any of ``zones`` (GeoJSON polygons)."""
    if not zones:
        return set()
    area = shapely.union_all([shape(z) for z in zones])
    shapely.prepare(area)
    pairs = [(a, e.target) for a, edges in enumerate(network.adjacency) for e in edges]
    if not pairs:
        return set()
    lons, lats = np.asarray(network.lons), np.asarray(network.lats)
    idx = np.asarray(pairs)
    coords = np.stack(
        [
            np.column_stack([lons[idx[:, 0]], lats[idx[:, 0]]]),
            np.column_stack([lons[idx[:, 1]], lats[idx[:, 1]]]),
        ],
        axis=1,
    )
    hit = shapely.intersects(area, shapely.linestrings(coords))
    return {pairs[i] for i in np.flatnonzero(hit)}


def shortest_path(
    network: RoadNetwork, source: int, target: int, blocked: set[tuple[int, int]]
) -> list[int]:
    """The shortest road path by distance over the edges not in ``blocked``."""
    try:
        return network.path_avoiding(source, target, blocked)
    except ValueError:
        raise NoRoute("no road joins the site and the yard without entering a no-go zone") from None


def _entry_node(
    network: RoadNetwork, area: dict[str, Any], blocked_nodes: set[int]
) -> tuple[int, float]:
    distances = network.nodes_near_polygon(shape(area))
    if blocked_nodes:
        distances = distances.copy()
        distances[list(blocked_nodes)] = np.inf
    node = int(np.argmin(distances))
    return node, float(distances[node])


def grown(area: dict[str, Any], grow_m: float) -> dict[str, Any]:
    """A GeoJSON polygon grown by ``grow_m`` metres (so a corridor's width keeps clear of it)."""
    geom = shape(area)
    proj = LocalProjection.around(*geom.centroid.coords[0])
    bigger = proj.to_lonlat(proj.to_metric(geom).buffer(grow_m))
    mapping: dict[str, Any] = shapely.geometry.mapping(bigger)
    return mapping


def propose(
    network: RoadNetwork,
    site: dict[str, Any],
    yard: dict[str, Any],
    zones: Sequence[tuple[int, dict[str, Any]]],
    half_width_m: float,
) -> Proposal:
    """The shortest corridor line from ``site`` to ``yard`` (GeoJSON polygons) whose
    ``half_width_m`` band keeps clear of ``zones`` (id, GeoJSON polygon)."""
    areas = [grown(z, half_width_m + 1.0) for _, z in zones]
    blocked = blocked_edges(network, areas)
    inside = _nodes_inside(network, areas)
    source, start_gap_m = _entry_node(network, site, inside)
    target, end_gap_m = _entry_node(network, yard, inside)
    if source == target:
        raise NoRoute("the site and the yard reach the road network at the same point")
    path = shortest_path(network, source, target, blocked)
    return Proposal(
        coordinates=network.path_coords(path),
        length_m=sum(e.length_m for e in network.path_edges(path)),
        avoided_zone_ids=[zone_id for zone_id, _ in zones],
        start_gap_m=start_gap_m,
        end_gap_m=end_gap_m,
    )


def _nodes_inside(network: RoadNetwork, zones: Sequence[dict[str, Any]]) -> set[int]:
    nodes: set[int] = set()
    for z in zones:
        nodes |= {int(i) for i in np.flatnonzero(network.nodes_near_polygon(shape(z)) == 0)}
    return nodes
