"""The demo's scripted violators, through the engine's pure core: within 5 minutes of the live
start, the dumping truck, the deviating truck (through the demo's no-go zone), the truck whose
terminal is cut and the truck hauling outside its permit's hour (the window `tracker seed
--permits` gives it) each open their incident, and an ordinary truck opens none.

The simulator (motion, terminal, fleet) and the engine core (annotate, advance, tick) as the
worker runs them, on the demo roads and places with corridors along the trucks' roads (the demo
permit's). Map data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import shapely

from tracker.bench.detect import registry_view
from tracker.geofence import Fence, GeofenceIndex, fence_from_geojson
from tracker.roads.network import RoadNetwork
from tracker.sim.demo_city import geojson, off_hours_window, plan_city
from tracker.sim.fleet import Fleet
from tracker.sim.motion import VIOLATIONS, TruckMotion
from tracker.sim.places import Place
from tracker.sim.scenario import HALF_WIDTH_M, World, build_world
from tracker.sim.terminal import POWER_CUT_ALARM, OutgoingBatch, TerminalConfig
from tracker.trips.core import (
    IncidentOpened,
    PermitScope,
    Sensors,
    VehicleContext,
    VehicleState,
    ZoneRule,
    tick,
)
from tracker.trips.core.annotate import annotate
from tracker.trips.core.models import CITY_TZ, TimeWindow
from tracker.trips.core.rewind import advance, note
from tracker.trips.core.state import to_us
from tracker.trips.core.view import RegistryView, windows_of
from tracker.wire import Fix

Places = tuple[list[Place], Place]
LIVE = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)  # 10:00 in the city
WARM_UP = timedelta(minutes=45)
WITHIN = timedelta(minutes=5)
TICK = timedelta(seconds=10)
LIFT = Sensors(has_lift=True, has_cover=True)  # the SIM-ZT model's sensors
GPS_ONLY = Sensors()
EXPECTED = {
    "dump": "dumping",
    "deviation": "route_deviation",
    "cut_terminal": "terminal_tampering",
    "outside_hours": "outside_hours",
}
# the outside-hours violator's permit allows one hour, twelve hours from the seeding
OFF_HOURS = windows_of([off_hours_window(LIVE, CITY_TZ).model_dump()])


@pytest.fixture(scope="module")
def world(monaco: RoadNetwork, monaco_places: Places) -> World:
    sites, yard = monaco_places
    return build_world(monaco, sites, yard)


@pytest.fixture(scope="module")
def no_go(monaco: RoadNetwork, monaco_places: Places) -> Fence:
    """The demo's no-go zone (`tracker seed --permits`), on the deviating violator's detour."""
    zone = plan_city(monaco, *monaco_places).no_go
    assert zone is not None
    return fence_from_geojson("zone-0", geojson(zone))


def _registered(world: World) -> list[Fence]:
    """The fences as `tracker seed --permits` registers them: the sites and the yard are the
    OSM polygons themselves (no margin: Travaux du Sporting is 6 m deep at most, less than a
    terminal's error), and a corridor per site."""
    places = [(f"site-{i}", s.polygon) for i, s in enumerate(world.sites)]
    places.append(("yard-0", world.yard.polygon))
    out = [fence_from_geojson(i, shapely.geometry.mapping(p)) for i, p in places]
    return [*out, *world.corridors.values()]


def _context(
    world: World, vehicle_id: int, sensors: Sensors, windows: tuple[TimeWindow, ...] = ()
) -> VehicleContext:
    zones = {"zone-0": ZoneRule("zone-0")}  # always in force
    permit = PermitScope(
        permit_id="demo",
        valid_from=LIVE - timedelta(days=1),
        valid_until=LIVE + timedelta(days=1),
        origin_ids=frozenset(f"site-{i}" for i in range(len(world.sites))),
        yard_ids=frozenset({"yard-0"}),
        corridors={c.fence_id: HALF_WIDTH_M for c in world.corridors.values()},
        windows=windows,
    )
    return VehicleContext(vehicle_id, (permit,), zones, sensors=sensors)


def _fix(raw: dict[str, Any], vehicle_id: int, arrival: datetime) -> Fix:
    return Fix(
        vehicle_id=vehicle_id,
        terminal_id=vehicle_id,
        fix_time=datetime.fromisoformat(str(raw["time"])),
        received_at=arrival,
        lon=float(raw["lon"]),
        lat=float(raw["lat"]),
        speed_kmh=float(raw["speed_kmh"]),
        heading_deg=float(raw["heading_deg"]),
        loaded=bool(raw["loaded"]),
        body_lifted=bool(raw["body_lifted"]),
        cover_closed=bool(raw["cover_closed"]),
        alarm_bits=int(raw.get("alarm_bits", 0)),
    )


def _engine(
    world: World,
    no_go: Fence,
    vehicle_id: int,
    batches: list[OutgoingBatch],
    sensors: Sensors,
    windows: tuple[TimeWindow, ...] = (),
) -> list[IncidentOpened]:
    """The truck's uploads through the core as a worker feeds them, the clock ticking."""
    index = GeofenceIndex([*_registered(world), no_go])
    ctx = _context(world, vehicle_id, sensors, windows)
    roles = {**registry_view(world).fence_roles, "zone-0": ("zone", "zone-0")}
    view = RegistryView(fence_roles=roles, zones=ctx.zones)  # type: ignore[arg-type]
    state, opened = VehicleState(vehicle_id=vehicle_id), []
    arrived: list[tuple[int, int, Fix]] = []
    now = LIVE

    def annotator(fix: Fix, prev: Any, t_us: int, received_us: int) -> Any:
        return annotate(index, view, ctx, fix, prev, t_us, received_us)

    for batch in sorted(batches, key=lambda b: b.send_time):
        while now + TICK <= batch.send_time:
            now += TICK
            state, events = tick(state, ctx, now)
            note(state, events)
            opened += [e for e in events if isinstance(e, IncidentOpened)]
        timed = [
            (to_us(f.fix_time), to_us(f.received_at), f)
            for f in (_fix(raw, vehicle_id, batch.send_time) for raw in batch.fixes)
        ]
        arrived += timed
        state, events, _ = advance(state, ctx, timed, arrived, annotator)
        opened += [e for e in events if isinstance(e, IncidentOpened)]
    while now + TICK <= LIVE + WITHIN:
        now += TICK
        state, events = tick(state, ctx, now)
        opened += [e for e in events if isinstance(e, IncidentOpened)]
    return opened


def _live_fleet(
    monaco: RoadNetwork,
    places: Places,
    scripts: list[str | None],
    terminal: TerminalConfig | None = None,
) -> Fleet:
    sites, yard = places
    fleet = Fleet(
        monaco,
        sites,
        yard,
        len(scripts),
        random.Random(11),
        LIVE - WARM_UP,
        terminal=terminal or TerminalConfig.clean(),
        scripts=scripts,
        script_at=LIVE,
    )
    fleet.warm_up(LIVE)  # as `tracker simulate --mode live` does
    return fleet


def test_each_violator_raises_its_incident_within_5_minutes(
    monaco: RoadNetwork, monaco_places: Places, world: World, no_go: Fence
) -> None:
    assert set(VIOLATIONS) == set(EXPECTED)  # the demo's scripts, each with its incident
    scripts: list[str | None] = [*VIOLATIONS, None]
    # the demo's terminals, noise and all (lost fixes, late runs, blackouts): the violators'
    # own are reliable ones (Fleet), or their loading at the site goes unseen
    fleet = _live_fleet(monaco, monaco_places, scripts, TerminalConfig())
    batches = fleet.advance(LIVE + WITHIN)
    for truck, script in enumerate(scripts):
        mine = [b for b in batches if b.truck == truck]
        assert mine, f"truck {truck} sent nothing"
        # the violators' terminals report their body lift (`tracker seed`: SIM-ZT), others
        # are GPS only (generic)
        windows = OFF_HOURS if script == "outside_hours" else ()
        opened = _engine(world, no_go, truck + 1, mine, LIFT if script else GPS_ONLY, windows)
        types = {e.incident.type for e in opened}
        if script is None:
            assert types == set(), types  # an ordinary truck: nothing
            continue
        if script == "outside_hours":
            assert types == {"outside_hours"}, types  # an ordinary haul otherwise
        assert EXPECTED[script] in types, (script, types)
        if script == "deviation":
            assert "no_go_zone" in types, types  # the detour runs through the demo's zone
        first = min(e.incident.started_at for e in opened if e.incident.type == EXPECTED[script])
        assert LIVE < first <= LIVE + WITHIN
    cut = [f for b in batches if b.truck == 2 for f in b.fixes if f.get("alarm_bits")]
    assert [f["alarm_bits"] for f in cut] == [POWER_CUT_ALARM]


def test_scripts_are_refused_unless_known(monaco: RoadNetwork, monaco_places: Places) -> None:
    sites, yard = monaco_places
    with pytest.raises(ValueError, match="unknown violation"):
        TruckMotion(monaco, sites, yard, random.Random(1), _config(), False, script="speeding")


def test_without_scripts_the_first_trucks_are_ordinary(
    monaco: RoadNetwork, monaco_places: Places, world: World, no_go: Fence
) -> None:
    fleet = _live_fleet(monaco, monaco_places, [None, None, None])
    batches = fleet.advance(LIVE + WITHIN)
    for truck in range(3):
        mine = [b for b in batches if b.truck == truck]
        opened = _engine(world, no_go, truck + 1, mine, LIFT)
        assert not {e.incident.type for e in opened} & {*EXPECTED.values(), "no_go_zone"}


def _config() -> Any:
    from tracker.sim.motion import DrivingConfig

    return DrivingConfig()
