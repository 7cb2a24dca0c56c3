"""A tiny test world in metres: rectangles for sites, yards and zones, one polyline corridor,
and a ``Drive`` builder that emits timed fixes (straight legs at a speed, stops at a point).

x is metres east and y metres north of (ORIGIN_LON, ORIGIN_LAT); conversion uses cos(lat).
Annotation is done here by brute force, so the rule tests do not depend on the H3 index.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tracker.geo import M_PER_DEG
from tracker.trips.core import (
    AnnotatedFix,
    Event,
    IncidentClosed,
    IncidentOpened,
    IncidentUpdated,
    PermitScope,
    VehicleContext,
    VehicleState,
    process,
)
from tracker.wire import Fix

ORIGIN_LON, ORIGIN_LAT = 114.0, 22.5
T0 = datetime(2026, 5, 4, 4, 0, tzinfo=UTC)  # 12:00 in the city (UTC+8)
VEHICLE = 7


def to_lon_lat(x_m: float, y_m: float) -> tuple[float, float]:
    lat = ORIGIN_LAT + y_m / M_PER_DEG
    lon = ORIGIN_LON + x_m / (M_PER_DEG * math.cos(math.radians(ORIGIN_LAT)))
    return lon, lat


def to_xy(lon: float, lat: float) -> tuple[float, float]:
    x = (lon - ORIGIN_LON) * M_PER_DEG * math.cos(math.radians(ORIGIN_LAT))
    return x, (lat - ORIGIN_LAT) * M_PER_DEG


@dataclass(frozen=True)
class Rect:
    x0: float
    y0: float
    x1: float
    y1: float

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1


def _seg_dist(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    k = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - k * dx, py - ay - k * dy)


@dataclass
class World:
    sites: dict[str, Rect] = field(default_factory=dict)
    yards: dict[str, Rect] = field(default_factory=dict)
    zones: dict[str, Rect] = field(default_factory=dict)
    corridors: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def annotate(self, fix: Fix, prev: Fix | None) -> AnnotatedFix:
        x, y = to_xy(fix.lon, fix.lat)

        def inside(rects: dict[str, Rect]) -> frozenset[str]:
            return frozenset(k for k, r in rects.items() if r.contains(x, y))

        dist = {
            cid: min(_seg_dist(x, y, a, b) for a, b in itertools.pairwise(line))
            for cid, line in self.corridors.items()
        }
        events: list[tuple[str, Any]] = []
        if prev is not None:
            px, py = to_xy(prev.lon, prev.lat)
            for zid, r in self.zones.items():
                was, now = r.contains(px, py), r.contains(x, y)
                samples = (
                    r.contains(px + (x - px) * i / 100, py + (y - py) * i / 100)
                    for i in range(1, 100)
                )
                if not was and not now and any(samples):
                    events.append((zid, "cross"))
                elif was != now:
                    events.append((zid, "enter" if now else "exit"))
        return AnnotatedFix(
            fix=fix,
            site_ids=inside(self.sites),
            yard_ids=inside(self.yards),
            zone_ids=inside(self.zones),
            corridor_ids=frozenset(c for c, d in dist.items() if d <= 50),
            corridor_distance_m=dist,
            segment_events=tuple(events),
        )

    def annotate_all(self, fixes: list[Fix]) -> list[AnnotatedFix]:
        out, prev = [], None
        for fix in fixes:
            out.append(self.annotate(fix, prev))
            prev = fix
        return out


# The standard world: site S1 at the start, corridor C1 along y = 0 to yard Y1 10 km east,
# yard Y2 (not on the permit) north of the corridor, no-go zone Z1 across the corridor.
WORLD = World(
    sites={"S1": Rect(-100, -100, 100, 100)},
    yards={"Y1": Rect(9900, -100, 10100, 100), "Y2": Rect(4900, 1900, 5100, 2100)},
    zones={"Z1": Rect(3000, -500, 3300, 500)},
    corridors={"C1": [(0.0, 0.0), (10400.0, 0.0)]},
)
PERMIT = PermitScope(
    permit_id="P1",
    valid_from=datetime(2026, 1, 1, tzinfo=UTC),
    valid_until=datetime(2027, 1, 1, tzinfo=UTC),
    origin_ids=frozenset({"S1"}),
    yard_ids=frozenset({"Y1"}),
    corridors={"C1": 50.0},
)
CONTEXT = VehicleContext(vehicle_id=VEHICLE, permits=(PERMIT,), rated_volume_m3=18.0)


@dataclass
class Drive:
    """Builds a timed fix sequence. ``sensors`` are fix fields applied from now on."""

    x: float = 0.0
    y: float = 0.0
    t: datetime = T0
    interval_s: float = 30.0
    delay_s: float = 2.0  # received_at - fix_time
    fixes: list[Fix] = field(default_factory=list)
    sensors: dict[str, Any] = field(default_factory=dict)
    noise_m: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(5))

    def set(self, **sensors: Any) -> Drive:
        self.sensors.update(sensors)
        return self

    def emit(
        self, speed_kmh: float | None, x: float | None = None, y: float | None = None
    ) -> Drive:
        px = self.x if x is None else x
        py = self.y if y is None else y
        if self.noise_m:
            px += self.rng.uniform(-self.noise_m, self.noise_m)
            py += self.rng.uniform(-self.noise_m, self.noise_m)
        lon, lat = to_lon_lat(px, py)
        fix = Fix(
            vehicle_id=VEHICLE,
            terminal_id=1,
            fix_time=self.t,
            received_at=self.t + timedelta(seconds=self.delay_s),
            lon=lon,
            lat=lat,
            speed_kmh=speed_kmh,
        )
        for k, v in self.sensors.items():
            setattr(fix, k, v)
        self.fixes.append(fix)
        return self

    def stop(self, duration_s: float, speed_kmh: float = 0.0) -> Drive:
        """Stand at the current point, one fix per interval (the first one now)."""
        end = self.t + timedelta(seconds=duration_s)
        while self.t < end:
            self.emit(speed_kmh)
            self.t += timedelta(seconds=self.interval_s)
        return self

    def to(self, x: float, y: float, speed_kmh: float) -> Drive:
        """Drive straight to (x, y); fixes every interval, the last one at or before arrival."""
        length_m = math.hypot(x - self.x, y - self.y)
        duration_s = length_m / (speed_kmh / 3.6)
        x0, y0, t0 = self.x, self.y, self.t
        elapsed = 0.0
        while elapsed < duration_s:
            k = elapsed / duration_s
            self.x, self.y = x0 + (x - x0) * k, y0 + (y - y0) * k
            self.emit(speed_kmh)
            elapsed += self.interval_s
            self.t = t0 + timedelta(seconds=elapsed)
        self.x, self.y = x, y
        self.t = t0 + timedelta(seconds=elapsed)
        return self

    def gap(self, duration_s: float, x: float, y: float) -> Drive:
        """No fixes for ``duration_s`` while the truck moves to (x, y)."""
        self.t += timedelta(seconds=duration_s)
        self.x, self.y = x, y
        return self


def load_at_site(d: Drive | None = None) -> Drive:
    return (d or Drive()).stop(300)


def haul_to_yard(d: Drive, speed_kmh: float = 40.0) -> Drive:
    return d.to(10000, 0, speed_kmh).stop(300).to(10400, 0, 30).to(10400, 300, 30)


def normal_trip() -> Drive:
    return haul_to_yard(load_at_site().to(2000, 0, 40))


def run(
    fixes: list[Fix], ctx: VehicleContext = CONTEXT, world: World = WORLD
) -> tuple[VehicleState, list[Event]]:
    state = VehicleState(vehicle_id=ctx.vehicle_id)
    events: list[Event] = []
    for afix in world.annotate_all(fixes):
        state, new = process(state, afix, ctx)
        events += new
    return state, events


def incidents(events: list[Event]) -> list[tuple[str, str]]:
    """``(open|update|close, type)`` of the incident events, in order."""
    kinds = {IncidentOpened: "open", IncidentUpdated: "update", IncidentClosed: "close"}
    return [
        (kinds[type(e)], e.incident.type)
        for e in events
        if isinstance(e, IncidentOpened | IncidentUpdated | IncidentClosed)
    ]


def with_rules(ctx: VehicleContext = CONTEXT, **rules: Any) -> VehicleContext:
    return replace(ctx, rules=replace(ctx.rules, **rules))
