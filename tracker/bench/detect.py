"""``tracker bench detect``: detection quality of the enforcement engine on labelled haul days.

Pure in memory: no database or Redis. It exercises what detection quality depends on, the
engine core (``tracker.trips.process``/``tick``) and the geofence index (``annotate``), the way
a worker drives them: per truck, uploads in arrival order, each batch through
``prepare_batch``, a ``tick`` every 10 s of worker clock, and a late fix older than the state
replayed into history (``tracker.trips.core.rewind``) over the fixes arrived so far, as the worker
does over ``pings``. The stream, shards and checkpoints are not exercised.

Scenario (``tracker.sim.scenario``): N trucks × a haul day on the Monaco roads with injected,
labelled violations and the simulator's terminal noise, plus 60 m jumps (0.5 % of fixes).
``tracker.bench.detect_types`` adds the other types (no-go zone, no permit, speeding,
uncovered, blacklisted, closed yard, quota, inactive site) on a few trucks per seed.
A naive baseline runs on the same fixes: dumping = any stop (< 5 km/h within 50 m) of ≥ 3 min
outside every site and yard; route deviation = raw corridor exit (any fix beyond the
half-width between a site and a yard). Other types have no naive analogue: their baseline
repeats the engine's figures and says so.

A detection matches a label of its type and vehicle when its start lies within the label's
span ± 90 s; a label matches once; extra detections are false positives. Delays run from the
label's "becomes detectable" time (start + the rule's minimum duration) to the arrival of the
fix (or the tick) that raised it (its start: the one it closes with, which held-back fixes
can move). A violation that becomes detectable in the day's last minute
is not scored: no miss if it is not raised, no false alarm if it is. ``terminal_offline``
labels are the injected silences plus every other stretch of ≥ 5 min without a fix while
loaded in what the terminal delivered (canyon gaps with lost fixes, tunnels): docs/DOMAIN.md §2
counts any such silence. Last line: one JSON object keyed by incident type.

The JT/T 808 session (``tracker.sim.session``): held-back runs arrive marked blind-area
(``Fix.blind_area``), and the terminal heartbeats while it records without sending; the
clock is told the latest heartbeat (``tick``'s ``heard_us``), as the worker reads
``HEARD_KEY``. An injected silence that begins before the truck is ``tamper_exit_s`` past its
site's fence is labelled ``terminal_tampering`` (``tracker.sim.gate_labels``).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tracker.bench import detect_sightings, detect_types
from tracker.geo import EARTH_RADIUS_M
from tracker.geofence import GeofenceIndex
from tracker.roads.network import RoadNetwork, load_landuse
from tracker.sim.data import default_data_dir, ensure_monaco_pbf
from tracker.sim.fleet import Truck
from tracker.sim.gate_labels import gate_silences, relabel, site_fence
from tracker.sim.motion import DrivingConfig
from tracker.sim.places import demo_places
from tracker.sim.scenario import (
    HALF_WIDTH_M,
    HARD_WEIGHTS,
    Label,
    ScenarioMotion,
    TruckSpec,
    World,
    build_world,
    loaded_spans,
    truck_specs,
)
from tracker.sim.session import heard_at, heartbeat_times
from tracker.sim.terminal import OutgoingBatch, Terminal, TerminalConfig
from tracker.trips.core import (
    AnnotatedFix,
    IncidentClosed,
    IncidentOpened,
    IncidentRetracted,
    PermitScope,
    Sensors,
    TimeWindow,
    VehicleContext,
    VehicleState,
    tick,
)
from tracker.trips.core.annotate import annotate
from tracker.trips.core.rewind import advance, note
from tracker.trips.core.state import to_us
from tracker.trips.core.view import RegistryView, Role
from tracker.wire import Fix, Timed

DAY_START = datetime(2026, 5, 4, 4, 0, tzinfo=UTC)  # 06:00 in Monaco (UTC+2)
UTC_OFFSET_MIN = 120
CITY_TZ = timezone(timedelta(minutes=UTC_OFFSET_MIN))
TICK_S = 10.0
MATCH_TOL_S = 90.0
JUMP_PROB = 0.005
JUMP_M = 60.0
UPLOAD_LATENCY_S = 0.5
NO_NAIVE = ("wrong_yard", "outside_hours", "terminal_offline")
PROFILES = ("normal", "hard")
# The hard profile's street (see ``tracker.sim.scenario.HARD_WEIGHTS`` for its evasions).
HARD_SLOW_SHARE = 0.3  # trucks whose terminal reports every 60 s
HARD_SLOW = TerminalConfig(interval_min_s=58, interval_max_s=62, gap_max_s=240.0, late_prob=0.02)
HARD_TERMINAL = TerminalConfig(gap_max_s=240.0, late_prob=0.02)
BURST_SHARE = 0.1  # of loaded legs: an urban-canyon error burst
BURST_M = (30.0, 80.0)
BURST_S = (60.0, 180.0)

Burst = tuple[float, float, float, float]  # start s, end s, east m, north m


@dataclass(frozen=True, slots=True)
class Detection:
    type: str
    vehicle_id: int
    start_s: float
    detected_s: float
    incident_id: str = ""


@dataclass(slots=True)
class TruckRun:
    spec: TruckSpec
    ctx: VehicleContext
    batches: list[tuple[float, list[Fix]]]  # arrival (s since start), fixes
    labels: list[Label]
    short_deviations: int
    traffic_stops: int
    unscored: list[Label] = field(default_factory=list)  # detectable too late in the day
    # Registry reloads (s since the start, the context from then on): see ``detect_types``.
    refreshes: list[tuple[float, VehicleContext]] = field(default_factory=list)
    passages: list[tuple[float, int]] = field(default_factory=list)  # checkpoints (hard)
    heard_s: list[float] = field(default_factory=list)  # heartbeats (``tracker.sim.session``)


@dataclass(slots=True)
class Results:
    labels: list[Label] = field(default_factory=list)
    unscored: list[Label] = field(default_factory=list)
    engine: list[Detection] = field(default_factory=list)
    retracted: set[str] = field(default_factory=set)  # incident ids
    baseline: list[Detection] = field(default_factory=list)
    fixes: int = 0
    short_deviations: int = 0
    traffic_stops: int = 0
    sightings: int = 0  # camera reads (hard profile)


# -- scenario to fixes ---------------------------------------------------------------------
def _context(world: World, spec: TruckSpec, hours: float) -> VehicleContext:
    site_i = world.sites.index(spec.site)
    start_min = (DAY_START.hour * 60 + DAY_START.minute + UTC_OFFSET_MIN) % 1440
    end_min = (
        start_min + hours * 60 + 60 if spec.cutoff_s is None else start_min + spec.cutoff_s / 60
    )
    permit = PermitScope(
        permit_id=f"permit-{spec.vehicle_id}",
        valid_from=DAY_START - timedelta(days=1),
        valid_until=DAY_START + timedelta(days=2),
        origin_ids=frozenset({f"site-{site_i}"}),
        yard_ids=frozenset({"yard-0"}),
        corridors={f"corridor-{site_i}": HALF_WIDTH_M},
        windows=(TimeWindow((start_min - 60) % 1440, round(end_min) % 1440),),
    )
    sensors = Sensors(has_lift=spec.has_lift)
    return VehicleContext(spec.vehicle_id, (permit,), {}, CITY_TZ, sensors=sensors)


def _to_fix(raw: dict[str, object], spec: TruckSpec, arrival: datetime) -> Fix:
    return Fix(
        vehicle_id=spec.vehicle_id,
        terminal_id=spec.vehicle_id,
        fix_time=datetime.fromisoformat(str(raw["time"])),
        received_at=arrival,
        lon=float(raw["lon"]),  # type: ignore[arg-type]
        lat=float(raw["lat"]),  # type: ignore[arg-type]
        speed_kmh=float(raw["speed_kmh"]),  # type: ignore[arg-type]
        heading_deg=float(raw["heading_deg"]),  # type: ignore[arg-type]
        body_lifted=bool(raw["body_lifted"]) if spec.has_lift else None,
    )


def _jump(fix: Fix, rng: random.Random) -> None:
    bearing = rng.uniform(0.0, 2 * math.pi)
    dlat = math.degrees(JUMP_M * math.cos(bearing) / EARTH_RADIUS_M)
    dlon = math.degrees(JUMP_M * math.sin(bearing) / EARTH_RADIUS_M) / math.cos(
        math.radians(fix.lat)
    )
    fix.lon, fix.lat = fix.lon + dlon, fix.lat + dlat


def _bursts(spans: list[tuple[float, float]], rng: random.Random) -> list[Burst]:
    """Urban-canyon error bursts on ``BURST_SHARE`` of the loaded legs: 30–80 m off, in one
    direction, for 1–3 min."""
    out: list[Burst] = []
    for a_s, b_s in spans:
        if b_s - a_s < BURST_S[1] or rng.random() >= BURST_SHARE:
            continue
        start_s = rng.uniform(a_s, b_s - BURST_S[1])
        size_m, bearing = rng.uniform(*BURST_M), rng.uniform(0.0, 2 * math.pi)
        end_s = start_s + rng.uniform(*BURST_S)
        out.append((start_s, end_s, size_m * math.sin(bearing), size_m * math.cos(bearing)))
    return out


def _offset(fix: Fix, east_m: float, north_m: float) -> None:
    fix.lat += math.degrees(north_m / EARTH_RADIUS_M)
    fix.lon += math.degrees(east_m / EARTH_RADIUS_M) / math.cos(math.radians(fix.lat))


def _noisy_batches(
    spec: TruckSpec,
    batches: list[OutgoingBatch],
    silences: list[tuple[float, float]],
    seed: int,
    bursts: list[Burst] | None = None,
) -> list[tuple[float, list[Fix]]]:
    """Fix objects as they arrive; silenced fixes dropped, 60 m jumps added, error bursts
    applied."""
    rng = random.Random(seed)
    out: list[tuple[float, list[Fix]]] = []
    for batch in batches:
        arrival = batch.send_time + timedelta(seconds=UPLOAD_LATENCY_S)
        fixes = []
        for raw in batch.fixes:
            fix = _to_fix(raw, spec, arrival)
            if batch.late:  # a held-back run goes up as a 0x0704 blind-area upload
                fix.blind_area = True
            t_s = (fix.fix_time - DAY_START).total_seconds()
            if any(a <= t_s <= b for a, b in silences):
                continue
            if rng.random() < JUMP_PROB:
                _jump(fix, rng)
            for a_s, b_s, east_m, north_m in bursts or ():
                if a_s <= t_s <= b_s:
                    _offset(fix, east_m + rng.gauss(0, 5), north_m + rng.gauss(0, 5))
            fixes.append(fix)
        if fixes:
            out.append(((arrival - DAY_START).total_seconds(), fixes))
    return out


def generate_truck(
    world: World,
    spec: TruckSpec,
    hours: float,
    seed: int,
    profile: str = "normal",
    typed: detect_types.TypesWorld | None = None,
    kind: str | None = None,
) -> TruckRun:
    """One truck's haul day: its permit context, arriving batches and labels; with
    ``typed``, the no-go zone and the truck's ``kind`` of ``detect_types``."""
    rng = random.Random(seed)
    hard = profile == "hard"
    weights = HARD_WEIGHTS if hard else None
    motion_rng = random.Random(rng.getrandbits(64))
    make = None if typed is None else detect_types.motion_factory(kind, typed)
    motion = (make or ScenarioMotion)(world, spec, motion_rng, DrivingConfig(), weights)
    config = TerminalConfig(gap_max_s=240.0)  # canyon gaps mostly stay below 5 min of silence
    if hard:
        config = HARD_SLOW if rng.random() < HARD_SLOW_SHARE else HARD_TERMINAL
    terminal = Terminal(spec.vehicle_id, random.Random(rng.getrandbits(64)), config, DAY_START)
    batches = Truck(spec.vehicle_id, motion, terminal).advance(hours * 3600.0)
    bursts = _bursts(loaded_spans(motion.log), rng) if hard else None
    silences = motion.injected.silences
    noisy = _noisy_batches(spec, batches, silences, rng.getrandbits(64), bursts)
    fix_times_s = [(f.fix_time - DAY_START).total_seconds() for _, fixes in noisy for f in fixes]
    labels, short = motion.finish()
    starts = [a_s for a_s, _ in loaded_spans(motion.log)]
    gate = gate_silences(silences, motion.log, site_fence(spec.site), starts)
    labels = relabel(labels, gate)  # a silence at the gate is tampering by definition
    labels += motion.gap_labels(fix_times_s)
    ctx = _context(world, spec, hours)
    refreshes: list[tuple[float, VehicleContext]] = []
    if typed is not None:
        ctx, extra = detect_types.type_truck(world, typed, spec, kind, motion, ctx, hours)
        if kind == "no_permit":
            labels = [lb for lb in labels if lb.type not in detect_types.NEEDS_PERMIT]
        if kind == "uncovered":
            detect_types.cover_fixes(noisy, motion.log, extra.labels, DAY_START)
        labels += extra.labels
        refreshes = extra.refreshes
    # Violations that become detectable in the day's last minute are not scored: neither a
    # miss if the engine has not raised them yet, nor a false alarm if it has.
    end_s = hours * 3600.0
    unscored = [lb for lb in labels if lb.detectable_s >= end_s - 60.0]
    labels = [lb for lb in labels if lb.detectable_s < end_s - 60.0]
    heard = heartbeat_times((a for a, _ in noisy), fix_times_s, end_s, silences)
    run = TruckRun(
        spec, ctx, noisy, labels, short, motion.injected.traffic_stops, unscored, refreshes,
        heard_s=heard,
    )  # fmt: skip
    if hard:  # checkpoint sightings (tracker.bench.detect_sightings)
        run.passages = detect_sightings.passages(motion.log, detect_sightings.checkpoints(world))
    return run


