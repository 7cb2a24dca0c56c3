"""Rules about the load: dumping, route deviation, wrong yard, no permit, hours, cover.

Each rule is ``update(state, step) -> events``: it reads the annotated fix and the trip state
(already advanced for this fix) and moves its track (see ``tracks.advance``).
"""

from __future__ import annotations

from tracker.trips.events import Event
from tracker.trips.geo import distance_m
from tracker.trips.models import PermitScope, in_windows
from tracker.trips.state import StopState, Track, VehicleState
from tracker.trips.tracks import (
    US,
    Hysteresis,
    Step,
    add_point,
    advance,
    close_episode,
    update_episode,
)

IMMEDIATE = Hysteresis()
STOP_POINTS = 20  # fixes of a stop kept as the opening evidence of a dumping episode


def update_stop(state: VehicleState, step: Step) -> None:
    """Follow the current stop: slow and within ``stop_radius_m`` of where it began. One fix
    away is tolerated as noise; far away (3 × radius) or ``stop_break_fixes`` away ends it."""
    cfg, fix = step.cfg, step.afix.fix
    stopped = step.speed_kmh < cfg.stop_speed_kmh
    stop = state.stop
    if stop is None:
        if stopped:
            state.stop = StopState(fix.lon, fix.lat, step.t_us, step.t_us, points=[step.point])
        return
    away_m = distance_m(stop.anchor_lon, stop.anchor_lat, fix.lon, fix.lat)
    if stopped and away_m <= cfg.stop_radius_m:
        stop.last_us, stop.away_fixes = step.t_us, 0
        add_point(stop.points, step.point, STOP_POINTS)
        return
    stop.away_fixes += 1
    if stop.away_fixes >= cfg.stop_break_fixes or away_m > 3 * cfg.stop_radius_m:
        state.stop = None
        if stopped:
            state.stop = StopState(fix.lon, fix.lat, step.t_us, step.t_us, points=[step.point])


def _trip_permit(state: VehicleState, step: Step) -> PermitScope | None:
    return step.ctx.permit_by_id(state.trip.permit_id)


def _in_approved_place(state: VehicleState, step: Step) -> bool:
    trip = state.trip
    if trip.place_kind == "yard":
        return True  # a yard not on the permit is the wrong_yard rule's business
    if trip.place_kind == "site":
        permit = _trip_permit(state, step)
        return trip.place_id == trip.origin_id or (
            permit is not None and trip.place_id in permit.origin_ids
        )
    return False


def dumping(state: VehicleState, step: Step) -> list[Event]:
    """A loaded stop ≥ ``dumping_dwell_s`` outside approved places, or a lift outside a yard
    (at once); plus a loaded trip with no yard within ``haul_overdue_s``."""
    trip, stop, cfg = state.trip, state.stop, step.cfg
    fix = step.afix.fix
    approved = _in_approved_place(state, step)
    dwell_s = 0.0 if stop is None else (stop.last_us - stop.start_us) / US
    stop_cond = trip.loaded and not approved and dwell_s >= cfg.dumping_dwell_s
    lifted = step.ctx.sensors.has_lift and bool(fix.body_lifted)
    lift_cond = lifted and trip.place_kind != "yard" and trip.phase != "loading"
    track = state.tracks.get("dumping")
    started = None if track is None or track.episode is None else track.episode.started_us
    hold = lift_cond or (stop is not None and started is not None and stop.start_us <= started)
    detail: dict[str, object] = {"max_dwell_s": dwell_s} if stop_cond else {}
    if lift_cond:
        detail["lift"] = True
    if stop_cond and stop is not None and (track is None or track.idle):
        state.tracks.setdefault("dumping", Track()).pending = stop.points[:-1]
    events = advance(
        state,
        "dumping",
        "dumping",
        step,
        open_cond=stop_cond or lift_cond,
        hold_cond=hold and not approved,
        h=IMMEDIATE,
        start_us=stop.start_us if stop_cond and stop is not None else None,
        force_open=lift_cond,
        detail=detail,
    )
    overdue = (
        trip.loaded
        and trip.departed_us is not None
        and step.t_us - trip.departed_us >= cfg.haul_overdue_s * US
    )
    events += advance(
        state,
        "dumping:overdue",
        "dumping",
        step,
        open_cond=overdue,
        hold_cond=trip.loaded,
        h=IMMEDIATE,
        start_us=trip.departed_us,
        detail={"reason": "no_yard_in_time"},
    )
    return events


def _corridor_excess_m(permit: PermitScope | None, step: Step) -> float | None:
    """How far beyond the nearest permitted corridor's half-width the fix is (≤ 0: inside)."""
    if permit is None or not permit.corridors:
        return None
    dist = step.afix.corridor_distance_m
    excess = [dist[c] - hw for c, hw in permit.corridors.items() if c in dist]
    return min(excess) if excess else None


