from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from tracker.roads.network import RoadNetwork, haversine_m, load_landuse

# A to C two-way primary; C to D oneway; D back to A oneway residential; E hangs off D by a
# oneway that cannot be left (dropped as not strongly connected); F by a footway (not drivable).
TINY_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
  <node id="1" lat="43.7300" lon="7.4200" version="1"/>
  <node id="2" lat="43.7300" lon="7.4210" version="1"/>
  <node id="3" lat="43.7300" lon="7.4220" version="1">
    <tag k="highway" v="traffic_signals"/>
  </node>
  <node id="4" lat="43.7310" lon="7.4220" version="1"/>
  <node id="5" lat="43.7320" lon="7.4220" version="1"/>
  <node id="6" lat="43.7300" lon="7.4190" version="1"/>
  <way id="10" version="1">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="primary"/>
  </way>
  <way id="11" version="1">
    <nd ref="3"/><nd ref="4"/>
    <tag k="highway" v="secondary"/><tag k="oneway" v="yes"/>
  </way>
  <way id="12" version="1">
    <nd ref="4"/><nd ref="1"/>
    <tag k="highway" v="residential"/><tag k="oneway" v="yes"/><tag k="tunnel" v="yes"/>
  </way>
  <way id="13" version="1">
    <nd ref="4"/><nd ref="5"/>
    <tag k="highway" v="service"/><tag k="oneway" v="yes"/>
  </way>
  <way id="14" version="1">
    <nd ref="1"/><nd ref="6"/>
    <tag k="highway" v="footway"/>
  </way>
</osm>
"""


@pytest.fixture
def tiny(tmp_path: Path) -> RoadNetwork:
    path = tmp_path / "tiny.osm"
    path.write_text(TINY_OSM)
    return RoadNetwork.from_pbf(path)


def test_tiny_graph_keeps_the_strongly_connected_roads(tiny: RoadNetwork) -> None:
    assert len(tiny) == 4  # 5 (dead end) and 6 (footway) are gone
    a, c, d = (
        tiny.nearest_node(7.42, 43.73),
        tiny.nearest_node(7.422, 43.73),
        tiny.nearest_node(7.422, 43.731),
    )
    assert tiny.signals == frozenset({c})
    assert tiny.path_coords(tiny.shortest_path(c, a))[-1] == (7.42, 43.73)
    # oneway: D → A directly, A → D only round by C
    assert tiny.shortest_path(d, a) == [d, a]
    assert tiny.shortest_path(a, d)[-2:] == [c, d]
    assert tiny.edge(d, a).tunnel
    assert tiny.total_length_km() == pytest.approx(
        (
            haversine_m(7.42, 43.73, 7.422, 43.73)
            + haversine_m(7.422, 43.73, 7.422, 43.731)
            + haversine_m(7.422, 43.731, 7.42, 43.73)
        )
        / 1000,
        rel=1e-9,
    )


def test_monaco_loads_fast_and_is_big_enough(monaco_pbf: Path) -> None:
    started = time.perf_counter()
    network = RoadNetwork.from_pbf(monaco_pbf)
    elapsed_s = time.perf_counter() - started
    assert elapsed_s < 2.0
    assert network.total_length_km() > 200.0
    assert {e.road_class for edges in network.adjacency for e in edges} >= {"motorway", "primary"}
    assert network.signals


def test_shortest_path_is_connected_and_not_shorter_than_the_crow_flies(
    monaco: RoadNetwork,
) -> None:
    a = monaco.nearest_node(7.4246, 43.7384)  # the port
    b = monaco.nearest_node(7.3900, 43.7530)  # towards La Turbie
    path = monaco.shortest_path(a, b)
    assert path[0] == a and path[-1] == b
    for u, v in itertools.pairwise(path):
        assert any(e.target == v for e in monaco.adjacency[u])
    crow_km = haversine_m(*monaco.coord(a), *monaco.coord(b)) / 1000
    assert monaco.path_length_km(path) >= crow_km
    by_distance = monaco.shortest_path(a, b, "distance")
    assert monaco.path_length_km(by_distance) <= monaco.path_length_km(path) + 1e-9
    assert monaco.shortest_path(a, b) is path  # cached


def test_nearest_node_is_near(monaco: RoadNetwork) -> None:
    lon, lat = monaco.coord(1234)
    assert monaco.nearest_node(lon + 1e-6, lat) == 1234


def test_landuse_has_the_quarry_and_sites(monaco_pbf: Path) -> None:
    started = time.perf_counter()
    areas = load_landuse(monaco_pbf)
    assert time.perf_counter() - started < 2.0
    kinds = [a.kind for a in areas]
    assert "quarry" in kinds
    assert kinds.count("construction") >= 1
    quarry = next(a for a in areas if a.kind == "quarry")
    assert quarry.polygon.is_valid
    lon, lat = quarry.polygon.centroid.coords[0]
    assert 7.3 < lon < 7.5 and 43.7 < lat < 43.8
