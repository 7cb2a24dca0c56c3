"""Late fixes replayed into history: a bounded rewind per vehicle (pure, like the core).

``process`` only moves forward: a fix not newer than the vehicle's last one is skipped. A
terminal that held fixes back while it kept sending live ones delivers them later as
*stragglers*. To evaluate them, the state keeps a few snapshots of itself (``snapshots``: a
new one every ``rewind_step_s`` of fix time, the oldest kept covering ``rewind_window_s``),
as compact JSON strings, plus ``recent``: the incidents and trips it has reported since the
oldest snapshot (id -> ``[start_us, last_us, severity, closed]``, and a fifth item once
retracted).

``replay`` restores the newest snapshot older than the stragglers and runs the window's fixes
(the caller supplies them: the worker reads ``pings``, the stored truth; the benchmark keeps
what arrived) merged with the stragglers in fix-time order. The events are then reconciled
with what was reported before:

- an incident or trip already reported is not reported again (its ``Opened``/``Started`` are
  dropped; an ``Updated`` only if it raises the severity, a ``Closed`` only if it was open);
- an episode the late fixes moved (same rule, an earlier start so another deterministic id)
  keeps the id it was reported under, so nothing doubles;
- an open episode the late fixes undid is closed (``detail.retracted``), and a closed one they
  undid (begun after the snapshot, not in the replayed history) gets ``IncidentRetracted``;
- everything else is new, found thanks to the late fixes: marked ``late`` (stored, not
  alarmed live).

Stragglers older than every snapshot stay skipped (counted), as without the rewind. The
snapshots and ``recent`` are part of the checkpointed state, so a restarted worker replays
exactly as an uninterrupted one would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

import orjson

from tracker.trips.core.engine import keep_for_swap, process
from tracker.trips.core.events import (
    Event,
    IncidentClosed,
    IncidentOpened,
    IncidentRetracted,
    IncidentUpdated,
    IncidentView,
    TripCompleted,
    TripStarted,
)
from tracker.trips.core.models import AnnotatedFix, RuleConfig, VehicleContext
from tracker.trips.core.state import EvidencePoint, VehicleState, from_us
from tracker.trips.core.tracks import US
from tracker.wire import Fix, Timed

# Annotates one fix for the replay: the fix, the previous replayed fix's lon/lat, t_us, received_us.
Annotator = Callable[[Fix, tuple[float, float] | None, int, int], AnnotatedFix]

RETRACTED = 4  # a ``recent`` entry of this length is not retracted yet; a 5th item marks it
SEVERITY_RANK: Mapping[str, int] = MappingProxyType({"normal": 0, "escalated": 1, "severe": 2})


def prepare_timed(timed: list[Timed], rules: RuleConfig) -> list[Timed]:
    """``engine.prepare_batch`` on timed fixes: fix-time order, exact duplicates (same fix
    time; the first received wins) dropped, fixes flagged with ``skip_flags`` left out."""
    ordered = sorted(timed, key=lambda t: (t[0], t[1])) if len(timed) > 1 else timed
    kept: list[Timed] = []
    skip = rules.skip_flags
    for item in ordered:
        if item[2].flags & skip and not keep_for_swap(item[2].flags, rules):
            continue
        if kept and kept[-1][0] == item[0]:
            if kept[-1][2].flags & skip and not item[2].flags & skip:
                kept[-1] = item  # a good fix beats a flagged one at the same time
            continue
        kept.append(item)
    return kept


# -- bookkeeping on the live path --------------------------------------------------------------
def _snapshot(state: VehicleState) -> list[Any]:
    assert state.last is not None
    snapshots, recent = state.snapshots, state.recent
    state.snapshots, state.recent = [], {}
    try:
        text = orjson.dumps(state).decode()  # as ``to_dict()`` would give, only faster
    finally:
        state.snapshots, state.recent = snapshots, recent
    return [state.last.t_us, text]


def roll(state: VehicleState, rules: RuleConfig) -> None:
    """After a processed fix: take a snapshot every ``rewind_step_s`` of fix time; drop the
    ones no longer needed to cover ``rewind_window_s``; forget finished incidents and trips
    older than the oldest snapshot."""
    last = state.last
    if last is None or rules.rewind_window_s <= 0:
        return
    snaps = state.snapshots
    if snaps and last.t_us - snaps[-1][0] < rules.rewind_step_s * US:
        return
    snaps.append(_snapshot(state))
    horizon_us = last.t_us - int(rules.rewind_window_s * US)
    while len(snaps) > 1 and snaps[1][0] <= horizon_us:
        del snaps[0]
    oldest_us = snaps[0][0]
    recent = state.recent
    for key in [k for k, v in recent.items() if v[3] and v[1] < oldest_us]:
        del recent[key]


def _key_of(event: Event) -> str:
    if isinstance(event, IncidentOpened | IncidentUpdated | IncidentClosed):
        return event.incident.incident_id
    if isinstance(event, IncidentRetracted):
        return event.incident_id
    return f"trip:{event.trip_id}"


def note(state: VehicleState, events: Iterable[Event]) -> None:
    """Record reported events in ``recent`` (what a later replay must not report again)."""
    recent = state.recent
    for ev in events:
        _apply(recent, ev)


def _apply(recent: dict[str, list[Any]], ev: Event) -> bool:
    """Fold an event into ``recent``; True when it tells something not known yet."""
    key, t_us = _key_of(ev), int(ev.time.timestamp() * US)
    entry = recent.get(key)
    if isinstance(ev, IncidentRetracted):
        if entry is None or not entry[3] or len(entry) > RETRACTED:
            return False
        entry.append(True)
        return True
    if isinstance(ev, IncidentOpened | IncidentUpdated | IncidentClosed):
        inc = ev.incident
        if entry is None:
            start_us = int(inc.started_at.timestamp() * US)
            recent[key] = [start_us, t_us, inc.severity, isinstance(ev, IncidentClosed)]
            return True
        if isinstance(ev, IncidentOpened):
            return False
        if isinstance(ev, IncidentUpdated):
            if entry[3] or SEVERITY_RANK.get(inc.severity, 0) <= SEVERITY_RANK.get(entry[2], 0):
                return False
            entry[1], entry[2] = t_us, inc.severity
            return True
        if entry[3]:
            return False
        entry[1], entry[3] = t_us, True
        return True
    done = isinstance(ev, TripCompleted)
    if entry is None:
        recent[key] = [t_us, t_us, "", done]
        return True
    if isinstance(ev, TripStarted) or entry[3]:
        return False
    entry[1], entry[3] = t_us, True
    return True


# -- the replay --------------------------------------------------------------------------------
def window_start_us(state: VehicleState) -> int | None:
    """The fix time of the oldest snapshot: the window's fixes are the ones after it."""
    return state.snapshots[0][0] if state.snapshots else None