# -- engine and baseline -------------------------------------------------------------------
@dataclass(slots=True)
class Baseline:
    """Naive rules on the same annotated fixes (see the module docstring)."""

    vehicle_id: int
    stop: tuple[float, float, float] | None = None  # lon, lat, start_s
    stop_reported: bool = False
    on_haul: bool = False
    outside: bool = False
    found: list[Detection] = field(default_factory=list)

    def feed(self, afix: AnnotatedFix, t_s: float, arrival_s: float) -> None:
        fix = afix.fix
        in_place = bool(afix.site_ids or afix.yard_ids)
        if (fix.speed_kmh or 0.0) < 5.0 and (
            self.stop is None or _dist_m(self.stop[0], self.stop[1], fix.lon, fix.lat) <= 50.0
        ):
            if self.stop is None:
                self.stop, self.stop_reported = (fix.lon, fix.lat, t_s), False
            if t_s - self.stop[2] >= 180.0 and not in_place and not self.stop_reported:
                self.found.append(Detection("dumping", self.vehicle_id, self.stop[2], arrival_s))
                self.stop_reported = True
        else:
            self.stop = None
        if afix.site_ids:
            self.on_haul = True
        elif afix.yard_ids:
            self.on_haul = False
        distances = afix.corridor_distance_m.values()
        out = self.on_haul and bool(distances) and min(distances) > HALF_WIDTH_M
        if out and not self.outside:
            self.found.append(Detection("route_deviation", self.vehicle_id, t_s, arrival_s))
        self.outside = out


