"""Rules about driving and the terminal: speeding, no-go zones, blacklist, terminal offline."""

from __future__ import annotations

from datetime import datetime

from tracker.trips.core.events import Event
from tracker.trips.core.models import VehicleContext, in_windows
from tracker.trips.core.state import EvidencePoint, LastFix, VehicleState, to_us
from tracker.trips.core.tracks import (
    US,
    Hysteresis,
    Step,
    advance,
    is_open,
    open_episode,
)

OFFLINE = "terminal_offline"


def speeding(state: VehicleState, step: Step) -> list[Event]:
    """Over the lowest applicable limit (city, zones the fix is in) for ``speeding_min_s``."""
    cfg = step.cfg
    if not step.afix.zone_ids and cfg.speed_limit_kmh is None and "speeding" not in state.tracks:
        return []
    limits = [
        rule.speed_limit_kmh
        for zone_id in step.afix.zone_ids
        if (rule := step.ctx.zones.get(zone_id)) is not None and rule.speed_limit_kmh is not None
    ]
    if cfg.speed_limit_kmh is not None:
        limits.append(cfg.speed_limit_kmh)
    limit = min(limits) if limits else None
    over = limit is not None and step.speed_kmh > limit
    return advance(
        state,
        "speeding",
        "speeding",
        step,
        open_cond=over,
        hold_cond=over,
        h=Hysteresis(cfg.speeding_min_s, 2, 0.0, 2),
        detail={"max_speed_kmh": step.speed_kmh, "limit_kmh": limit} if over else None,
    )


def _zone_active(ctx: VehicleContext, zone_id: str, t: datetime) -> bool:
    rule = ctx.zones.get(zone_id)
    if rule is None or not rule.no_go:
        return False
    return not rule.active_windows or in_windows(rule.active_windows, t, ctx.tz)


def no_go_zone(state: VehicleState, step: Step) -> list[Event]:
    """Inside an active no-go zone for ``zone_open_fixes`` fixes, or a segment crossing it;
    one episode per zone, closed after ``zone_clear_fixes``/``zone_clear_s`` outside."""
    cfg, afix = step.cfg, step.afix
    prefix = "no_go_zone:"
    held = [k[len(prefix) :] for k in state.tracks if k.startswith(prefix)]
    if not (afix.zone_ids or afix.segment_events or held):
        return []
    crossed = {fid for fid, ev in afix.segment_events if ev == "cross"}
    candidates = set(afix.zone_ids) | crossed | set(held)
    applies = cfg.no_go_when_empty or state.trip.loaded
    h = Hysteresis(0.0, cfg.zone_open_fixes, cfg.zone_clear_s, cfg.zone_clear_fixes)
    events: list[Event] = []
    for zone_id in sorted(candidates):
        inside = zone_id in afix.zone_ids
        active = applies and _zone_active(step.ctx, zone_id, step.time)
        events += advance(
            state,
            prefix + zone_id,
            "no_go_zone",
            step,
            open_cond=active and (inside or zone_id in crossed),
            hold_cond=inside,
            h=h,
            force_open=zone_id in crossed,
            detail={"zone_id": zone_id},
        )
    return events


BLACKLISTED = "blacklisted_vehicle"


def blacklisted_active(state: VehicleState, step: Step) -> list[Event]:
    """A blacklisted vehicle moving (``blacklist_min_fixes`` moving fixes): one episode per
    movement period, closed after it stood still ``blacklist_idle_close_s``."""
    cfg, ctx = step.cfg, step.ctx
    if not ctx.blacklisted and BLACKLISTED not in state.tracks:
        return []
    moving = ctx.blacklisted and step.moving
    h = Hysteresis(0.0, cfg.blacklist_min_fixes, cfg.blacklist_idle_close_s, 2)
    return advance(
        state,
        BLACKLISTED,
        BLACKLISTED,
        step,
        open_cond=moving,
        hold_cond=moving,
        h=h,
        detail={"listing_id": ctx.blacklist_listing_id} if ctx.blacklisted else None,
    )