def replay(
    state: VehicleState,
    ctx: VehicleContext,
    stragglers: list[Timed],
    window: Iterable[Timed],
    annotator: Annotator,
) -> tuple[VehicleState, list[Event]] | None:
    """Re-run history with the stragglers merged in. ``window``: the fixes already received
    for the vehicle (any superset of those processed since the snapshot will do; newer ones
    than the state's last fix are ignored). Returns the new state (a fresh object) and the
    reconciled events, or None when no snapshot is older than the stragglers."""
    last = state.last
    if last is None or not stragglers:
        return None
    first_us = min(t for t, _, _ in stragglers)
    chosen = -1
    for i, snap in enumerate(state.snapshots):
        if snap[0] < first_us:
            chosen = i
    if chosen < 0:
        return None
    snap_us, text = state.snapshots[chosen]
    merged = [item for item in (*window, *stragglers) if snap_us < item[0] <= last.t_us]
    fixes = prepare_timed(merged, ctx.rules)
    new = VehicleState.from_dict(orjson.loads(text))
    new.snapshots = [list(s) for s in state.snapshots[: chosen + 1]]
    # What the gateway heard is known now, whatever the replay.
    new.heard_us, new.blind_us = state.heard_us, list(state.blind_us)
    events: list[Event] = []
    prev = (new.last.lon, new.last.lat) if new.last is not None else None
    for t_us, received_us, fix in fixes:
        afix = annotator(fix, prev, t_us, received_us)
        new, evs = process(new, afix, ctx)
        if new.last is not None and new.last.t_us == t_us:
            roll(new, ctx.rules)
            prev = (fix.lon, fix.lat)
        events += evs
    new.fixes_skipped = state.fixes_skipped
    # A clock-seen silence the late fixes shorten but do not end: the same silence, moved.
    arrived_us = max(t[1] for t in stragglers)
    still_silent_us = arrived_us - int(ctx.rules.offline_upload_grace_s * US)
    return new, reconcile(state, new, events, snap_us, still_silent_us)