def _dist_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    dx = math.radians(lon2 - lon1) * math.cos(math.radians(lat1)) * EARTH_RADIUS_M
    return math.hypot(dx, math.radians(lat2 - lat1) * EARTH_RADIUS_M)


def _opened(events: list[Any], vehicle_id: int, detected_s: float) -> list[Detection]:
    return [
        Detection(
            e.incident.type,
            vehicle_id,
            (e.incident.started_at - DAY_START).total_seconds(),
            detected_s,
            e.incident.incident_id,
        )
        for e in events
        if isinstance(e, IncidentOpened)
    ]


def _moved(found: list[Detection], events: list[Any]) -> list[Detection]:
    """A silence that held-back fixes shortened keeps its incident and moves its start: the
    detection is scored at the start it ends with (found when it was opened)."""
    starts = {
        e.incident.incident_id: (e.incident.started_at - DAY_START).total_seconds()
        for e in events
        if isinstance(e, IncidentClosed)
    }
    if not starts:
        return found
    return [
        replace(d, start_s=starts[d.incident_id]) if d.incident_id in starts else d for d in found
    ]


def run_truck(
    index: GeofenceIndex, view: RegistryView, run: TruckRun, end_s: float | None = None
) -> tuple[list[Detection], list[Detection], int, set[str]]:
    """Feed one truck's uploads to the engine as a worker would (stragglers replayed into
    history over what had arrived, as the worker does from ``pings``); the baseline sees the
    same annotated fixes, stragglers skipped. Returns engine and baseline detections, the
    fixes processed and the incidents that late fixes retracted."""
    ctx, vid = run.ctx, run.spec.vehicle_id
    refreshes = sorted(run.refreshes, key=lambda r: r[0])
    state, base = VehicleState(vehicle_id=vid), Baseline(vid)
    found: list[Detection] = []
    next_tick_s, processed = TICK_S, 0
    arrived: list[Timed] = []  # what the worker would find in ``pings``
    retracted: set[str] = set()

    def annotator(
        fix: Fix, prev_lon_lat: tuple[float, float] | None, t_us: int, received_us: int
    ) -> AnnotatedFix:
        return annotate(index, view, ctx, fix, prev_lon_lat, t_us, received_us)

    batches = sorted(run.batches, key=lambda b: b[0])
    if end_s is not None:  # the worker's clock runs to the day's end, uploads or not
        batches.append((end_s, []))
    for arrival_s, fixes in batches:
        while refreshes and refreshes[0][0] <= arrival_s:  # the worker reloads its view
            ctx = refreshes.pop(0)[1]
        while next_tick_s < arrival_s:
            now = DAY_START + timedelta(seconds=next_tick_s)
            heard_s = heard_at(run.heard_s, next_tick_s)
            heard_us = None if heard_s is None else to_us(DAY_START) + int(heard_s * 1e6)
            state, events = tick(state, ctx, now, heard_us)
            note(state, events)
            found += _opened(events, vid, next_tick_s)
            next_tick_s += TICK_S
        if not fixes:
            continue
        timed = [(to_us(f.fix_time), to_us(f.received_at), f) for f in fixes]
        arrived += timed
        state, events, live = advance(state, ctx, timed, arrived, annotator)
        found += _opened(events, vid, arrival_s)
        found = _moved(found, events)
        retracted.update(e.incident_id for e in events if isinstance(e, IncidentRetracted))
        for afix in live:
            base.feed(afix, (afix.fix.fix_time - DAY_START).total_seconds(), arrival_s)
        processed += len(live)
    return found, base.found, processed, retracted


