"""The imported road network as GeoJSON, so a map without a tile server still shows the roads.

Rendered once per network file (an edge and its reverse become one segment) and kept.
"""

from __future__ import annotations

import functools
from pathlib import Path

import orjson

from tracker.permits.corridor import road_network


@functools.lru_cache(maxsize=2)
def roads_geojson(pbf: Path) -> bytes:
    network = road_network(pbf)
    segments: set[tuple[int, int]] = set()
    for a, edges in enumerate(network.adjacency):
        for e in edges:
            if e.road_class != "off_map":  # the simulator's made-up links beyond the extract
                segments.add((min(a, e.target), max(a, e.target)))
    lines = [[network.coord(a), network.coord(b)] for a, b in sorted(segments)]
    feature = {
        "type": "Feature",
        "geometry": {"type": "MultiLineString", "coordinates": lines},
        "properties": {
            "segments": len(lines),
            "source": pbf.name,
            "attribution": "© OpenStreetMap contributors (ODbL 1.0)",
        },
    }
    return orjson.dumps({"type": "FeatureCollection", "features": [feature]})
