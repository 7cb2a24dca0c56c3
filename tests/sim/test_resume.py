"""A restarted demo carries its trucks on from where they were last seen (no teleport back to
their start, which the engine saw as false incidents), and the JT/T 808 fleet drives routes of
its own instead of on top of trucks 1-10.

Map data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from shapely.geometry import Point

from tracker.geo import haversine_m
from tracker.roads.network import RoadNetwork
from tracker.sim.drive import JT808_SEED_OFFSET, FleetEntry, build_fleet, last_seen, live_start
from tracker.sim.fleet import Fleet
from tracker.sim.motion import Resume
from tracker.sim.places import Place
from tracker.sim.terminal import TerminalConfig

Places = tuple[list[Place], Place]
T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def _first_fixes(fleet: Fleet, minutes: float) -> dict[int, list[dict[str, object]]]:
    out: dict[int, list[dict[str, object]]] = {}
    for batch in fleet.advance(fleet.start_time + timedelta(minutes=minutes)):
        out.setdefault(batch.truck, []).extend(batch.fixes)
    for fixes in out.values():
        fixes.sort(key=lambda f: str(f["time"]))
    return out


def test_resumed_trucks_start_where_they_were_seen(
    monaco: RoadNetwork, monaco_places: Places
) -> None:
    sites, yard = monaco_places
    # a loaded truck half-way along a road, and an empty one near the yard
    loaded_at = monaco.coord(monaco.nearest_node(7.4236, 43.7365))
    empty_at = monaco.coord(monaco.nearest_node(yard.dwell_lon, yard.dwell_lat))
    resume = [Resume(*loaded_at, loaded=True), Resume(*empty_at, loaded=False), None]
    fleet = Fleet(monaco, sites, yard, 3, random.Random(3), T0, terminal=TerminalConfig.clean(),
                  resume=resume)  # fmt: skip
    fixes = _first_fixes(fleet, 45)
    for truck, seen in ((0, resume[0]), (1, resume[1])):
        assert seen is not None
        first = fixes[truck][0]
        # the first fix is where the truck was (terminal noise: under 40 m), not at its start
        assert haversine_m(seen.lon, seen.lat, float(first["lon"]), float(first["lat"])) < 40  # type: ignore[arg-type]
        assert first["loaded"] is seen.loaded
    # the loaded one drives on to the yard and tips there; the empty one goes to load at a site
    loaded = fixes[0]
    tipped = [f for f in loaded if f["loaded"] is False]
    assert tipped and yard.polygon.buffer(0.001).covers(Point(tipped[0]["lon"], tipped[0]["lat"]))
    assert any(f["loaded"] is True for f in fixes[1])


def test_jt808_fleet_has_routes_of_its_own(monaco_pbf: Path) -> None:
    args = argparse.Namespace(seed=1, data_dir=monaco_pbf.parent)
    http = build_fleet(args, 10, T0)
    jt808 = build_fleet(args, 10, T0, JT808_SEED_OFFSET)
    same = 0
    for a, b in zip(http.trucks, jt808.trucks, strict=True):
        pa = [a.motion.state_at(s) for s in range(0, 3600, 60)]
        pb = [b.motion.state_at(s) for s in range(0, 3600, 60)]
        apart = [haversine_m(x.lon, x.lat, y.lon, y.lat) for x, y in zip(pa, pb, strict=True)]
        same += sum(1 for d in apart if d < 30)
    assert same < 0.2 * 10 * 60  # not on top of each other (a few meetings at the sites are fine)


async def test_live_start_resumes_from_the_database(
    monaco_pbf: Path, fleet: object, database_url: str, db: psycopg.Connection[object]
) -> None:
    vehicle_id, token = fleet.truck("SIM-R1")  # type: ignore[attr-defined]
    other_id, _ = fleet.truck("SIM-R2")  # type: ignore[attr-defined]
    where = (7.4236, 43.7365)
    db.execute(
        "INSERT INTO pings (vehicle_id, terminal_id, fix_time, received_at, lon, lat, h3_cell,"
        " valid, loaded, flags, source) SELECT %s, t.id, now() - interval '5 min', now(), %s,"
        " %s, 0, true, true, 0, 1 FROM terminals t WHERE t.vehicle_id = %s LIMIT 1",
        (vehicle_id, *where, vehicle_id),
    )
    seen = await last_seen(database_url, [vehicle_id, other_id])
    assert seen == [Resume(*where, loaded=True), None]
    assert await last_seen("postgresql://nobody@127.0.0.1:1/none", [vehicle_id]) == [None]
    entries = [FleetEntry(vehicle_id, "SIM-R1", token), FleetEntry(other_id, "SIM-R2", token)]
    args = argparse.Namespace(seed=1, data_dir=monaco_pbf.parent, resume=False)
    fresh = await live_start(args, entries)
    assert fresh.start_time < datetime.now(UTC) - timedelta(minutes=40)  # warmed up