# -- scoring -------------------------------------------------------------------------------
def _matches(lb: Label, det: Detection) -> bool:
    return lb.vehicle_id == det.vehicle_id and (
        lb.start_s - MATCH_TOL_S <= det.start_s <= lb.end_s + MATCH_TOL_S
    )


def match(
    labels: list[Label], found: list[Detection], unscored: list[Label] | None = None
) -> tuple[int, int, list[float]]:
    """(matched labels, detections, delays s) for one type. A detection left over that
    matches an ``unscored`` label is not counted at all."""
    free = sorted(labels, key=lambda lb: lb.start_s)
    delays: list[float] = []
    extra: list[Detection] = []
    for det in sorted(found, key=lambda d: d.start_s):
        for lb in free:
            if _matches(lb, det):
                delays.append(det.detected_s - lb.detectable_s)
                free.remove(lb)
                break
        else:
            extra.append(det)
    ignored = 0
    spare = sorted(unscored or [], key=lambda lb: lb.start_s)
    for det in extra:
        for lb in spare:
            if _matches(lb, det):
                spare.remove(lb)
                ignored += 1
                break
    return len(labels) - len(free), len(found) - ignored, delays


def _figures(
    labels: list[Label], found: list[Detection], unscored: list[Label] | None = None
) -> dict[str, Any]:
    hits, n_found, delays = match(labels, found, unscored)
    delays.sort()
    p95 = delays[min(len(delays) - 1, math.ceil(0.95 * len(delays)) - 1)] if delays else None
    return {
        "precision": round(len(delays) / n_found, 4) if n_found else None,
        "recall": round(hits / len(labels), 4) if labels else None,
        "median_detect_s": round(statistics.median(delays), 1) if delays else None,
        "p95_detect_s": round(p95, 1) if p95 is not None else None,
        "labels": len(labels),
        "detections": n_found,
    }


