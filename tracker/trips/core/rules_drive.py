"""Rules about driving and the terminal: speeding, no-go zones, blacklist, terminal offline."""

from __future__ import annotations

from datetime import datetime

from tracker.trips.core.events import Event, IncidentClosed, IncidentOpened, IncidentView
from tracker.trips.core.models import RuleConfig, VehicleContext, in_windows
from tracker.trips.core.state import (
    Episode,
    EvidencePoint,
    LastFix,
    Track,
    VehicleState,
    to_us,
)
from tracker.trips.core.tracks import (
    US,
    Hysteresis,
    Step,
    add_point,
    advance,
    close_episode,
    is_open,
    merge_detail,
    open_episode,
)

BLIND_KEEP = 16  # silences whose first heartbeat is remembered (replays look back ≤ 15 min)
OFFLINE = "terminal_offline"
TAMPER = "terminal_tampering"  # 车机分离: one incident type, whatever the evidence
SWAP = "terminal_tampering:swap"  # the swap watch's track (same incident type)


def speeding(state: VehicleState, step: Step) -> list[Event]:
    """Over the lowest applicable limit (city, zones the fix is in) for ``speeding_min_s`` and
    2 fixes, timed from the moment the speed crossed the limit between the last fix under it
    and the first over it (interpolated, as a corridor exit is)."""
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
    start_us = None
    last = state.last
    if over and limit is not None and "speeding" not in state.tracks and last is not None:
        start_us = _limit_crossed_us(last.t_us, last.speed_kmh, step, limit)
    return advance(
        state,
        "speeding",
        "speeding",
        step,
        open_cond=over,
        hold_cond=over,
        h=Hysteresis(cfg.speeding_min_s, 2, 0.0, 2),
        start_us=start_us,
        detail={"max_speed_kmh": step.speed_kmh, "limit_kmh": limit} if over else None,
    )


SPEED_CROSS_MAX_GAP_S = 60.0  # beyond this, a run over the limit starts at its first fix


def _limit_crossed_us(last_us: int, last_kmh: float, step: Step, limit: float) -> int | None:
    """When the speed went over ``limit`` between the previous fix (under it) and this one,
    interpolated linearly; None over a long gap (the run then starts at this fix)."""
    if step.gap_s is None or step.gap_s > SPEED_CROSS_MAX_GAP_S or last_kmh > limit:
        return None
    share = (limit - last_kmh) / (step.speed_kmh - last_kmh)
    return last_us + int((step.t_us - last_us) * share)


def _zone_active(ctx: VehicleContext, zone_id: str, t: datetime) -> bool:
    rule = ctx.zones.get(zone_id)
    if rule is None or not rule.no_go:
        return False
    return not rule.active_windows or in_windows(rule.active_windows, t, ctx.tz)


