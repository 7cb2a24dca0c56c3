"""Rules about the load: dumping, route deviation, wrong yard, no permit, hours, cover.

Each rule is ``update(state, step) -> events``: it reads the annotated fix and the trip state
(already advanced for this fix) and moves its track (see ``tracks.advance``).
"""

from __future__ import annotations

from tracker.geo import distance_m
from tracker.trips.core.events import Event
from tracker.trips.core.models import PermitScope, in_windows_us
from tracker.trips.core.state import StopState, Track, VehicleState, from_us, to_us
from tracker.trips.core.tracks import (
    US,
    Hysteresis,
    Step,
    add_point,
    advance,
    close_episode,
    merge_detail,
    open_episode,
    update_episode,
)

IMMEDIATE = Hysteresis()
LONG_GAP_S = 60.0  # beyond this, a corridor exit is not placed before the gap's midpoint
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
    trip, stop, cfg, tracks = state.trip, state.stop, step.cfg, state.tracks
    fix = step.afix.fix
    lifted = step.ctx.sensors.has_lift and bool(fix.body_lifted)
    if not (trip.loaded or lifted or "dumping" in tracks or "dumping:overdue" in tracks):
        return []
    approved = _in_approved_place(state, step)
    # Only the part of a stop after the truck left its origin counts: a truck that loaded at
    # the site's gate and rolls out slowly, or waits at the kerb, is not unloading there.
    stop_start_us = None if stop is None else stop.start_us
    if stop_start_us is not None and trip.departed_us is not None:
        stop_start_us = max(stop_start_us, trip.departed_us)
    dwell_s = 0.0 if stop is None or stop_start_us is None else (stop.last_us - stop_start_us) / US
    stop_cond = trip.loaded and not approved and dwell_s >= cfg.dumping_dwell_s
    lift_cond = lifted and trip.place_kind != "yard" and trip.phase != "loading"
    track = state.tracks.get("dumping")
    started = None if track is None or track.episode is None else track.episode.started_us
    hold = lift_cond or (
        stop_start_us is not None and started is not None and stop_start_us <= started
    )
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
        start_us=stop_start_us if stop_cond else None,
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


def _crossing_us(last_us: int, t_us: int, inside: float, outside: float, gap_s: float) -> int:
    """When the straight segment from the previous fix to this one crossed the corridor edge
    (``inside`` ≤ 0 < ``outside`` are the excesses at the two ends). Over a long gap the
    straight line is a poor model of the road, so the estimate is no earlier than the gap's
    midpoint."""
    share = -inside / (outside - inside)
    if gap_s > LONG_GAP_S:
        share = max(share, 0.5)
    return last_us + int((t_us - last_us) * share)