def score(results: Results) -> dict[str, dict[str, Any]]:
    types = sorted({lb.type for lb in results.labels} | {d.type for d in results.engine})
    out: dict[str, dict[str, Any]] = {}
    for type_ in types:
        labels = [lb for lb in results.labels if lb.type == type_]
        unscored = [lb for lb in results.unscored if lb.type == type_]
        mine = [d for d in results.engine if d.type == type_]
        engine = _figures(labels, mine, unscored)
        kept = [d for d in mine if d.incident_id not in results.retracted]
        if len(kept) < len(mine):  # what stays once late fixes have retracted some
            after = _figures(labels, kept, unscored)
            engine["retracted"] = len(mine) - len(kept)
            engine["after_retraction"] = {k: after[k] for k in ("precision", "recall")}
        if type_ in NO_NAIVE or type_ not in ("dumping", "route_deviation"):
            baseline = {**engine, "note": "no naive analogue: the engine's figures"}
        else:
            found = [d for d in results.baseline if d.type == type_]
            baseline = _figures(labels, found, unscored)
        out[type_] = {**engine, "baseline": baseline}
    return out


# -- command -------------------------------------------------------------------------------
def load_world() -> World:
    pbf = ensure_monaco_pbf(default_data_dir())
    network = RoadNetwork.from_pbf(pbf)
    sites, yard = demo_places(network, load_landuse(pbf))
    return build_world(network, sites, yard)