def route_deviation(state: VehicleState, step: Step) -> list[Event]:
    """Beyond the half-width for ``deviation_min_s`` and ``deviation_min_fixes``, timed from
    the moment the straight segment between fixes left the corridor; escalation by time."""
    cfg, trip = step.cfg, state.trip
    active = trip.loaded or cfg.deviation_when_empty
    permit = _trip_permit(state, step) or (
        step.ctx.permit_for(step.time, None) if cfg.deviation_when_empty else None
    )
    excess = _corridor_excess_m(permit, step) if active else None
    prev, state.corridor_excess_m = state.corridor_excess_m, excess
    if excess is None:
        return close_episode(state, "route_deviation", step.time, step.late)
    start_us = None
    last = state.last
    if excess > 0 and prev is not None and prev <= 0 and last is not None:
        share = -prev / (excess - prev)  # where on the segment the edge was crossed
        start_us = last.t_us + int((step.t_us - last.t_us) * share)
    h = Hysteresis(cfg.deviation_min_s, cfg.deviation_min_fixes, 0.0, cfg.deviation_clear_fixes)
    detail = {"max_distance_m": excess + _half_width(permit, step), "max_excess_m": excess}
    events = advance(
        state,
        "route_deviation",
        "route_deviation",
        step,
        open_cond=excess > 0,
        hold_cond=excess > 0,
        h=h,
        start_us=start_us,
        detail=detail if excess > 0 else None,
    )
    track = state.tracks.get("route_deviation")
    if track is not None and track.episode is not None:
        lasted_s = (step.t_us - track.episode.started_us) / US
        if lasted_s >= cfg.deviation_severe_s:
            events += update_episode(state, "route_deviation", step, "severe")
        elif lasted_s >= cfg.deviation_escalate_s:
            events += update_episode(state, "route_deviation", step, "escalated")
    return events


def _half_width(permit: PermitScope | None, step: Step) -> float:
    if permit is None:
        return 0.0
    dist = step.afix.corridor_distance_m
    near = min((c for c in permit.corridors if c in dist), key=lambda c: dist[c], default=None)
    return 0.0 if near is None else permit.corridors[near]


def wrong_yard(state: VehicleState, step: Step) -> list[Event]:
    """Dwell ≥ ``place_dwell_s`` or a lift in a yard that is not on the trip's permit."""
    trip = state.trip
    permit = _trip_permit(state, step)
    in_yard = trip.place_kind == "yard"
    wrong = (
        in_yard
        and permit is not None
        and trip.place_id not in permit.yard_ids
        and trip.phase in ("hauling", "unloading")
    )
    dwelt = (
        trip.place_entered_us is not None
        and step.t_us - trip.place_entered_us >= step.cfg.place_dwell_s * US
    )
    return advance(
        state,
        "wrong_yard",
        "wrong_yard",
        step,
        open_cond=wrong and (dwelt or trip.lifted_in_place),
        hold_cond=in_yard,
        h=IMMEDIATE,
        start_us=trip.place_entered_us,
        detail={"yard_id": trip.place_id} if wrong else None,
    )


def no_permit(state: VehicleState, step: Step) -> list[Event]:
    """A loaded trip (left a site loaded, or the load sensor says loaded) with no valid
    permit for this vehicle, origin and time."""
    trip = state.trip
    cond = trip.phase in ("hauling", "unloading") and trip.permit_id is None
    return advance(
        state,
        "no_permit",
        "no_permit",
        step,
        open_cond=cond,
        hold_cond=cond,
        h=IMMEDIATE,
        detail={"origin_id": trip.origin_id} if cond else None,
    )


def outside_hours(state: VehicleState, step: Step) -> list[Event]:
    """Loaded movement outside the permit's daily windows; lasts while loaded outside them."""
    cfg, trip = step.cfg, state.trip
    permit = _trip_permit(state, step)
    outside = (
        trip.loaded
        and permit is not None
        and bool(permit.windows)
        and not in_windows(permit.windows, step.time, step.ctx.utc_offset_min)
    )
    return advance(
        state,
        "outside_hours",
        "outside_hours",
        step,
        open_cond=outside and step.moving,
        hold_cond=outside,
        h=Hysteresis(open_fixes=cfg.outside_hours_min_fixes),
    )


def uncovered(state: VehicleState, step: Step) -> list[Event]:
    """Cover open while loaded and moving for ``uncovered_min_s`` (cover sensor only)."""
    cfg = step.cfg
    cover_open = (
        step.ctx.sensors.has_cover and state.trip.loaded and step.afix.fix.cover_closed is False
    )
    return advance(
        state,
        "uncovered",
        "uncovered",
        step,
        open_cond=cover_open and step.moving,
        hold_cond=cover_open,
        h=Hysteresis(cfg.uncovered_min_s, 2, 0.0, 2),
        detail={"max_speed_kmh": step.speed_kmh} if cover_open else None,
    )