def route_deviation(state: VehicleState, step: Step) -> list[Event]:
    """Beyond the half-width for ``deviation_min_s`` and ``deviation_min_fixes``, timed from
    the moment the straight segment between fixes left the corridor to the last fix out;
    escalation by time.

    Against GPS noise (5–15 m, 60 m jumps): a fix within ``deviation_hold_m`` inside the edge
    neither counts as out nor breaks the run; a run (or an open episode) ends after
    ``deviation_clear_fixes`` fixes clearly inside spanning ``deviation_clear_s`` (a truck
    that touches the route and leaves again is on one detour); a run opens only when some fix
    went ``deviation_hold_m`` beyond the edge (driving along the edge is not a deviation) and
    ``deviation_min_fixes`` of its fixes in a row were out (an isolated 60 m jump is not),
    and one of its fixes out reported movement: a truck standing still (0 km/h) whose fixes
    wander 30–80 m off (an urban-canyon error burst) has not left its route.
    A fix in the band keeps the run going but is not time beyond the edge: the run is timed
    to its last fix out.
    Over a gap longer than ``LONG_GAP_S`` the exit is placed no earlier, and the return no
    later, than the gap's midpoint. A truck "unloading" in a yard not on its permit is still
    loaded and off its route."""
    cfg, trip, tracks = step.cfg, state.trip, state.tracks
    key = "route_deviation"
    permit = _trip_permit(state, step)
    # Loaded: hauling, or "unloading" in a yard that is not the permit's (still off route).
    wrong_yard = (
        trip.phase == "unloading" and permit is not None and trip.yard_id not in permit.yard_ids
    )
    active = trip.loaded or wrong_yard or cfg.deviation_when_empty
    if not active and key not in tracks:
        state.corridor_excess_m = None
        return []
    if permit is None and cfg.deviation_when_empty:
        permit = step.ctx.permit_for(step.time, None)
    excess = _corridor_excess_m(permit, step) if active else None
    prev, state.corridor_excess_m = state.corridor_excess_m, excess
    if excess is None:
        return close_episode(state, key, step.time, step.late, step.t_us)
    out = excess > 0
    held = out or excess > -cfg.deviation_hold_m
    last, t_us = state.last, step.t_us
    track = tracks.get(key)
    if track is None:
        if not out:
            return []
        start_us = t_us
        if prev is not None and prev <= 0 and last is not None:
            start_us = _crossing_us(last.t_us, t_us, prev, excess, step.gap_s or 0.0)
        track = tracks[key] = Track(run_start_us=start_us)
    detail = {"max_distance_m": excess + _half_width(permit, step), "max_excess_m": excess}
    cap = cfg.evidence_max_points
    episode = track.episode
    if episode is not None:
        add_point(episode.evidence, step.point, cap)
        if out:
            merge_detail(episode.detail, detail)
    else:
        add_point(track.pending, step.point, cap)
    if held:
        track.clear_fixes, track.clear_start_us = 0, None
        track.held_streak += 1
        track.best_streak = max(track.best_streak, track.held_streak)
        if out:
            track.last_held_us = t_us  # the run is timed to its last fix beyond the edge
            track.run_fixes += 1
            track.max_excess_m = max(track.max_excess_m, excess)
            track.moved_out = track.moved_out or step.moving
    else:
        track.held_streak = 0
        if track.clear_fixes == 0:  # the moment it came back in, interpolated
            back_us = t_us
            if prev is not None and prev > 0 and last is not None:
                share = prev / (prev - excess)
                gap_s = step.gap_s or 0.0
                if gap_s > LONG_GAP_S:  # back no later than the gap's midpoint
                    share = min(share, 0.5)
                    track.last_held_us = max(
                        track.last_held_us, last.t_us + int((t_us - last.t_us) * share)
                    )
                back_us = last.t_us + int((t_us - last.t_us) * share)
            track.clear_start_us = back_us
        track.clear_fixes += 1
    events: list[Event] = []
    run_start = track.run_start_us if track.run_start_us is not None else t_us
    if episode is None:
        end_us = t_us if out else track.last_held_us
        if (
            track.run_fixes >= cfg.deviation_min_fixes
            and track.best_streak >= cfg.deviation_min_fixes
            and end_us - run_start >= cfg.deviation_min_s * US
            and track.max_excess_m >= cfg.deviation_hold_m
            and track.moved_out
        ):
            detail = {**detail, "max_excess_m": track.max_excess_m}
            detail["max_distance_m"] = track.max_excess_m + _half_width(permit, step)
            pending = track.pending
            events.append(
                open_episode(
                    state, key, key, run_start, step.time, step.late, pending, detail, t_us
                )
            )
            track = tracks[key]
            track.clear_fixes = 0 if held else 1
            episode = track.episode
    came_back_us = track.clear_start_us
    if (
        not held
        and track.clear_fixes >= cfg.deviation_clear_fixes
        and (came_back_us is None or t_us - came_back_us >= cfg.deviation_clear_s * US)
    ):
        events += close_episode(state, key, step.time, step.late, t_us)
        return events
    if episode is not None:
        lasted_s = (t_us - episode.started_us) / US
        if lasted_s >= cfg.deviation_severe_s:
            events += update_episode(state, key, step, "severe")
        elif lasted_s >= cfg.deviation_escalate_s:
            events += update_episode(state, key, step, "escalated")
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
    in_yard = trip.place_kind == "yard"
    if not in_yard and "wrong_yard" not in state.tracks:
        return []
    permit = _trip_permit(state, step)
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
    if not cond and "no_permit" not in state.tracks:
        return []
    return advance(
        state,
        "no_permit",
        "no_permit",
        step,
        open_cond=cond,
        hold_cond=cond,
        h=IMMEDIATE,
        start_us=trip.departed_us,
        detail={"origin_id": trip.origin_id} if cond else None,
    )


def outside_hours(state: VehicleState, step: Step) -> list[Event]:
    """Loaded movement outside the permit's daily windows; lasts while loaded outside them.
    Opens on the ``outside_hours_min_fixes``-th loaded fix outside the windows once the
    truck is seen moving (this fix or the one before it)."""
    cfg, trip = step.cfg, state.trip
    if not trip.loaded and "outside_hours" not in state.tracks:
        return []
    permit = _trip_permit(state, step)
    outside = (
        trip.loaded
        and permit is not None
        and bool(permit.windows)
        and not in_windows_us(permit.windows, step.t_us, step.ctx.tz)
    )
    # Movement, not the time, is what needs evidence: a stopped fix in stop-and-go traffic
    # neither resets the run nor delays it when the fix before it was moving; only a truck
    # that has stood since before the run (parked loaded) waits for its next moving fix.
    last = state.last
    moving = step.moving or (last is not None and last.speed_kmh >= cfg.stop_speed_kmh)
    return advance(
        state,
        "outside_hours",
        "outside_hours",
        step,
        open_cond=outside,
        hold_cond=outside,
        h=Hysteresis(open_fixes=cfg.outside_hours_min_fixes),
        ready=moving,
    )


