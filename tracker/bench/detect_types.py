"""The rest of the incident types for ``tracker bench detect``: labelled ground truth for no-go
zones, no permit, speeding, an open cover, blacklisted trucks, a closed yard, a permit over
its quota and a site outside its active dates (both profiles).

A few trucks of each day (``TRUCKS_PER_KIND`` per kind, drawn from a random stream of their
own so that the other trucks' days are the same as without them) get one of ``KINDS``:

- ``no_permit``: the truck has no permit at all; every loaded haul is a label, from the
  moment the truck leaves its site's fence loaded to its arrival in a yard. Its permit's
  corridor, yards and hours do not exist, so its route-deviation, wrong-yard and
  outside-hours labels are dropped (the ground truth without a permit has none).
- ``inactive_site``: its site's active dates ended the day before; every loaded haul.
- ``quota_exceeded``: its permit allows ``k`` loads (1–4) of its rated volume (plus half a
  load); the registry's hauled volume (and the vehicle's latest counted departure) is
  refreshed ``REFRESH_S`` after each delivery (the worker reloads its view every 60 s);
  every haul after the ``k``-th is a label.
- ``closed_yard``: its yard's opening hours end during the day; every stay in the yard,
  arrived loaded, that lasts past the closing time and past the place dwell is a label.
- ``blacklisted_vehicle``: the truck is on the blacklist; every movement period (moving
  pieces with standstills shorter than the rule's idle close between them) is a label.
- ``uncovered``: the truck reports its cover; half of its loaded legs have the cover open
  for 1–5 min while driving (not on a haul whose terminal is silenced: one event per haul);
  the label is that stretch (detectable once open 30 s).
- ``speeding``: the truck is under a city limit of ``SPEED_LIMIT_KMH`` (above the speed of
  every road between the sites and the yard, 45 km/h; a few other roads allow 70); about a
  third of its legs have a stretch of 1–3 km (up to the leg's
  end) driven at 60–75 km/h; every stretch of the truth over the limit for 30 s or more is
  a label.
- ``no_go_zone``: a circular no-go zone of ``ZONE_RADIUS_M`` away from every corridor,
  active on a daily schedule, holds for every truck; these trucks go through it on each of
  their clean loaded hauls (two in five; some outside its active hours: negatives). Every
  truck whose ground-truth track is inside the zone while it is active is labelled.

Labels come from the motion's ground truth (its pieces, sampled every ``SAMPLE_S``), never
from the engine. Times are float seconds since the day's start (UTC); coordinates lon, lat.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import shapely

from tracker.geofence import Fence, fence_from_geojson
from tracker.sim.motion import DrivingConfig, Leg, Piece
from tracker.sim.places import Place, place_at_node
from tracker.sim.scenario import (
    PLACE_DWELL_S,
    Label,
    ScenarioMotion,
    TruckSpec,
    World,
    loaded_spans,
)
from tracker.trips.core import TimeWindow, VehicleContext
from tracker.trips.core.models import RuleConfig, SiteRule, YardRule, ZoneRule
from tracker.trips.core.view import RegistryView
from tracker.wire import Fix

KINDS = (
    "no_permit",
    "inactive_site",
    "quota_exceeded",
    "closed_yard",
    "blacklisted_vehicle",
    "uncovered",
    "speeding",
    "no_go_zone",
)
TRUCKS_PER_KIND = 2
SAMPLE_S = 2.0
ZONE_ID = "zone-0"
ZONE_RADIUS_M = 120.0
ZONE_CLEAR_M = 400.0  # from every corridor's route and from the second yard
ZONE_MERGE_S = 60.0  # RuleConfig.zone_clear_s: spells inside closer than this are one
SPEED_LIMIT_KMH = 50.0  # the hauling roads are 45 km/h at most (× 1.05 for a brisk driver)
SPEEDING_KMH = (60.0, 75.0)
SPEEDING_M = (1000.0, 3000.0)
SPEEDING_LEG_SHARE = 0.35
SPEEDING_MIN_S = 30.0  # RuleConfig.speeding_min_s
UNCOVERED_SHARE = 0.5  # of an uncovered truck's loaded legs
UNCOVERED_S = (60.0, 300.0)
UNCOVERED_MIN_S = 30.0  # RuleConfig.uncovered_min_s
BLACKLIST_IDLE_S = 600.0  # RuleConfig.blacklist_idle_close_s
RATED_M3 = 20.0
QUOTA_LOADS = (1, 4)
REFRESH_S = 60.0
NEEDS_PERMIT = ("route_deviation", "wrong_yard", "outside_hours")
EARTH_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class TypesWorld:
    """What the extra types add to the world: the no-go zone, its schedule."""

    zone: Place
    zone_fence: Fence
    zone_windows: tuple[TimeWindow, ...]
    day_start: datetime
    local_offset_min: int

    def fences(self) -> list[Fence]:
        return [self.zone_fence]

    def view(self, view: RegistryView) -> RegistryView:
        roles = {**view.fence_roles, ZONE_ID: ("zone", ZONE_ID)}
        return dataclasses.replace(view, fence_roles=roles, zones={ZONE_ID: self.zone_rule()})

    def zone_rule(self) -> ZoneRule:
        return ZoneRule(ZONE_ID, no_go=True, active_windows=self.zone_windows)

    def zone_active_s(self, t_s: float) -> bool:
        minute = (
            self.day_start.hour * 60 + self.day_start.minute + self.local_offset_min + t_s / 60.0
        ) % 1440
        return any(w.start_min <= minute < w.end_min for w in self.zone_windows)


def types_world(world: World, day_start: datetime, local_offset_min: int) -> TypesWorld:
    """The zone around the road node ≥ ``ZONE_CLEAR_M`` from every route and from the second
    yard that is nearest to the network's centre; active 07:30–12:30 local (the day runs
    from 06:00)."""
    net = world.network
    lons, lats = np.asarray(net.lons), np.asarray(net.lats)
    far = np.ones(len(lons), dtype=bool)
    for route in world.routes.values():
        for node in route:
            far &= _distances_m(lons, lats, *net.coord(node)) > ZONE_CLEAR_M
    far &= _distances_m(lons, lats, world.yard2.dwell_lon, world.yard2.dwell_lat) > ZONE_CLEAR_M
    d_centre = _distances_m(lons, lats, float(lons.mean()), float(lats.mean()))
    d_centre[~far] = np.inf
    node = int(np.argmin(d_centre))
    zone = place_at_node(net, node, "No-go zone", "stop")
    lon, lat = net.coord(node)
    dlat = math.degrees(ZONE_RADIUS_M / EARTH_M)
    dlon = dlat / math.cos(math.radians(lat))
    circle = shapely.affinity.scale(shapely.Point(lon, lat).buffer(dlat, 32), dlon / dlat, 1.0)
    fence = fence_from_geojson(ZONE_ID, shapely.geometry.mapping(circle))
    windows = (TimeWindow(7 * 60 + 30, 12 * 60 + 30),)
    return TypesWorld(zone, fence, windows, day_start, local_offset_min)


def _distances_m(lons: np.ndarray, lats: np.ndarray, lon: float, lat: float) -> np.ndarray:
    k = math.radians(1.0) * EARTH_M
    dx = (lons - lon) * k * math.cos(math.radians(lat))
    return np.asarray(np.hypot(dx, (lats - lat) * k))


def plan(vehicle_ids: list[int], seed: int) -> dict[int, str]:
    """Which trucks get which kind: ``TRUCKS_PER_KIND`` each, drawn from the seed's own
    stream (the scenario's draws are untouched)."""
    rng = random.Random(f"detect-types-{seed}")
    chosen = rng.sample(vehicle_ids, min(len(vehicle_ids), len(KINDS) * TRUCKS_PER_KIND))
    return {vid: KINDS[i // TRUCKS_PER_KIND] for i, vid in enumerate(chosen)}


class TypesMotion(ScenarioMotion):
    """``ScenarioMotion`` that also drives through the no-go zone or speeds, by kind."""

    def __init__(
        self,
        world: World,
        spec: TruckSpec,
        rng: random.Random,
        config: DrivingConfig,
        weights: dict[str, int] | None,
        kind: str,
        typed: TypesWorld,
    ) -> None:
        self.kind, self.typed = kind, typed
        self.types_rng = random.Random(f"detect-types-motion-{spec.vehicle_id}-{rng.random()}")
        super().__init__(world, spec, rng, config, weights)

    def _haul(self, kind: str) -> None:
        if self.kind == "no_go_zone" and kind == "clean":
            t0_s = self._end_s
            self._drive(self.spec.site, self.typed.zone)
            self._drive(self.typed.zone, self.yard)
            self.injected.off_route_spans.append((t0_s, self._end_s))
            return
        super()._haul(kind)

    def _follow(self, leg: Leg, first: int = 0, end: int | None = None) -> None:
        stop = len(leg.length_m) if end is None else end
        if self.kind != "speeding" or stop - first < 2:
            super()._follow(leg, first, end)
            return
        rng = self.types_rng
        if rng.random() >= SPEEDING_LEG_SHARE:
            super()._follow(leg, first, end)
            return
        i0 = rng.randrange(first, stop - 1)
        want_m, j = rng.uniform(*SPEEDING_M), i0
        along_m = 0.0
        while j < stop and along_m < want_m:
            along_m += leg.length_m[j]
            j += 1
        super()._follow(leg, first, i0)
        speed_kmh = rng.uniform(*SPEEDING_KMH)
        for i in range(i0, j):
            duration_s = leg.length_m[i] / (speed_kmh / 3.6)
            self._append(duration_s, leg.lons[i], leg.lats[i], leg.tunnel[i], leg.heading_deg[i])
        super()._follow(leg, j, stop)


def motion_factory(kind: str | None, typed: TypesWorld) -> Callable[..., ScenarioMotion] | None:
    """The motion class for a truck of ``kind`` (None: the scenario's own)."""
    if kind not in ("speeding", "no_go_zone"):
        return None

    def make(
        world: World,
        spec: TruckSpec,
        rng: random.Random,
        config: DrivingConfig,
        weights: dict[str, int] | None,
    ) -> ScenarioMotion:
        assert kind is not None
        return TypesMotion(world, spec, rng, config, weights, kind, typed)

    return make


# -- the ground truth ----------------------------------------------------------------------
@dataclass(slots=True)
class Truth:
    """A truck's pieces sampled every ``SAMPLE_S``: time, position, speed, load."""

    t_s: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    speed_kmh: np.ndarray
    loaded: np.ndarray

    @staticmethod
    def of(log: list[Piece]) -> Truth:
        ts, lons, lats, speeds, loads = [], [], [], [], []
        for piece in log:
            duration_s = piece.t1_s - piece.t0_s
            if duration_s <= 0:
                continue
            steps = max(1, math.ceil(duration_s / SAMPLE_S))
            f = np.arange(steps) / steps
            ts.append(piece.t0_s + duration_s * f)
            lons.append(piece.lon0 + (piece.lon1 - piece.lon0) * f)
            lats.append(piece.lat0 + (piece.lat1 - piece.lat0) * f)
            moving = piece.length_m > 0.5
            speeds.append(np.full(steps, piece.speed_kmh if moving else 0.0))
            loads.append(np.full(steps, piece.loaded))
        return Truth(*(np.concatenate(x) for x in (ts, lons, lats, speeds, loads)))


def _runs(mask: np.ndarray, t_s: np.ndarray, merge_s: float = 0.0) -> list[tuple[float, float]]:
    """(first, last) sample times of the runs of ``mask``; runs closer than ``merge_s`` are
    one."""
    out: list[tuple[float, float]] = []
    if not mask.any():
        return out
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        start, end = float(t_s[a]), float(t_s[b - 1])
        if out and start - out[-1][1] <= max(merge_s, SAMPLE_S * 1.01):
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


@dataclass(slots=True)
class Typed:
    """One truck's kind: its context, extra labels, cover readings, registry refreshes."""

    kind: str | None
    labels: list[Label] = field(default_factory=list)
    refreshes: list[tuple[float, VehicleContext]] = field(default_factory=list)


def hauls(
    truth: Truth, world: World, site_fence: Fence, yard_fences: list[Fence]
) -> list[tuple[float, float, str]]:
    """Loaded hauls: (left the site's fence, entered a yard's fence, yard id)."""
    out: list[tuple[float, float, str]] = []
    in_site = site_fence.covers_many(truth.lon, truth.lat)
    in_yards = {f.fence_id: f.covers_many(truth.lon, truth.lat) for f in yard_fences}
    for a_s, b_s in loaded_spans_truth(truth):
        i = int(np.searchsorted(truth.t_s, a_s))
        j = int(np.searchsorted(truth.t_s, b_s, side="right"))
        outside = np.flatnonzero(~in_site[i:j])
        if len(outside) == 0:
            continue
        k = i + int(outside[0])
        arrive_s, yard_id = b_s, ""
        for fence_id, inside in in_yards.items():
            hits = np.flatnonzero(inside[k:j])
            if len(hits) and float(truth.t_s[k + int(hits[0])]) <= arrive_s:
                arrive_s, yard_id = float(truth.t_s[k + int(hits[0])]), fence_id
        out.append((float(truth.t_s[k]), arrive_s, yard_id))
    return out


def loaded_spans_truth(truth: Truth) -> list[tuple[float, float]]:
    """Loaded spans from the first to the last loaded moving sample."""
    out: list[tuple[float, float]] = []
    for a_s, b_s in _runs(truth.loaded.astype(bool), truth.t_s):
        i = int(np.searchsorted(truth.t_s, a_s))
        j = int(np.searchsorted(truth.t_s, b_s, side="right"))
        moving = np.flatnonzero(truth.speed_kmh[i:j] > 0)
        if len(moving):
            out.append((float(truth.t_s[i + moving[0]]), float(truth.t_s[i + moving[-1]])))
    return out


def no_go_labels(truth: Truth, typed: TypesWorld, vehicle_id: int) -> list[Label]:
    """Inside the zone while it is active (any load): every truck."""
    inside = typed.zone_fence.covers_many(truth.lon, truth.lat)
    if not inside.any():
        return []
    active = np.array([typed.zone_active_s(t) for t in truth.t_s[inside]])
    mask = inside.copy()
    mask[inside] = active
    return [
        Label("no_go_zone", vehicle_id, a_s, b_s, a_s)
        for a_s, b_s in _runs(mask, truth.t_s, ZONE_MERGE_S)
    ]


def _fence(world: World, fence_id: str) -> Fence:
    return next(f for f in world.fences() if f.fence_id == fence_id)


def type_truck(
    world: World,
    typed: TypesWorld,
    spec: TruckSpec,
    kind: str | None,
    motion: ScenarioMotion,
    ctx: VehicleContext,
    hours: float,
) -> tuple[VehicleContext, Typed]:
    """The context and labels of a truck of ``kind`` (None: only the zone's labels)."""
    log, silences = motion.log, motion.injected.silences
    ctx = dataclasses.replace(ctx, zones={ZONE_ID: typed.zone_rule()})
    truth = Truth.of(log)
    vid = spec.vehicle_id
    out = Typed(kind, no_go_labels(truth, typed, vid))
    if kind is None or kind == "no_go_zone":
        return ctx, out
    site_id = f"site-{world.sites.index(spec.site)}"
    yard_fences = [_fence(world, "yard-0"), _fence(world, "yard-1")]
    trips = hauls(truth, world, _fence(world, site_id), yard_fences)
    if kind in ("no_permit", "inactive_site"):
        out.labels += [Label(kind, vid, a_s, b_s, a_s) for a_s, b_s, _ in trips]
        if kind == "no_permit":
            ctx = dataclasses.replace(ctx, permits=())
        else:
            day = typed.day_start
            ctx = dataclasses.replace(
                ctx, sites={site_id: SiteRule(site_id, active_until=day - timedelta(hours=6))}
            )
    elif kind == "quota_exceeded":
        rng = random.Random(f"quota-{vid}-{hours}")
        ctx, out = _quota(ctx, out, truth, trips, rng, typed.day_start)
    elif kind == "closed_yard":
        out.labels += _closed_yard(typed, truth, yard_fences[0], hours, vid)
        ctx = dataclasses.replace(ctx, yards={"yard-0": _yard_rule(typed, hours, vid)})
    elif kind == "blacklisted_vehicle":
        periods = _runs(truth.speed_kmh > 0, truth.t_s, BLACKLIST_IDLE_S)
        out.labels += [Label(kind, vid, a_s, b_s, a_s) for a_s, b_s in periods]
        ctx = dataclasses.replace(ctx, blacklisted=True, blacklist_listing_id=vid)
    elif kind == "uncovered":
        rng = random.Random(f"uncovered-{vid}-{hours}")
        for a_s, b_s in loaded_spans(log):
            if b_s - a_s < UNCOVERED_S[0] + 30.0 or rng.random() >= UNCOVERED_SHARE:
                continue
            length_s = min(rng.uniform(*UNCOVERED_S), b_s - a_s - 30.0)
            start_s = rng.uniform(a_s + 15.0, b_s - 15.0 - length_s)
            if any(s0 <= start_s + length_s and start_s <= s1 for s0, s1 in silences):
                continue  # one event per haul: this one already has a silent terminal
            out.labels.append(
                Label(kind, vid, start_s, start_s + length_s, start_s + UNCOVERED_MIN_S)
            )
        sensors = dataclasses.replace(ctx.sensors, has_cover=True)
        ctx = dataclasses.replace(ctx, sensors=sensors)
    elif kind == "speeding":
        over = truth.speed_kmh > SPEED_LIMIT_KMH
        out.labels += [
            Label(kind, vid, a_s, b_s, a_s + SPEEDING_MIN_S)
            for a_s, b_s in _runs(over, truth.t_s)
            if b_s - a_s >= SPEEDING_MIN_S
        ]
        ctx = dataclasses.replace(ctx, rules=RuleConfig(speed_limit_kmh=SPEED_LIMIT_KMH))
    return ctx, out


def _quota(
    ctx: VehicleContext,
    out: Typed,
    truth: Truth,
    trips: list[tuple[float, float, str]],
    rng: random.Random,
    day_start: datetime,
) -> tuple[VehicleContext, Typed]:
    """A quota of ``k`` loads and a half; the hauled volume refreshed after each delivery."""
    loads = rng.randint(*QUOTA_LOADS)
    quota_m3 = RATED_M3 * (loads + 0.5)
    permit = dataclasses.replace(ctx.permits[0], quota_m3=quota_m3, hauled_m3=0.0)
    ctx = dataclasses.replace(ctx, permits=(permit,), rated_volume_m3=RATED_M3)
    for n, (a_s, b_s, yard_id) in enumerate(trips, start=1):
        if n > loads:
            out.labels.append(Label("quota_exceeded", ctx.vehicle_id, a_s, b_s, a_s))
        if not yard_id:
            continue
        # Delivered once the truck is empty again in the yard; the view reloads after that.
        j = int(np.searchsorted(truth.t_s, b_s))
        empty = np.flatnonzero(~truth.loaded[j:].astype(bool))
        done_s = float(truth.t_s[j + int(empty[0])]) if len(empty) else b_s
        # What the registry reads: the volume, and this vehicle's latest departure among its
        # delivered trips (any instant from the engine's departure to the next one's rules
        # alike: the yard arrival is one).
        until = day_start + timedelta(seconds=b_s)
        hauled = dataclasses.replace(permit, hauled_m3=RATED_M3 * n, hauled_until=until)
        out.refreshes.append((done_s + REFRESH_S, dataclasses.replace(ctx, permits=(hauled,))))
    return ctx, out


def _closing_s(hours: float, vehicle_id: int) -> float:
    """The yard closes 30–70 % into the day, on the minute."""
    rng = random.Random(f"closing-{vehicle_id}-{hours}")
    return 60.0 * round(rng.uniform(0.3, 0.7) * hours * 60.0)


def _yard_rule(typed: TypesWorld, hours: float, vehicle_id: int) -> YardRule:
    start_min = (typed.day_start.hour * 60 + typed.day_start.minute + typed.local_offset_min) % 1440
    close_min = round(start_min + _closing_s(hours, vehicle_id) / 60.0) % 1440
    return YardRule("yard-0", opening_windows=(TimeWindow((start_min - 60) % 1440, close_min),))


def _closed_yard(
    typed: TypesWorld, truth: Truth, yard: Fence, hours: float, vid: int
) -> list[Label]:
    """Stays in the yard, arrived loaded, lasting past both the closing time and the place
    dwell."""
    closing_s = _closing_s(hours, vid)
    inside = yard.covers_many(truth.lon, truth.lat)
    labels = []
    for enter_s, leave_s in _runs(inside, truth.t_s):
        i = int(np.searchsorted(truth.t_s, enter_s))
        if not truth.loaded[i]:
            continue
        detectable_s = max(enter_s + PLACE_DWELL_S, closing_s)
        if detectable_s < leave_s:
            labels.append(Label("closed_yard", vid, enter_s, leave_s, detectable_s))
    return labels


def cover_fixes(
    batches: list[tuple[float, list[Fix]]],
    log: list[Piece],
    labels: list[Label],
    day_start: datetime,
) -> None:
    """Cover readings on an ``uncovered`` truck's fixes: shut while loaded (and not tipping),
    open while empty and in the labelled stretches."""
    starts = [p.t0_s for p in log]
    spans = [(lb.start_s, lb.end_s) for lb in labels if lb.type == "uncovered"]
    for _, fixes in batches:
        for fix in fixes:
            t_s = (fix.fix_time - day_start).total_seconds()
            piece = log[max(0, bisect.bisect_right(starts, t_s) - 1)]
            closed = piece.loaded and not piece.body_lifted
            if any(a <= t_s <= b for a, b in spans):
                closed = False
            fix.cover_closed = closed
