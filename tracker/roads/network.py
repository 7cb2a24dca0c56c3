"""A drivable road graph read from an OpenStreetMap ``.osm.pbf`` (or ``.osm``) file.

Landuse areas live in ``landuse.py`` and are re-exported here.

Pure: reads one local file, no database, no network. Nodes are indexed ``0..n-1`` after keeping
the largest strongly connected component, so every node can reach every other one.

Map data © OpenStreetMap contributors, available under the Open Database Licence (ODbL 1.0).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import osmium
import shapely
from shapely.geometry import Polygon

from tracker.geo import EARTH_RADIUS_M, bearing_deg, haversine_m
from tracker.roads.landuse import LanduseArea, load_landuse

__all__ = [
    "Edge",
    "LanduseArea",
    "RoadNetwork",
    "bearing_deg",
    "haversine_m",
    "load_landuse",
]

# Typical speeds of a loaded 8x4 tipper by road class, not the legal limits.
CLASS_SPEED_KMH: dict[str, float] = {
    "motorway": 80.0,
    "motorway_link": 45.0,
    "trunk": 70.0,
    "trunk_link": 40.0,
    "primary": 45.0,
    "primary_link": 35.0,
    "secondary": 40.0,
    "secondary_link": 30.0,
    "tertiary": 35.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 15.0,
    "road": 25.0,
    # Service roads are kept: site gates and the quarry are reached through them.
    "service": 20.0,
}
EXCLUDED_SERVICE = frozenset({"parking_aisle", "drive-through", "emergency_access"})
NO_ACCESS = frozenset({"no"})
# Oneway roads cut by the extract's edge (the A8 carriageways) are joined to the opposite
# carriageway as if the truck turned round off the map, so they stay in the connected graph.
CUT_END_EDGE_M = 300.0  # how close to the extract's bounding box a cut end lies
CUT_END_JOIN_M = 150.0  # how far the opposite carriageway may start
OFF_MAP_DETOUR_M = 4000.0  # assumed loop through the next interchange outside the extract

Weight = Literal["time", "distance"]


@dataclass(frozen=True, slots=True)
class Edge:
    target: int
    length_m: float
    speed_kmh: float
    tunnel: bool
    road_class: str

    @property
    def duration_s(self) -> float:
        return self.length_m / (self.speed_kmh / 3.6)


def _speed_kmh(tags: osmium.osm.TagList, road_class: str) -> float:
    speed_kmh = CLASS_SPEED_KMH[road_class]
    maxspeed = tags.get("maxspeed") or ""
    if maxspeed.isdigit():
        speed_kmh = min(speed_kmh, float(maxspeed))
    return speed_kmh


def _direction(tags: osmium.osm.TagList, road_class: str) -> int:
    """1 forward only, -1 backward only, 0 both ways."""
    oneway = tags.get("oneway", "")
    if oneway in {"yes", "true", "1"}:
        return 1
    if oneway == "-1":
        return -1
    if oneway == "no":
        return 0
    implied = road_class in {"motorway", "motorway_link"} or tags.get("junction") in {
        "roundabout",
        "circular",
    }
    return 1 if implied else 0


def _drivable_class(tags: osmium.osm.TagList) -> str | None:
    road_class = tags.get("highway", "")
    if road_class not in CLASS_SPEED_KMH or tags.get("area") == "yes":
        return None
    if tags.get("access") in NO_ACCESS or tags.get("motor_vehicle") in NO_ACCESS:
        return None
    if road_class == "service" and tags.get("service") in EXCLUDED_SERVICE:
        return None
    return road_class


class _GraphBuilder:
    def __init__(self) -> None:
        self.index: dict[int, int] = {}
        self.lons: list[float] = []
        self.lats: list[float] = []
        self.adjacency: list[list[Edge]] = []
        self.signal_ids: set[int] = set()

    def node(self, osm_id: int, lon: float, lat: float) -> int:
        found = self.index.get(osm_id)
        if found is not None:
            return found
        idx = len(self.lons)
        self.index[osm_id] = idx
        self.lons.append(lon)
        self.lats.append(lat)
        self.adjacency.append([])
        return idx

    def add_way(self, way: osmium.osm.Way, road_class: str) -> None:
        tags = way.tags
        speed_kmh = _speed_kmh(tags, road_class)
        direction = _direction(tags, road_class)
        tunnel = tags.get("tunnel", "no") not in {"no", "building_passage"}
        refs = [(n.ref, n.lon, n.lat) for n in way.nodes if n.location.valid()]
        for (id_a, lon_a, lat_a), (id_b, lon_b, lat_b) in itertools.pairwise(refs):
            a, b = self.node(id_a, lon_a, lat_a), self.node(id_b, lon_b, lat_b)
            if a == b:
                continue
            length_m = haversine_m(lon_a, lat_a, lon_b, lat_b)
            if direction >= 0:
                self.adjacency[a].append(Edge(b, length_m, speed_kmh, tunnel, road_class))
            if direction <= 0:
                self.adjacency[b].append(Edge(a, length_m, speed_kmh, tunnel, road_class))


def _join_cut_ends(builder: _GraphBuilder) -> None:
    lons, lats, adjacency = builder.lons, builder.lats, builder.adjacency
    if not lons:
        return
    has_incoming = [False] * len(lons)
    for edges in adjacency:
        for e in edges:
            has_incoming[e.target] = True
    starts = [n for n, incoming in enumerate(has_incoming) if not incoming]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    for end in (n for n, edges in enumerate(adjacency) if not edges):
        lon, lat = lons[end], lats[end]
        to_edge_m = min(
            haversine_m(lon, lat, west, lat),
            haversine_m(lon, lat, east, lat),
            haversine_m(lon, lat, lon, south),
            haversine_m(lon, lat, lon, north),
        )
        if to_edge_m > CUT_END_EDGE_M or not starts:
            continue
        start = min(starts, key=lambda n: haversine_m(lon, lat, lons[n], lats[n]))
        gap_m = haversine_m(lon, lat, lons[start], lats[start])
        if gap_m <= CUT_END_JOIN_M:
            # Off the map there are no fixes to see: marked like a tunnel.
            adjacency[end].append(Edge(start, gap_m + OFF_MAP_DETOUR_M, 60.0, True, "off_map"))


def _largest_scc(adjacency: list[list[Edge]]) -> list[int]:
    """Kosaraju, iterative: the node indices of the largest strongly connected component."""
    n = len(adjacency)
    order: list[int] = []
    seen = [False] * n
    for root in range(n):
        if seen[root]:
            continue
        seen[root] = True
        stack: list[tuple[int, Iterator[Edge]]] = [(root, iter(adjacency[root]))]
        while stack:
            node, pending = stack[-1]
            nxt = next((e.target for e in pending if not seen[e.target]), None)
            if nxt is None:
                stack.pop()
                order.append(node)
            else:
                seen[nxt] = True
                stack.append((nxt, iter(adjacency[nxt])))
    reverse: list[list[int]] = [[] for _ in range(n)]
    for a, edges in enumerate(adjacency):
        for e in edges:
            reverse[e.target].append(a)
    component = [-1] * n
    best: list[int] = []
    for root in reversed(order):
        if component[root] >= 0:
            continue
        members, todo = [], [root]
        component[root] = root
        while todo:
            node = todo.pop()
            members.append(node)
            for prev in reverse[node]:
                if component[prev] < 0:
                    component[prev] = root
                    todo.append(prev)
        if len(members) > len(best):
            best = members
    return sorted(best)


class RoadNetwork:
    """Directed drivable road graph; node coordinates are ``lon, lat``; edge lengths in metres."""

    def __init__(
        self,
        lons: list[float],
        lats: list[float],
        adjacency: list[list[Edge]],
        signals: frozenset[int] = frozenset(),
    ) -> None:
        self.lons = lons
        self.lats = lats
        self.adjacency = adjacency
        self.signals = signals  # node indices with traffic lights
        self._lat0 = float(np.mean(lats)) if lats else 0.0
        self._xy = self._project(np.asarray(lons), np.asarray(lats))
        self.shortest_path = lru_cache(maxsize=4096)(self._shortest_path)

    @classmethod
    def from_pbf(cls, pbf: Path) -> RoadNetwork:
        builder = _GraphBuilder()
        processor = (
            osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for obj in processor:
            if isinstance(obj, osmium.osm.Node):
                if obj.tags.get("highway") == "traffic_signals":
                    builder.signal_ids.add(obj.id)
            elif isinstance(obj, osmium.osm.Way):
                road_class = _drivable_class(obj.tags)
                if road_class is not None:
                    builder.add_way(obj, road_class)
        return cls._from_builder(builder)

    @classmethod
    def _from_builder(cls, builder: _GraphBuilder) -> RoadNetwork:
        _join_cut_ends(builder)
        keep = _largest_scc(builder.adjacency)
        renumber = {old: new for new, old in enumerate(keep)}
        adjacency = [
            [
                Edge(renumber[e.target], e.length_m, e.speed_kmh, e.tunnel, e.road_class)
                for e in builder.adjacency[old]
                if e.target in renumber
            ]
            for old in keep
        ]
        signals = frozenset(
            renumber[builder.index[osm_id]]
            for osm_id in builder.signal_ids
            if builder.index.get(osm_id, -1) in renumber
        )
        lons = [builder.lons[old] for old in keep]
        lats = [builder.lats[old] for old in keep]
        return cls(lons, lats, adjacency, signals)

    def _project(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Local equirectangular metres around the network's mean latitude."""
        k = math.radians(1.0) * EARTH_RADIUS_M
        x = lons * k * math.cos(math.radians(self._lat0))
        return np.column_stack([x, lats * k])

    def __len__(self) -> int:
        return len(self.lons)

    @property
    def edge_count(self) -> int:
        return sum(len(edges) for edges in self.adjacency)

    def total_length_km(self) -> float:
        """Length of road, counting a two-way street once."""
        total_m = 0.0
        for a, edges in enumerate(self.adjacency):
            for e in (e for e in edges if e.road_class != "off_map"):
                twin = any(back.target == a for back in self.adjacency[e.target])
                total_m += e.length_m / 2 if twin else e.length_m
        return total_m / 1000.0

    def coord(self, node: int) -> tuple[float, float]:
        return self.lons[node], self.lats[node]

    def nearest_node(self, lon: float, lat: float) -> int:
        point = self._project(np.asarray([lon]), np.asarray([lat]))[0]
        d2 = np.sum((self._xy - point) ** 2, axis=1)
        return int(np.argmin(d2))

    def nodes_near_polygon(self, polygon: Polygon) -> np.ndarray:
        """Distance in metres from every node to ``polygon`` (0 inside)."""
        local = shapely.transform(polygon, lambda c: self._project(c[:, 0], c[:, 1]))
        points = shapely.points(self._xy)
        return np.asarray(shapely.distance(points, local))

    def edge(self, a: int, b: int) -> Edge:
        return min((e for e in self.adjacency[a] if e.target == b), key=lambda e: e.length_m)

    def _shortest_path(self, source: int, target: int, weight: Weight = "time") -> list[int]:
        """Dijkstra; by travel time (what a driver takes) or by distance.

        Exposed as the cached ``shortest_path``: the list returned is shared, do not mutate it.
        """
        return self.path_avoiding(source, target, frozenset(), weight)

    def path_avoiding(
        self,
        source: int,
        target: int,
        blocked: AbstractSet[tuple[int, int]],
        weight: Weight = "distance",
    ) -> list[int]:
        """Dijkstra over the edges not in ``blocked`` ((from, to) node pairs); uncached.

        Raises ``ValueError`` when no path joins the two nodes.
        """
        best = {source: 0.0}
        previous: dict[int, int] = {}
        queue = [(0.0, source)]
        while queue:
            cost, node = heapq.heappop(queue)
            if node == target:
                break
            if cost > best[node]:
                continue
            for e in self.adjacency[node]:
                if blocked and (node, e.target) in blocked:
                    continue
                new = cost + (e.duration_s if weight == "time" else e.length_m)
                if new < best.get(e.target, math.inf):
                    best[e.target] = new
                    previous[e.target] = node
                    heapq.heappush(queue, (new, e.target))
        if target not in best:
            raise ValueError(f"node {target} is unreachable from {source}")
        path = [target]
        while path[-1] != source:
            path.append(previous[path[-1]])
        path.reverse()
        return path

    def path_coords(self, path: Iterable[int]) -> list[tuple[float, float]]:
        return [(self.lons[n], self.lats[n]) for n in path]

    def path_edges(self, path: list[int]) -> list[Edge]:
        return [self.edge(a, b) for a, b in itertools.pairwise(path)]

    def path_length_km(self, path: list[int]) -> float:
        return sum(e.length_m for e in self.path_edges(path)) / 1000.0
