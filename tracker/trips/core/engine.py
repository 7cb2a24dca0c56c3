"""The per-vehicle engine: one annotated fix in, events out; plus the batch helper.

Fixes arrive decoded: the stream and row codec is the wire's (``tracker.wire.fix_from_row``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from tracker.geo import distance_m
from tracker.trips.core.events import Event
from tracker.trips.core.models import AnnotatedFix, RuleConfig, VehicleContext
from tracker.trips.core.rules_drive import (
    blacklisted_active,
    no_go_zone,
    note_heard,
    speeding,
    terminal_offline,
    terminal_swap,
    tick_offline,
)
from tracker.trips.core.rules_haul import (
    closed_yard,
    dumping,
    inactive_site,
    no_permit,
    outside_hours,
    quota_exceeded,
    route_deviation,
    uncovered,
    update_stop,
    wrong_yard,
)
from tracker.trips.core.state import LastFix, VehicleState, to_us
from tracker.trips.core.tracks import US, Step
from tracker.trips.core.trip import update_trip
from tracker.wire import Fix, FixFlag

JUMP = int(FixFlag.JUMP)
INTERVAL_MAX_S = 120.0  # longer gaps are silences, not the terminal's report interval

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
    closed_yard,
    quota_exceeded,
    inactive_site,
)


def _step(state: VehicleState, afix: AnnotatedFix, ctx: VehicleContext, t_us: int) -> Step:
    fix, last = afix.fix, state.last
    cfg = ctx.rules if state.trip.permit_id is None else ctx.rules_for(state.trip.permit_id)
    gap_s = jump_m = None
    if last is not None:
        gap_s = (t_us - last.t_us) / US
        jump_m = distance_m(last.lon, last.lat, fix.lon, fix.lat)
    speed_kmh = fix.speed_kmh
    if speed_kmh is None:  # no speed from the terminal: implied from the previous fix
        speed_kmh = jump_m / gap_s * 3.6 if jump_m is not None and gap_s else 0.0
    received_us = afix.received_us
    if received_us is None:
        late = (fix.received_at - fix.fix_time).total_seconds() > cfg.late_after_s
    else:
        late = received_us - t_us > cfg.late_after_s * US
    late = late or fix.blind_area  # a blind-area upload is history, not live
    return Step(
        afix,
        ctx,
        t_us,
        fix.fix_time,
        late,
        speed_kmh,
        speed_kmh >= cfg.stop_speed_kmh,
        gap_s,
        jump_m,
        cfg=cfg,
    )


def process(
    state: VehicleState, afix: AnnotatedFix, ctx: VehicleContext
) -> tuple[VehicleState, list[Event]]:
    """Advance a vehicle's state by one fix. Fixes must come in fix-time order: a fix not
    newer than the last one processed (a duplicate or a straggler) is counted and skipped,
    as are fixes with a flag in ``skip_flags``. The state is updated in place and returned."""
    fix = afix.fix
    skip = ctx.rules.skip_flags
    if fix.flags & skip:
        state.fixes_skipped += 1
        if fix.flags & skip == JUMP and state.last is not None:
            # Kept out of the rules, but seen by the swap watch.
            t_us = to_us(fix.fix_time) if afix.t_us is None else afix.t_us
            if t_us > state.last.t_us:
                return state, terminal_swap(state, _step(state, afix, ctx, t_us))
        return state, []
    t_us = to_us(fix.fix_time) if afix.t_us is None else afix.t_us
    if state.last is not None and t_us <= state.last.t_us:
        state.fixes_skipped += 1
        return state, []
    step = _step(state, afix, ctx, t_us)
    events = terminal_offline(state, step)
    update_stop(state, step)
    events += update_trip(state, step)
    for rule in RULES:
        new = rule(state, step)
        if new:
            events += new
    state.last = LastFix(t_us, fix.lon, fix.lat, step.speed_kmh)
    if step.gap_s is not None and step.gap_s <= INTERVAL_MAX_S:  # not a silence: the rhythm
        previous = state.interval_s
        gap_s = step.gap_s
        state.interval_s = gap_s if previous is None else previous + (gap_s - previous) / 8
    state.suspected_us = None  # a fix: no longer silent
    state.fixes_seen += 1
    return state, events


def tick(
    state: VehicleState, ctx: VehicleContext, now: datetime, heard_us: int | None = None
) -> tuple[VehicleState, list[Event]]:
    """Time passing without fixes, on a clock the worker supplies (the core reads none):
    opens ``terminal_offline`` for a loaded vehicle silent for ``offline_gap_s``. ``heard_us``
    is when the gateway last heard the terminal without a position (``HEARD_KEY``), if known."""
    if heard_us is not None and (state.heard_us is None or heard_us > state.heard_us):
        state.heard_us = heard_us
        note_heard(state, ctx.rules_for(state.trip.permit_id))
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

    def tick(
        self, state: VehicleState, now: datetime, heard_us: int | None = None
    ) -> tuple[VehicleState, list[Event]]:
        return tick(state, self.context, now, heard_us)


def prepare_batch(fixes: Iterable[Fix], rules: RuleConfig) -> list[Fix]:
    """One vehicle's fixes ready for ``process``: in fix-time order, exact duplicates (same
    fix time; the first received wins) dropped, fixes flagged with ``skip_flags`` left out
    (but jumps, for the swap watch)."""
    ordered = sorted(fixes, key=lambda f: (f.fix_time, f.received_at))
    kept: list[Fix] = []
    skip = rules.skip_flags
    for fix in ordered:
        if fix.flags & skip and not keep_for_swap(fix.flags, rules):
            continue
        if kept and kept[-1].fix_time == fix.fix_time:
            if kept[-1].flags & skip and not fix.flags & skip:
                kept[-1] = fix  # a good fix beats a flagged one at the same time
            continue
        kept.append(fix)
    return kept


def keep_for_swap(flags: int, rules: RuleConfig) -> bool:
    """A fix flagged only as a jump is kept for the swap watch (``process`` skips it for
    every other rule)."""
    return rules.swap_min_jumps > 0 and flags & rules.skip_flags == JUMP