def advance(
    state: VehicleState,
    ctx: VehicleContext,
    timed: list[Timed],
    window: Iterable[Timed] | None,
    annotator: Annotator,
) -> tuple[VehicleState, list[Event], list[AnnotatedFix]]:
    """One vehicle's arriving fixes, the way a worker takes them: stragglers replayed into
    history when ``window`` (the vehicle's fixes received so far) is given, else skipped
    (counted); then the newer fixes through ``process``, with snapshots rolled and events
    noted. Returns the state (a new object after a replay), the events and the fixes
    processed live (annotated)."""
    prepared = prepare_timed(timed, ctx.rules)
    events: list[Event] = []
    last, start_us = state.last, window_start_us(state)
    if window is not None and last is not None and start_us is not None:
        late = [t for t in prepared if start_us < t[0] <= last.t_us]
        replayed = None
        if late:
            window = list(window)
            times = Counter(t[0] for t in window)
            held = any(times[t[0]] <= 1 for t in late)  # not only fixes sent again
            held = held or any(t[2].blind_area for t in late)  # marked 盲区补报
            replayed = replay(state, ctx, late, window, annotator)
        if replayed is not None:
            # A terminal that held fixes back: the clock waits longer for its silences.
            late_runs = state.late_runs + (1 if held else 0)
            state, events = replayed
            state.late_runs = late_runs
            done = {t[0] for t in late}
            prepared = [t for t in prepared if t[0] not in done]
    live: list[AnnotatedFix] = []
    rules = ctx.rules
    rewinds, step_us = rules.rewind_window_s > 0, int(rules.rewind_step_s * US)
    for t_us, received_us, fix in prepared:
        last = state.last
        if last is not None and t_us <= last.t_us:
            afix = AnnotatedFix(fix=fix)  # skipped (and counted) by the core
        else:
            prev = (last.lon, last.lat) if last is not None else None
            afix = annotator(fix, prev, t_us, received_us)
        state, new = process(state, afix, ctx)
        last = state.last
        if last is not None and last.t_us == t_us:
            snaps = state.snapshots
            if rewinds and (not snaps or t_us - snaps[-1][0] >= step_us):
                roll(state, rules)
            live.append(afix)
        if new:
            note(state, new)
            events += new
    return state, events, live


def _group(key: str, vehicle_id: int) -> str:
    """What a ``recent`` key reports: ``trip``, or the rule key inside a deterministic
    incident id ``{vehicle}:{rule key}:{start_us}``."""
    if key.startswith("trip:"):
        return "trip"
    return key[len(f"{vehicle_id}:") : key.rindex(":")]


def _us(t: datetime) -> int:
    return int(t.timestamp() * US)


def _spans(events: list[Event]) -> dict[str, list[int | None]]:
    """Key -> [start, end or None] of what the replay opened (in order of opening)."""
    spans: dict[str, list[int | None]] = {}
    for ev in events:
        key = _key_of(ev)
        if isinstance(ev, IncidentOpened):
            spans[key] = [_us(ev.incident.started_at), None]
        elif isinstance(ev, TripStarted):
            spans[key] = [_us(ev.time), None]
        elif isinstance(ev, IncidentClosed | TripCompleted) and key in spans:
            spans[key][1] = _us(ev.time)
    return spans


def _renames(
    recent: dict[str, list[Any]], spans: dict[str, list[int | None]], vehicle_id: int
) -> dict[str, str]:
    """New key -> reported key, for what the replay opened under another id than it was
    reported (the late fixes moved its start): same rule (or a trip), overlapping in time,
    not reproduced by the replay itself, each reported one claimed once."""
    reproduced = spans.keys() & recent.keys()
    rename: dict[str, str] = {}
    for key, (start, end) in spans.items():
        if key in recent:
            continue
        group = _group(key, vehicle_id)
        best: str | None = None
        for old, entry in recent.items():
            if old in reproduced or old in rename.values() or _group(old, vehicle_id) != group:
                continue
            if len(entry) > RETRACTED:  # retracted: what the replay finds now is news
                continue
            old_start, old_last, _, old_closed = entry
            assert start is not None
            overlaps = (not old_closed or old_last >= start) and (end is None or old_start <= end)
            if overlaps and (best is None or old_start < recent[best][0]):
                best = old
        if best is not None:
            rename[key] = best
    return rename


