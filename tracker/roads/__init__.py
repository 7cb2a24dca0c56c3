"""The road network: OpenStreetMap roads as a drivable graph, shortest paths on it, and the
landuse areas (construction sites, quarries, landfills) read from the same files.

Product code: permit corridors are proposed on it (``tracker.permits.corridor``), and
``tracker import osm`` loads sites, yards and roads from it. The simulator drives on it too.

Map data © OpenStreetMap contributors, available under the Open Database Licence (ODbL 1.0).
"""

ROADS_PBF = "roads.osm.pbf"  # where `tracker import osm` puts the city's road network
DEMO_PBF = "monaco.osm.pbf"  # the demo city's extract (fetched by the simulator's data module)