def registry_view(world: World) -> RegistryView:
    roles: dict[str, tuple[Role, str]] = {
        f"site-{i}": ("site", f"site-{i}") for i in range(len(world.sites))
    }
    roles |= {"yard-0": ("yard", "yard-0"), "yard-1": ("yard", "yard-1")}
    roles |= {c.fence_id: ("corridor", c.fence_id) for c in world.corridors.values()}
    return RegistryView(fence_roles=roles, tz=CITY_TZ)


def run_bench(
    trucks: int,
    hours: float,
    seed: int,
    console: Console,
    profile: str = "normal",
    world: World | None = None,
) -> Results:
    world = load_world() if world is None else world
    typed = detect_types.types_world(world, DAY_START, UTC_OFFSET_MIN)
    index = GeofenceIndex([*world.fences(), *typed.fences()])
    view = typed.view(registry_view(world))
    rng = random.Random(seed)
    results = Results()
    watch = detect_sightings.SightingWatch(detect_sightings.checkpoints(world), seed, hours)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("haul days", total=trucks)
        specs = truck_specs(world, trucks, hours, rng)
        kinds = detect_types.plan([s.vehicle_id for s in specs], seed)
        for spec in specs:
            kind = kinds.get(spec.vehicle_id)
            run = generate_truck(world, spec, hours, rng.getrandbits(64), profile, typed, kind)
            engine, baseline, processed, retracted = run_truck(index, view, run, hours * 3600.0)
            results.retracted |= retracted
            results.labels += run.labels
            results.unscored += run.unscored
            results.engine += engine
            results.baseline += baseline
            results.fixes += processed
            results.short_deviations += run.short_deviations
            results.traffic_stops += run.traffic_stops
            if profile == "hard":
                watch.add(run.spec.vehicle_id, run.passages, _recorded(run))
            progress.advance(task)
    if profile == "hard":
        _add_sightings(results, watch)
    return results


def _recorded(run: TruckRun) -> list[tuple[float, float, float, float]]:
    return [
        ((f.fix_time - DAY_START).total_seconds(), arrival_s, f.lon, f.lat)
        for arrival_s, fixes in run.batches
        for f in fixes
    ]


def _add_sightings(results: Results, watch: detect_sightings.SightingWatch) -> None:
    """The checkpoint sightings' labels and what the sighting service raised from them."""
    labels, found, reads = watch.finish()
    results.labels += labels
    results.engine += [Detection(*f) for f in found]
    results.sightings += reads


