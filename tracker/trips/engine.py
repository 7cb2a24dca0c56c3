"""The per-vehicle engine: one annotated fix in, events out; plus batch and row helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from tracker.ingest.models import Fix
from tracker.trips.events import Event
from tracker.trips.geo import distance_m
from tracker.trips.models import AnnotatedFix, RuleConfig, VehicleContext
from tracker.trips.rules_drive import (
    blacklisted_active,
    no_go_zone,
    speeding,
    terminal_offline,
    tick_offline,
)
from tracker.trips.rules_haul import (
    dumping,
    no_permit,
    outside_hours,
    route_deviation,
    uncovered,
    update_stop,
    wrong_yard,
)
from tracker.trips.state import EvidencePoint, LastFix, VehicleState, to_us
from tracker.trips.tracks import US, Step
from tracker.trips.trip import update_trip

Rule = Callable[[VehicleState, Step], list[Event]]

# Run after the trip state machine has taken the fix, in this order.
RULES: tuple[Rule, ...] = (
    dumping,
    route_deviation,
    wrong_yard,
    no_permit,
    outside_hours,
    uncovered,
    speeding,
    no_go_zone,
    blacklisted_active,
)


def _step(state: VehicleState, afix: AnnotatedFix, ctx: VehicleContext) -> Step:
    fix, cfg, last = afix.fix, ctx.rules, state.last
    t_us = to_us(fix.fix_time)
    gap_s = jump_m = None
    if last is not None:
        gap_s = (t_us - last.t_us) / US
        jump_m = distance_m(last.lon, last.lat, fix.lon, fix.lat)
    speed_kmh = fix.speed_kmh
    if speed_kmh is None:  # no speed from the terminal: implied from the previous fix
        speed_kmh = jump_m / gap_s * 3.6 if jump_m is not None and gap_s else 0.0
    distances = afix.corridor_distance_m
    fences = sorted(afix.site_ids | afix.yard_ids | afix.zone_ids)
    point = EvidencePoint(
        t_us=t_us,
        lon=fix.lon,
        lat=fix.lat,
        speed_kmh=speed_kmh,
        distance_m=min(distances.values()) if distances else None,
        fence_ids=fences,
        loaded=fix.loaded,
        body_lifted=fix.body_lifted,
        cover_closed=fix.cover_closed,
    )
    late = (fix.received_at - fix.fix_time).total_seconds() > cfg.late_after_s
    return Step(
        afix=afix,
        ctx=ctx,
        t_us=t_us,
        time=fix.fix_time,
        late=late,
        speed_kmh=speed_kmh,
        moving=speed_kmh >= cfg.stop_speed_kmh,
        point=point,
        gap_s=gap_s,
        jump_m=jump_m,
    )


def process(
    state: VehicleState, afix: AnnotatedFix, ctx: VehicleContext
) -> tuple[VehicleState, list[Event]]:
    """Advance a vehicle's state by one fix. Fixes must come in fix-time order: a fix not
    newer than the last one processed (a duplicate or a straggler) is counted and skipped,
    as are fixes with a flag in ``skip_flags``. The state is updated in place and returned."""
    fix = afix.fix
    if fix.flags & ctx.rules.skip_flags:
        state.fixes_skipped += 1
        return state, []
    if state.last is not None and to_us(fix.fix_time) <= state.last.t_us:
        state.fixes_skipped += 1
        return state, []
    step = _step(state, afix, ctx)
    events = terminal_offline(state, step)
    update_stop(state, step)
    events += update_trip(state, step)
    for rule in RULES:
        events += rule(state, step)
    state.last = LastFix(step.t_us, fix.lon, fix.lat, step.speed_kmh)
    state.fixes_seen += 1
    return state, events


def tick(
    state: VehicleState, ctx: VehicleContext, now: datetime
) -> tuple[VehicleState, list[Event]]:
    """Time passing without fixes, on a clock the worker supplies (the core reads none):
    opens ``terminal_offline`` for a loaded vehicle silent for ``offline_gap_s``."""
    return state, tick_offline(state, ctx, now)


class VehicleEngine:
    """The engine for one vehicle's context (permits, zones, sensors, thresholds)."""

    def __init__(self, context: VehicleContext) -> None:
        self.context = context

    def new_state(self) -> VehicleState:
        return VehicleState(vehicle_id=self.context.vehicle_id)

    def process(self, state: VehicleState, afix: AnnotatedFix) -> tuple[VehicleState, list[Event]]:
        return process(state, afix, self.context)

    def process_many(
        self, state: VehicleState, afixes: Iterable[AnnotatedFix]
    ) -> tuple[VehicleState, list[Event]]:
        events: list[Event] = []
        for afix in afixes:
            state, new = process(state, afix, self.context)
            events += new
        return state, events

    def tick(self, state: VehicleState, now: datetime) -> tuple[VehicleState, list[Event]]:
        return tick(state, self.context, now)


def prepare_batch(fixes: Iterable[Fix], rules: RuleConfig) -> list[Fix]:
    """One vehicle's fixes ready for ``process``: in fix-time order, exact duplicates (same
    fix time; the first received wins) dropped, fixes flagged with ``skip_flags`` left out."""
    ordered = sorted(fixes, key=lambda f: (f.fix_time, f.received_at))
    kept: list[Fix] = []
    for fix in ordered:
        if fix.flags & rules.skip_flags:
            continue
        if kept and kept[-1].fix_time == fix.fix_time:
            continue
        kept.append(fix)
    return kept


def _us_time(t_us: int) -> datetime:
    return datetime.fromtimestamp(t_us / US, tz=UTC)


def fix_from_row(row: Mapping[str, Any]) -> Fix:
    """A ``Fix`` from a decoded stream row (``tracker.ingest.stream.STREAM_FIELDS``); the
    stream carries no terminal id, so it is 0."""
    return Fix(
        vehicle_id=int(row["vehicle_id"]),
        terminal_id=0,
        fix_time=_us_time(int(row["t_us"])),
        received_at=_us_time(int(row["received_us"])),
        lon=float(row["lon"]),
        lat=float(row["lat"]),
        speed_kmh=row["speed_kmh"],
        heading_deg=row["heading_deg"],
        altitude_m=row["altitude_m"],
        satellites=row["satellites"],
        hdop=row["hdop"],
        valid=bool(row["valid"]),
        ignition=row["ignition"],
        loaded=row["loaded"],
        body_lifted=row["body_lifted"],
        cover_closed=row["cover_closed"],
        alarm_bits=int(row["alarm_bits"]),
        flags=int(row["flags"]),
        source=str(row["source"]),
    )
