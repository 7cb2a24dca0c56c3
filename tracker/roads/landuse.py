"""Landuse polygons (construction sites, quarries, landfills) read from an OSM file.

Map data © OpenStreetMap contributors, available under the Open Database Licence (ODbL 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import osmium
import shapely
from shapely.geometry import Polygon

LANDUSE_KINDS = frozenset({"construction", "quarry", "landfill"})


@dataclass(frozen=True, slots=True)
class LanduseArea:
    kind: str  # "construction" | "quarry" | "landfill"
    name: str | None
    polygon: Polygon  # lon/lat
    osm_id: int


def _area_polygon(area: osmium.osm.Area) -> Polygon | None:
    """The largest outer ring of an area with its holes, as a lon/lat polygon."""
    best: Polygon | None = None
    for outer in area.outer_rings():
        shell = [(n.lon, n.lat) for n in outer]
        holes = [[(n.lon, n.lat) for n in inner] for inner in area.inner_rings(outer)]
        if len(shell) < 4:
            continue
        polygon = shapely.make_valid(Polygon(shell, holes))
        if isinstance(polygon, Polygon) and (best is None or polygon.area > best.area):
            best = polygon
    return best


def load_landuse(pbf: Path, kinds: frozenset[str] = LANDUSE_KINDS) -> list[LanduseArea]:
    """Landuse polygons of the given kinds (construction, quarry, landfill by default)."""
    processor = (
        osmium.FileProcessor(str(pbf))
        .with_areas(osmium.filter.KeyFilter("landuse"))
        .with_filter(osmium.filter.KeyFilter("landuse"))
    )
    found: list[LanduseArea] = []
    for obj in processor:
        if not isinstance(obj, osmium.osm.Area) or obj.tags.get("landuse") not in kinds:
            continue
        polygon = _area_polygon(obj)
        if polygon is not None:
            kind = obj.tags["landuse"]
            found.append(LanduseArea(kind, obj.tags.get("name"), polygon, obj.orig_id()))
    return found