def _renamed(ev: Event, incidents: dict[str, str], trips: dict[str, str]) -> Event:
    if isinstance(ev, IncidentRetracted):
        return ev
    if isinstance(ev, IncidentOpened | IncidentUpdated | IncidentClosed):
        inc = ev.incident
        iid = incidents.get(inc.incident_id, inc.incident_id)
        trip_id = inc.trip_id if inc.trip_id is None else trips.get(inc.trip_id, inc.trip_id)
        if iid != inc.incident_id or trip_id != inc.trip_id:
            return replace(ev, incident=replace(inc, incident_id=iid, trip_id=trip_id))
        return ev
    trip_id = trips.get(ev.trip_id, ev.trip_id)
    return ev if trip_id == ev.trip_id else replace(ev, trip_id=trip_id)


def reconcile(
    before: VehicleState,
    after: VehicleState,
    events: list[Event],
    since_us: int,
    still_silent_us: int | None = None,
) -> list[Event]:
    """The replay's events minus what was reported already, ids kept stable, marked late;
    ``after.recent`` becomes ``before.recent`` updated with them (see the module doc).
    ``since_us``: the snapshot the replay started from (what began before it is not
    re-derived, so it cannot be contradicted). ``still_silent_us``: a silence the clock
    reported that goes on after the replayed history, which ends before this, is the same
    silence, moved to start after the late fixes (same id), not retracted."""
    vid = before.vehicle_id
    recent = {k: list(v) for k, v in before.recent.items()}
    rename = _renames(recent, _spans(events), vid)
    trips = {k[5:]: v[5:] for k, v in rename.items() if k.startswith("trip:")}
    incidents = {k: v for k, v in rename.items() if not k.startswith("trip:")}
    out: list[Event] = []
    replayed: set[str] = set()  # incidents the replay has too, under their reported ids
    for ev in events:
        ev = _renamed(ev, incidents, trips)
        if isinstance(ev, IncidentOpened | IncidentUpdated | IncidentClosed):
            replayed.add(ev.incident.incident_id)
        if _apply(recent, ev):
            out.append(ev if ev.late else replace(ev, late=True))
    if after.trip.trip_id is not None:
        after.trip.trip_id = trips.get(after.trip.trip_id, after.trip.trip_id)
    open_after: set[str] = set()
    for track in after.tracks.values():
        ep = track.episode
        if ep is not None:
            ep.incident_id = incidents.get(ep.incident_id, ep.incident_id)
            if ep.trip_id is not None:
                ep.trip_id = trips.get(ep.trip_id, ep.trip_id)
            open_after.add(ep.incident_id)
    if after.last is not None:
        time = from_us(after.last.t_us)
        for key, track in before.tracks.items():
            ep = track.episode
            if ep is None or ep.incident_id in open_after:
                continue
            if ep.started_us >= after.last.t_us and key not in after.tracks:
                after.tracks[key] = track  # after the replayed history (a silence): kept
                continue
            moved = still_silent_us is not None and after.last.t_us <= still_silent_us
            if moved and ep.detail.get("live_tick") and key not in after.tracks:
                last = after.last  # the late fixes shortened the silence; it goes on
                ep.started_us = last.t_us
                ep.evidence = [EvidencePoint(last.t_us, last.lon, last.lat, last.speed_kmh)]
                after.tracks[key] = track
                continue
            entry = recent.get(ep.incident_id)
            if entry is not None and entry[3]:
                continue
            view = IncidentView.of(ep, vid)
            detail = {**view.detail, "retracted": True, "ended_at_us": after.last.t_us}
            closed = IncidentClosed(time, True, replace(view, detail=detail))
            _apply(recent, closed)
            recent[ep.incident_id].append(True)  # retracted as it closed
            out.append(closed)
            replayed.add(ep.incident_id)
        for key, entry in list(recent.items()):
            if key.startswith("trip:") or key in replayed or key in open_after:
                continue
            if entry[3] and len(entry) == RETRACTED and entry[0] >= since_us:
                retracted = IncidentRetracted(time, True, key, vid)
                _apply(recent, retracted)
                out.append(retracted)
    after.recent = recent
    return out