def uncovered(state: VehicleState, step: Step) -> list[Event]:
    """Cover open while loaded for ``uncovered_min_s`` (2 readings), opened once the truck is
    seen moving (this fix or the one before it): a stopped fix in stop-and-go traffic does
    not reset the run (cover sensor only)."""
    cfg = step.cfg
    if not step.ctx.sensors.has_cover and "uncovered" not in state.tracks:
        return []
    cover_open = (
        step.ctx.sensors.has_cover and state.trip.loaded and step.afix.fix.cover_closed is False
    )
    last = state.last
    moving = step.moving or (last is not None and last.speed_kmh >= cfg.stop_speed_kmh)
    return advance(
        state,
        "uncovered",
        "uncovered",
        step,
        open_cond=cover_open,
        hold_cond=cover_open,
        h=Hysteresis(cfg.uncovered_min_s, 2, 0.0, 2),
        detail={"max_speed_kmh": step.speed_kmh} if cover_open else None,
        ready=moving,
    )


def closed_yard(state: VehicleState, step: Step) -> list[Event]:
    """Tipping (dwell ≥ ``place_dwell_s`` or a lift) into a yard that is closed: full (its
    fill reached its capacity) or outside its opening hours; on any permit, its own included."""
    trip = state.trip
    in_yard = trip.place_kind == "yard"
    key = "closed_yard"
    if not in_yard and key not in state.tracks:
        return []
    rule = step.ctx.yards.get(trip.place_id or "") if in_yard else None
    reason = None
    if rule is not None and trip.phase in ("hauling", "unloading"):
        reason = rule.closed_at(step.t_us, step.ctx.tz)
    dwelt = (
        trip.place_entered_us is not None
        and step.t_us - trip.place_entered_us >= step.cfg.place_dwell_s * US
    )
    return advance(
        state,
        key,
        key,
        step,
        open_cond=reason is not None and (dwelt or trip.lifted_in_place),
        hold_cond=in_yard,
        h=IMMEDIATE,
        start_us=trip.place_entered_us,
        detail={"yard_id": trip.place_id, "reason": reason} if reason else None,
    )


def quota_exceeded(state: VehicleState, step: Step) -> list[Event]:
    """A loaded trip under a permit whose completed trips (as of the registry load) and this
    load together exceed its quota; lasts while the trip is loaded. A trip that left no
    later than the vehicle's latest counted one (``hauled_until``) is in the count already:
    replayed after its delivery, it is not counted twice."""
    trip = state.trip
    key = "quota_exceeded"
    if not trip.loaded and key not in state.tracks:
        return []
    permit = _trip_permit(state, step)
    load_m3 = step.ctx.rated_volume_m3 or 0.0
    over = (
        trip.loaded
        and permit is not None
        and permit.quota_m3 is not None
        and permit.hauled_m3 + load_m3 > permit.quota_m3
        and not _counted(permit, trip.departed_us)
    )
    detail = None
    if over and permit is not None:
        detail = {
            "permit_id": permit.permit_id,
            "quota_m3": permit.quota_m3,
            "hauled_m3": permit.hauled_m3,
            "load_m3": load_m3,
        }
    return advance(
        state,
        key,
        key,
        step,
        open_cond=over,
        hold_cond=over,
        h=IMMEDIATE,
        start_us=trip.departed_us,
        detail=detail,
    )


def _counted(permit: PermitScope, departed_us: int | None) -> bool:
    """The trip is among the hauled ones already (or older than one that is)."""
    until = permit.hauled_until
    return until is not None and departed_us is not None and departed_us <= to_us(until)


def inactive_site(state: VehicleState, step: Step) -> list[Event]:
    """A loaded trip from a site outside its active dates (the day it left); lasts while the
    trip is loaded."""
    trip = state.trip
    key = "inactive_site"
    if not trip.loaded and key not in state.tracks:
        return []
    rule = step.ctx.sites.get(trip.origin_id or "")
    departed_us = trip.departed_us if trip.departed_us is not None else step.t_us
    inactive = trip.loaded and rule is not None and not rule.active_at(from_us(departed_us))
    return advance(
        state,
        key,
        key,
        step,
        open_cond=inactive,
        hold_cond=inactive,
        h=IMMEDIATE,
        start_us=trip.departed_us,
        detail={"site_id": trip.origin_id} if inactive else None,
    )
