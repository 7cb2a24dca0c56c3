"""A second `make demo` raises no false incident: the fleet is stopped mid-cycle (some trucks
loading at their site, some hauling, some tipping) and restarted with ``--resume`` from each
truck's newest fix, and the engine core, which kept its state over the restart as the
worker's checkpoints do, sees every truck carry on lawfully — with cover and lift sensors
trusted, as on the JT/T 808 trucks (model SIM-ZT).

Map data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from shapely.geometry import Point

from tracker.bench.detect import registry_view
from tracker.geofence import GeofenceIndex
from tracker.roads.network import RoadNetwork
from tracker.sim.fleet import Fleet
from tracker.sim.motion import Resume
from tracker.sim.places import Place
from tracker.sim.scenario import World, build_world
from tracker.sim.terminal import OutgoingBatch, TerminalConfig
from tracker.trips.core import (
    IncidentOpened,
    PermitScope,
    Sensors,
    VehicleContext,
    VehicleState,
    tick,
)
from tracker.trips.core.annotate import annotate
from tracker.trips.core.rewind import advance, note
from tracker.trips.core.state import to_us
from tracker.trips.core.view import RegistryView
from tracker.wire import Fix

Places = tuple[list[Place], Place]
T0 = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
TICK = timedelta(seconds=10)
SENSORS = Sensors(has_lift=True, has_cover=True)  # SIM-ZT: what the JT/T 808 trucks report
HALF_WIDTH_M = 60.0  # the demo permit's corridors (tracker.sim.demo_city)
TRUCKS = 16


@pytest.fixture(scope="module")
def world(monaco: RoadNetwork, monaco_places: Places) -> World:
    return build_world(monaco, *monaco_places)


@dataclass
class Watch:
    """One truck as the engine worker follows it: state, the fixes it has, the clock."""

    ctx: VehicleContext
    index: GeofenceIndex
    view: RegistryView
    state: VehicleState
    now: datetime
    arrived: list[tuple[int, int, Fix]] = field(default_factory=list)
    opened: list[IncidentOpened] = field(default_factory=list)

    def _tick_to(self, t: datetime) -> None:
        while self.now + TICK <= t:
            self.now += TICK
            self.state, events = tick(self.state, self.ctx, self.now)
            note(self.state, events)
            self.opened += [e for e in events if isinstance(e, IncidentOpened)]

    def feed(self, batches: list[OutgoingBatch], until: datetime) -> None:
        def annotator(fix: Fix, prev: Any, t_us: int, received_us: int) -> Any:
            return annotate(self.index, self.view, self.ctx, fix, prev, t_us, received_us)

        for batch in sorted(batches, key=lambda b: b.send_time):
            self._tick_to(batch.send_time)
            vid = self.ctx.vehicle_id
            timed = [
                (to_us(f.fix_time), to_us(f.received_at), f)
                for f in (_fix(raw, vid, batch.send_time) for raw in batch.fixes)
            ]
            self.arrived += timed
            self.state, events, _ = advance(self.state, self.ctx, timed, self.arrived, annotator)
            self.opened += [e for e in events if isinstance(e, IncidentOpened)]
        self._tick_to(until)


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


def _watch(world: World, vehicle_id: int, start: datetime) -> Watch:
    permit = PermitScope(
        permit_id="demo",
        valid_from=start - timedelta(days=1),
        valid_until=start + timedelta(days=1),
        origin_ids=frozenset(f"site-{i}" for i in range(len(world.sites))),
        yard_ids=frozenset({"yard-0"}),
        corridors={c.fence_id: HALF_WIDTH_M for c in world.corridors.values()},
    )
    ctx = VehicleContext(vehicle_id, (permit,), {}, sensors=SENSORS)
    view = RegistryView(fence_roles=registry_view(world).fence_roles, zones={})
    index = GeofenceIndex(world.fences())
    return Watch(ctx, index, view, VehicleState(vehicle_id=vehicle_id), start)


def _newest(batches: list[OutgoingBatch], truck: int) -> dict[str, Any] | None:
    fixes = [f for b in batches if b.truck == truck for f in b.fixes]
    return max(fixes, key=lambda f: str(f["time"])) if fixes else None


def _at(place: Place, fix: dict[str, Any]) -> bool:
    return bool(place.polygon.buffer(0.0005).covers(Point(fix["lon"], fix["lat"])))


@pytest.mark.parametrize("stop_min", [41, 52, 67])
def test_a_restarted_fleet_raises_no_incident(
    monaco: RoadNetwork, monaco_places: Places, world: World, stop_min: int
) -> None:
    sites, yard = monaco_places
    start = T0
    first = Fleet(monaco, sites, yard, TRUCKS, random.Random(stop_min), start,
                  terminal=TerminalConfig.clean())  # fmt: skip
    stop = start + timedelta(minutes=stop_min)
    batches = first.advance(stop)
    watches = [_watch(world, truck + 1, start) for truck in range(TRUCKS)]
    for truck, watch in enumerate(watches):
        watch.feed([b for b in batches if b.truck == truck], stop)
        assert watch.opened == [], (truck, [e.incident.type for e in watch.opened])
    # `make demo` again: the simulator reads each truck's newest stored fix and carries on
    last = [_newest(batches, truck) for truck in range(TRUCKS)]
    resume = [
        None if f is None else Resume(float(f["lon"]), float(f["lat"]), bool(f["loaded"]))
        for f in last
    ]
    loading = [f for f in last if f and not f["loaded"] and any(_at(s, f) for s in sites)]
    hauling = [f for f in last if f and f["loaded"] and not _at(yard, f)]
    assert loading and hauling  # the cases a restart has to carry on from
    restart = stop + timedelta(seconds=90)
    second = Fleet(monaco, sites, yard, TRUCKS, random.Random(stop_min + 1), restart,
                   terminal=TerminalConfig.clean(), resume=resume)  # fmt: skip
    end = restart + timedelta(minutes=40)
    batches = second.advance(end)
    for truck, watch in enumerate(watches):
        watch.feed([b for b in batches if b.truck == truck], end)
        types = [(e.incident.type, e.incident.started_at.isoformat()) for e in watch.opened]
        assert types == [], (truck, resume[truck], types)