def no_go_zone(state: VehicleState, step: Step) -> list[Event]:
    """Inside an active no-go zone for ``zone_open_fixes`` fixes, or a segment crossing it
    (over a gap of at most ``zone_cross_max_gap_s``); one episode per zone, closed after
    ``zone_clear_fixes``/``zone_clear_s`` outside."""
    cfg, afix = step.cfg, step.afix
    prefix = "no_go_zone:"
    held = [k[len(prefix) :] for k in state.tracks if k.startswith(prefix)]
    if not (afix.zone_ids or afix.segment_events or held):
        return []
    crossed: set[str] = set()
    if step.gap_s is not None and step.gap_s <= cfg.zone_cross_max_gap_s:
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
    movement period, closed once it has stood still ``blacklist_idle_close_s`` in one place
    (the current stop, see ``update_stop``: a queue creeping on between fixes that all read
    0 km/h is still on the move)."""
    cfg, ctx = step.cfg, step.ctx
    if not ctx.blacklisted and BLACKLISTED not in state.tracks:
        return []
    moving = ctx.blacklisted and step.moving
    stop = state.stop
    standing_s = 0.0 if stop is None or step.moving else (stop.last_us - stop.start_us) / US
    held = ctx.blacklisted and standing_s < cfg.blacklist_idle_close_s
    h = Hysteresis(0.0, cfg.blacklist_min_fixes, 0.0, 1)
    return advance(
        state,
        BLACKLISTED,
        BLACKLISTED,
        step,
        open_cond=moving,
        hold_cond=held,
        h=h,
        detail={"listing_id": ctx.blacklist_listing_id} if ctx.blacklisted else None,
    )


def _last_point(last: LastFix) -> EvidencePoint:
    return EvidencePoint(last.t_us, last.lon, last.lat, last.speed_kmh)


def departing(state: VehicleState, cfg: RuleConfig) -> bool:
    """A loaded truck on its way out of its site: loading done (dwell or sensor), and the last
    fix was outside the site or moving; or hauling and the silence (from the last fix) starts
    less than ``tamper_exit_s`` after it left. The trip becomes "hauling" only after
    ``place_exit_fixes`` fixes outside, which a terminal cut at the gate never sends."""
    trip, last = state.trip, state.last
    if last is None:
        return False
    if trip.phase == "hauling":
        departed = trip.departed_us
        if departed is None:
            return False
        # The exit lies somewhere before the first fix outside, the silence's start somewhere
        # after the last fix: half a report interval each way, at the terminal's rhythm.
        interval_us = int((state.interval_s or 0.0) * US)
        return last.t_us - departed + interval_us < cfg.tamper_exit_s * US
    return trip.phase == "loading" and (
        trip.place_out_fixes > 0 or last.speed_kmh >= cfg.stop_speed_kmh
    )


def heard_since_last(
    state: VehicleState, cfg: RuleConfig, until_us: int | None = None
) -> bool | None:
    """Whether the terminal was heard without a position (a JT/T 808 heartbeat) later than
    ``offline_upload_grace_s`` after its last fix (and before ``until_us``, the fix that ends
    the silence): connected, and holding its positions back (a blind area), so its silence
    is not a cut. None: no session known for it."""
    last = state.last
    if state.heard_us is None or last is None:
        return None
    grace_us = last.t_us + cfg.offline_upload_grace_s * US
    return any(grace_us < b and (until_us is None or b < until_us) for b in state.blind_us)


def note_heard(state: VehicleState, cfg: RuleConfig) -> None:
    """The clock was told of a newer ``heard_us``: the first heard in the current silence
    (later than the upload grace after the last fix) is kept in ``blind_us``."""
    last, heard_us = state.last, state.heard_us
    if last is None or heard_us is None:
        return
    grace_us = last.t_us + cfg.offline_upload_grace_s * US
    if heard_us > grace_us and not any(b > grace_us for b in state.blind_us):
        state.blind_us.append(heard_us)
        del state.blind_us[:-BLIND_KEEP]


def cut_in_site(state: VehicleState, cfg: RuleConfig, until_us: int | None = None) -> bool:
    """A truck that loaded at its site (the loading dwell reached) whose terminal went silent
    there, and whose JT/T 808 session is known but was not heard since: the terminal is off,
    not asleep (a sleeping terminal heartbeats) nor holding back (that one heartbeats too).
    Cut before the truck rolled out: a silent departure as much as one at the gate."""
    return state.trip.phase == "loading" and heard_since_last(state, cfg, until_us) is False


def _gap_details(state: VehicleState, step: Step) -> tuple[dict[str, object], dict[str, object]]:
    """What the gap since the previous fix says, as (offline detail, tampering detail): a
    loaded silence is plain offline; a silence from the site gate on a loaded departure, or a
    reappearance implying an impossible speed, is tampering (车机分离). A terminal heard
    (heartbeats) during the silence was not cut: its silence is plain offline."""
    cfg = step.cfg
    offline: dict[str, object] = {}
    tamper: dict[str, object] = {}
    if state.last is None or step.gap_s is None or step.jump_m is None:
        return offline, tamper
    heard = heard_since_last(state, cfg, step.t_us)
    if step.gap_s >= cfg.offline_gap_s:
        if heard:
            offline["heard_at_us"] = state.heard_us
        if (departing(state, cfg) or cut_in_site(state, cfg, step.t_us)) and not heard:
            tamper.update(reason="silent_departure", max_gap_s=step.gap_s)
            site_id = state.trip.origin_id or state.trip.place_id
            if site_id is not None:
                tamper["site_id"] = site_id
        elif state.trip.loaded or (heard and departing(state, cfg)):
            offline.update(reason="silence", max_gap_s=step.gap_s)
        else:
            offline.clear()
    implied_kmh = step.jump_m / step.gap_s * 3.6
    if step.gap_s >= cfg.tamper_gap_min_s and implied_kmh > cfg.tamper_speed_kmh:
        offline.clear()
        tamper.update(
            reason="implausible_reappearance",
            max_implied_speed_kmh=implied_kmh,
            max_gap_s=step.gap_s,
        )
    return offline, tamper


def _gap_rule(
    state: VehicleState, step: Step, key: str, detail: dict[str, object], alarm: int
) -> list[Event]:
    """One gap-shaped episode: opened from the last fix before the gap and closed on the fix
    that ends it (unless ``tick`` opened it already); alarm bits hold it open."""
    gap_cond = bool(detail)
    if alarm:
        detail.update(alarm_bits=alarm, reason="power_or_antenna_cut")
    events: list[Event] = []
    last = state.last
    if gap_cond and last is not None and not is_open(state, key):
        state.tracks.pop(key, None)
        evidence = [_last_point(last)]
        opened = open_episode(state, key, key, last.t_us, step.time, step.late, evidence, detail)
        events.append(opened)
        detail = {}
    track = state.tracks.get(key)
    episode = None if track is None else track.episode
    covered = step.gap_s is not None and step.gap_s < step.cfg.offline_gap_s
    if episode is not None and not alarm and covered and episode.detail.get("live_tick"):
        if _history(step):
            # Held-back fixes that shorten the silence without ending it (the terminal is
            # still silent now): the same silence, from this fix on; still open.
            episode.started_us = step.t_us
            episode.evidence = [step.point]
            episode.detail["silent_from_us"] = step.t_us
            return events
        # Opened by the clock, and the fixes that now arrive cover the silence: the terminal
        # was recording all along and only held its uploads back (a blind area). The episode
        # closes here, marked so it is not taken for a cut terminal.
        episode.detail["delivery_only"] = True
    events += advance(
        state,
        key,
        key,
        step,
        open_cond=bool(alarm) or gap_cond,
        hold_cond=bool(alarm),
        h=Hysteresis(),
        detail=detail or None,
    )
    return events


def _history(step: Step) -> bool:
    """A fix that arrived more than ``offline_upload_grace_s`` after it was taken: it tells
    where the truck was, not that its terminal is reporting now."""
    received_us = step.afix.received_us
    if received_us is None:
        received_us = to_us(step.afix.fix.received_at)
    return received_us - step.t_us > step.cfg.offline_upload_grace_s * US


def terminal_offline(state: VehicleState, step: Step) -> list[Event]:
    """Runs before the trip update (it judges the gap by the state before this fix).

    ``terminal_offline``: a silence ≥ ``offline_gap_s`` while loaded, from the last fix to this
    one (opened and closed on this fix, unless ``tick`` opened it already).
    ``terminal_tampering`` (车机分离): a silence from the site gate on a loaded departure, a
    reappearance implying more than ``tamper_speed_kmh``, power/antenna-cut alarm bits (held
    open while set); the swap watch (``terminal_swap``) runs on the fixes ingest flagged as
    jumps.
    """
    cfg = step.cfg
    alarm = step.afix.fix.alarm_bits & cfg.tamper_alarm_mask
    gap_s = step.gap_s
    quiet_s = min(cfg.tamper_gap_min_s, cfg.offline_gap_s)
    tracks = state.tracks
    confirmed: list[Event] = []
    if state.offline_pending:
        confirmed = confirm_offline(state, cfg, step.t_us, step.time, step.late)
    quiet = not alarm and (gap_s is None or gap_s < quiet_s)
    if quiet and OFFLINE not in tracks and TAMPER not in tracks:
        return confirmed + _swap_clear(state, step) if SWAP in tracks else confirmed
    offline, tamper = _gap_details(state, step)
    events: list[Event] = []
    if offline and _hold_back(state, step, offline):
        offline = {}
    if offline or OFFLINE in tracks:
        events += _gap_rule(state, step, OFFLINE, offline, 0)
    if tamper or alarm or TAMPER in tracks:
        events += _gap_rule(state, step, TAMPER, tamper, alarm)
    if SWAP in tracks:
        events += _swap_clear(state, step)
    return confirmed + events


def _hold_back(state: VehicleState, step: Step, detail: dict[str, object]) -> bool:
    """A loaded silence revealed by a live fix, which the clock did not see (it opened no
    episode): kept back as pending for ``offline_confirm_s``, since the fixes of the silence
    may still come late (a terminal that held a run of fixes back). A replay with late fixes
    that fill the silence drops it; otherwise ``confirm_offline`` reports it."""
    cfg, last = step.cfg, state.last
    if step.late or cfg.offline_confirm_s <= 0 or last is None or is_open(state, OFFLINE):
        return False
    if heard_since_last(state, cfg, step.t_us) is False:
        # The gateway knows the session and did not hear the terminal during the silence: it
        # was off or cut, not holding fixes back (that terminal heartbeats): reported at once.
        return False
    episode = Episode(
        incident_id=f"{state.vehicle_id}:{OFFLINE}:{last.t_us}",
        type=OFFLINE,
        started_us=last.t_us,
        opened_us=step.t_us,
        trip_id=state.trip.trip_id,
        permit_id=state.trip.permit_id,
        detail={**detail, "ended_at_us": step.t_us, "confirm_s": cfg.offline_confirm_s},
        evidence=[_last_point(last), step.point],
    )
    state.offline_pending.append(episode)
    return True


def confirm_offline(
    state: VehicleState, cfg: RuleConfig, now_us: int, now: datetime, late: bool
) -> list[Event]:
    """Report the pending silences that no late fix filled within ``offline_confirm_s`` of
    the reappearance (opened and closed: the terminal is back)."""
    events: list[Event] = []
    waiting: list[Episode] = []
    for episode in state.offline_pending:
        if now_us - int(episode.detail["ended_at_us"]) < cfg.offline_confirm_s * US:
            waiting.append(episode)
            continue
        episode.opened_us = now_us
        view = IncidentView.of(episode, state.vehicle_id)
        events += [IncidentOpened(now, late, view), IncidentClosed(now, late, view)]
    state.offline_pending = waiting
    return events


def terminal_swap(state: VehicleState, step: Step) -> list[Event]:
    """A fix ingest flagged as a jump (an impossible speed from the terminal's previous good
    fix), seen instead of skipped: ``swap_min_jumps`` of them within ``swap_window_s`` is a
    terminal whose reports jump to another truck's pattern (moved to another truck, or two
    trucks reporting as one). The fix itself stays out of every other rule."""
    cfg = step.cfg
    if cfg.swap_min_jumps <= 0:
        return []
    track = state.tracks.get(SWAP)
    if track is not None and track.episode is not None:
        add_point(track.episode.evidence, step.point, cfg.evidence_max_points)
        merge_detail(track.episode.detail, {"jumps": track.run_fixes + 1})
        track.run_fixes += 1
        track.clear_start_us = step.t_us  # the latest jump
        return []
    if track is None or (
        track.run_start_us is not None and step.t_us - track.run_start_us > cfg.swap_window_s * US
    ):
        track = state.tracks[SWAP] = Track(run_start_us=step.t_us)
    track.run_fixes += 1
    track.clear_start_us = step.t_us
    add_point(track.pending, step.point, cfg.evidence_max_points)
    if track.run_fixes < cfg.swap_min_jumps:
        return []
    detail = {"reason": "swap", "jumps": track.run_fixes}
    if step.jump_m is not None:
        detail["max_jump_m"] = step.jump_m
    start = track.run_start_us if track.run_start_us is not None else step.t_us
    event = open_episode(
        state, SWAP, TAMPER, start, step.time, step.late, track.pending, detail, step.t_us
    )
    state.tracks[SWAP].clear_start_us = step.t_us
    state.tracks[SWAP].run_fixes = track.run_fixes
    return [event]


def _swap_clear(state: VehicleState, step: Step) -> list[Event]:
    """On a good fix: the swap episode closes once no jump came for ``swap_window_s``; an
    unopened run of jumps is forgotten after that long."""
    track = state.tracks.get(SWAP)
    if track is None:
        return []
    latest = track.clear_start_us if track.clear_start_us is not None else step.t_us
    if step.t_us - latest < step.cfg.swap_window_s * US:
        return []
    if track.episode is None:
        del state.tracks[SWAP]
        return []
    return close_episode(state, SWAP, step.time, step.late, step.t_us)


def tick_offline(state: VehicleState, ctx: VehicleContext, now: datetime) -> list[Event]:
    """Silence seen from a clock the worker supplies: opens the episode without waiting for
    the terminal to come back (the next fix closes it): ``terminal_offline`` for a loaded
    truck, ``terminal_tampering`` for a loaded departure silent from the site gate.

    The clock measures time since the last fix *received*; a terminal buffers its fixes and
    uploads them every so often, so "no fix for ``offline_gap_s``" is only established once
    ``offline_upload_grace_s`` more has passed (fixes taken before then could still be on
    their way). A silence that the next fixes reveal as a real gap opens from the fixes."""
    last = state.last
    if last is None:
        return []
    rules = ctx.rules_for(state.trip.permit_id)
    now_us = to_us(now)
    events: list[Event] = []
    if state.offline_pending:
        events += confirm_offline(state, rules, now_us, now, False)
    silent_s = (now_us - last.t_us) / US
    if state.trip.loaded and silent_s >= rules.offline_gap_s and state.suspected_us is None:
        state.suspected_us = last.t_us  # shown on the map; an incident needs more (below)
    if departing(state, rules) or cut_in_site(state, rules):
        key, reason = TAMPER, "silent_departure"
    elif state.trip.loaded:
        key, reason = OFFLINE, "silence"
    else:
        return events
    if is_open(state, key):
        return events
    wait_s = rules.offline_gap_s + rules.offline_upload_grace_s
    heard = heard_since_last(state, rules)
    if heard:
        # Heard (heartbeats) while no positions come: connected and holding them back (a
        # blind area, uploaded later marked 0x0704 type 1), not cut. Suspected, no incident,
        # until the terminal is no longer heard for ``heard_lost_s``.
        assert state.heard_us is not None
        if (now_us - state.heard_us) / US < rules.heard_lost_s:
            return events
    elif heard is None and key == OFFLINE and state.late_runs:
        # No session known, but a terminal seen holding runs of fixes back: its silence is
        # reported once late fixes had the same time to fill it as at a reappearance.
        wait_s += rules.offline_confirm_s
    if silent_s < wait_s:
        return events
    state.tracks.pop(key, None)
    detail: dict[str, object] = {"reason": reason, "max_gap_s": silent_s, "live_tick": True}
    if heard:
        detail["heard_at_us"] = state.heard_us  # heard during the silence, then no more
    site_id = state.trip.origin_id or state.trip.place_id
    if key == TAMPER and site_id is not None:
        detail["site_id"] = site_id
    evidence = [_last_point(last)]
    return [*events, open_episode(state, key, key, last.t_us, now, False, evidence, detail)]