def _last_point(last: LastFix) -> EvidencePoint:
    return EvidencePoint(last.t_us, last.lon, last.lat, last.speed_kmh)


def _gap_detail(state: VehicleState, step: Step) -> dict[str, object]:
    """What the gap since the previous fix says: a loaded silence, an implausible jump."""
    cfg = step.cfg
    detail: dict[str, object] = {}
    if state.last is None or step.gap_s is None or step.jump_m is None:
        return detail
    if state.trip.loaded and step.gap_s >= cfg.offline_gap_s:
        detail.update(reason="silence", max_gap_s=step.gap_s)
    implied_kmh = step.jump_m / step.gap_s * 3.6
    if step.gap_s >= cfg.tamper_gap_min_s and implied_kmh > cfg.tamper_speed_kmh:
        detail.update(reason="implausible_reappearance", max_implied_speed_kmh=implied_kmh)
    return detail


def terminal_offline(state: VehicleState, step: Step) -> list[Event]:
    """Runs before the trip update (it judges the gap by the state before this fix).

    Silence ≥ ``offline_gap_s`` while loaded, or a reappearance implying more than
    ``tamper_speed_kmh``, is an episode from the last fix to this one (opened and closed on
    this fix, unless ``tick`` opened it already); power/antenna-cut alarm bits hold it open.
    """
    alarm = step.afix.fix.alarm_bits & step.cfg.tamper_alarm_mask
    gap_s = step.gap_s
    quiet_s = min(step.cfg.tamper_gap_min_s, step.cfg.offline_gap_s)
    if not alarm and (gap_s is None or gap_s < quiet_s) and OFFLINE not in state.tracks:
        return []
    detail = _gap_detail(state, step)
    gap_cond = bool(detail)
    if alarm:
        detail.update(alarm_bits=alarm, reason="power_or_antenna_cut")
    events: list[Event] = []
    last = state.last
    if gap_cond and last is not None and not is_open(state, OFFLINE):
        state.tracks.pop(OFFLINE, None)
        evidence = [_last_point(last)]
        start_us = last.t_us
        events.append(
            open_episode(state, OFFLINE, OFFLINE, start_us, step.time, step.late, evidence, detail)
        )
        detail = {}
    track = state.tracks.get(OFFLINE)
    episode = None if track is None else track.episode
    if episode is not None and not alarm and not gap_cond and episode.detail.get("live_tick"):
        # Opened by the clock, and the fixes that now arrive cover the silence: the terminal
        # was recording all along and only held its uploads back (a blind area). The episode
        # closes here, marked so it is not taken for a cut terminal.
        episode.detail["delivery_only"] = True
    events += advance(
        state,
        OFFLINE,
        OFFLINE,
        step,
        open_cond=bool(alarm) or gap_cond,
        hold_cond=bool(alarm),
        h=Hysteresis(),
        detail=detail or None,
    )
    return events


def tick_offline(state: VehicleState, ctx: VehicleContext, now: datetime) -> list[Event]:
    """Silence seen from a clock the worker supplies: opens the episode without waiting for
    the terminal to come back (the next fix closes it).

    The clock measures time since the last fix *received*; a terminal buffers its fixes and
    uploads them every so often, so "no fix for ``offline_gap_s``" is only established once
    ``offline_upload_grace_s`` more has passed (fixes taken before then could still be on
    their way). A silence that the next fixes reveal as a real gap opens from the fixes."""
    last = state.last
    if last is None or not state.trip.loaded or is_open(state, OFFLINE):
        return []
    silent_s = (to_us(now) - last.t_us) / US
    rules = ctx.rules_for(state.trip.permit_id)
    if silent_s < rules.offline_gap_s + rules.offline_upload_grace_s:
        return []
    state.tracks.pop(OFFLINE, None)
    detail = {"reason": "silence", "max_gap_s": silent_s, "live_tick": True}
    return [
        open_episode(state, OFFLINE, OFFLINE, last.t_us, now, False, [_last_point(last)], detail)
    ]