def _table(figures: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="detection (engine | naive baseline)")
    for name in ("type", "labels", "found", "precision", "recall", "median s", "p95 s"):
        table.add_column(name)
    for type_, f in figures.items():
        b = f["baseline"]
        table.add_row(
            type_,
            str(f["labels"]),
            f"{f['detections']} | {b['detections']}",
            *(
                f"{f[k]} | {b[k]}"
                for k in ("precision", "recall", "median_detect_s", "p95_detect_s")
            ),
        )
    return table


FIGURES = ("precision", "recall", "median_detect_s", "p95_detect_s")


def summarize(per_seed: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per incident type over seeds: the mean and the worst seed of precision and recall, the
    mean median delay and the worst p95 delay, for the engine and the naive baseline."""

    def side(figs: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"labels": sum(f["labels"] for f in figs)}
        out["detections"] = sum(f["detections"] for f in figs)
        for key in FIGURES:
            values = [f[key] for f in figs if f.get(key) is not None]
            if not values:
                out[key] = None
                continue
            if key in ("precision", "recall"):
                out[key] = round(statistics.fmean(values), 4)
                out[f"{key}_worst"] = min(values)
            elif key == "median_detect_s":
                out[key] = round(statistics.fmean(values), 1)
            else:
                out[key] = max(values)
        return out

    types = sorted({t for figures in per_seed for t in figures})
    out: dict[str, dict[str, Any]] = {}
    for type_ in types:
        figs = [f[type_] for f in per_seed if type_ in f]
        out[type_] = {**side(figs), "seeds": len(figs)}
        out[type_]["baseline"] = side([f["baseline"] for f in figs])
    return out


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-", 1)
        return list(range(int(low), int(high) + 1))
    return [int(x) for x in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tracker bench detect", description=__doc__)
    parser.add_argument("--trucks", type=int, default=40)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="8 trucks × 3 h")
    parser.add_argument("--profile", choices=(*PROFILES, "both"), default="normal")
    parser.add_argument(
        "--seeds", help="several seeds (1-12 or 1,3,5): per type the mean and the worst seed"
    )
    args = parser.parse_args(argv)
    trucks, hours = (8, 3.0) if args.quick else (args.trucks, args.hours)
    if not 0 < hours <= 20:
        parser.error("--hours must be in (0, 20]: permit windows are daily")
    if args.seeds is not None or args.profile != "normal":
        return _main_many(args, trucks, hours)
    console = Console(stderr=True)
    started = time.perf_counter()
    results = run_bench(trucks, hours, args.seed, console)
    figures = score(results)
    elapsed_s = time.perf_counter() - started
    console.print(_table(figures))
    console.print(
        f"{trucks} trucks × {hours:g} h, seed {args.seed}: {results.fixes} fixes processed, "
        f"{results.traffic_stops} traffic stops and {results.short_deviations} short (< 60 s) "
        f"excursions injected as negatives; {elapsed_s:.1f} s. Baseline for "
        f"{', '.join(t for t in figures if t not in ('dumping', 'route_deviation'))}: "
        "no naive analogue, engine figures repeated."
    )
    print(json.dumps(figures, sort_keys=True))
    return 0


def _main_many(args: argparse.Namespace, trucks: int, hours: float) -> int:
    """Profiles × seeds: one JSON line keyed by profile, then incident type (see
    ``summarize``)."""
    console = Console(stderr=True)
    seeds = _seeds(args.seeds) if args.seeds else [args.seed]
    profiles = PROFILES if args.profile == "both" else (args.profile,)
    world = load_world()
    started = time.perf_counter()
    out: dict[str, Any] = {}
    for profile in profiles:
        per_seed = []
        for seed in seeds:
            results = run_bench(trucks, hours, seed, console, profile, world)
            per_seed.append(score(results))
            brief = {
                t: (f["precision"], f["recall"], f["median_detect_s"])
                for t, f in per_seed[-1].items()
            }
            console.print(
                f"{profile} seed {seed}: {results.fixes} fixes, {results.sightings} camera "
                f"reads; {json.dumps(brief)}"
            )
        out[profile] = summarize(per_seed)
        console.print(_table(out[profile]))
    console.print(
        f"{trucks} trucks × {hours:g} h, seeds {seeds}; {time.perf_counter() - started:.1f} s"
    )
    print(json.dumps({"trucks": trucks, "hours": hours, "seeds": seeds, **out}, sort_keys=True))
    return 0
