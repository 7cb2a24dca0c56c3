"""Offline that officers can trust: the JT/T 808 blind-area mark (0x0704 type 1) and the
session's heartbeats tell a terminal holding its positions back from a cut one.

Rule tables: uploads (with their arrival time) and heartbeats on the worker's clock, a tick
every 10 s, through ``rewind.advance`` and ``tick`` as a worker drives them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from trips_world import CONTEXT, WORLD, Drive, haul_to_yard, incidents, load_at_site, run

from tracker.trips.core import (
    AnnotatedFix,
    Event,
    IncidentClosed,
    IncidentOpened,
    IncidentRetracted,
    TripCompleted,
    VehicleState,
    tick,
)
from tracker.trips.core.rewind import Timed, advance
from tracker.trips.core.state import to_us
from tracker.trips.core.vstate import vehicle_state
from tracker.wire import Fix, FixFlag

Upload = tuple[datetime, list[Fix]]  # arrival, fixes
TICK = timedelta(seconds=10)


def annotator(fix: Fix, prev: tuple[float, float] | None, t_us: int, rec_us: int) -> AnnotatedFix:
    before = None if prev is None else replace(fix, lon=prev[0], lat=prev[1])
    return replace(WORLD.annotate(fix, before), t_us=t_us, received_us=rec_us)


def drive(
    uploads: list[Upload],
    heard: list[datetime] = (),
    until: datetime | None = None,  # type: ignore[assignment]
) -> tuple[VehicleState, list[tuple[datetime, Event]]]:
    """The worker's day: ticks every 10 s (told the latest heartbeat by then), uploads in
    arrival order (stragglers replayed). Returns the state and (worker time, event)."""
    state = VehicleState(vehicle_id=CONTEXT.vehicle_id)
    arrived: list[Timed] = []
    out: list[tuple[datetime, Event]] = []
    uploads = sorted(uploads, key=lambda u: u[0])
    now = uploads[0][0]
    end = until or uploads[-1][0]
    i = 0
    while now <= end:
        while i < len(uploads) and uploads[i][0] <= now:
            at, fixes = uploads[i]
            timed = [(to_us(f.fix_time), to_us(at), replace(f, received_at=at)) for f in fixes]
            arrived += timed
            state, events, _ = advance(state, CONTEXT, timed, arrived, annotator)
            out += [(at, e) for e in events]
            i += 1
        beats = [h for h in heard if h <= now]
        state, events = tick(state, CONTEXT, now, to_us(beats[-1]) if beats else None)
        out += [(now, e) for e in events]
        now += TICK
    return state, out


def live(fixes: list[Fix]) -> list[Upload]:
    return [(f.received_at, [f]) for f in fixes]


def opened(out: list[tuple[datetime, Event]], type_: str) -> list[tuple[datetime, Event]]:
    return [(t, e) for t, e in out if isinstance(e, IncidentOpened) and e.incident.type == type_]


def every_minute(start: datetime, end: datetime) -> list[datetime]:
    beats, t = [], start
    while t <= end:
        beats.append(t)
        t += timedelta(seconds=60)
    return beats


def held_run() -> tuple[Drive, datetime, datetime]:
    """Loaded, hauling; 8 min of fixes (16 at 30 s) then held back; the haul goes on."""
    d = load_at_site().to(2000, 0, 40)
    start = d.t
    d.to(7300, 0, 40)  # about 8 min
    end = d.t
    return haul_to_yard(d), start, end


def blind_area_uploads(d: Drive, start: datetime, end: datetime, delay_s: float) -> list[Upload]:
    """Fixes in ``[start, end)`` held back and uploaded ``delay_s`` after ``end`` in one
    0x0704 blind-area upload (marked); the others live, one by one."""
    held = [replace(f, blind_area=True) for f in d.fixes if start <= f.fix_time < end]
    ups = [u for u in live(d.fixes) if not start <= u[1][0].fix_time < end]
    return [*ups, (end + timedelta(seconds=delay_s), held)]


def test_late_batch_with_heartbeats_raises_no_live_alarm() -> None:
    """The clock sees 8 min of loaded silence, but the terminal heartbeats all along: it is
    holding its positions back (suspected, no incident); the blind-area upload fills it."""
    d, start, end = held_run()
    uploads = blind_area_uploads(d, start, end, 120)
    heard = every_minute(start + timedelta(seconds=75), end + timedelta(seconds=100))
    state, out = drive(uploads, heard, until=end)
    assert opened(out, "terminal_offline") == [] and opened(out, "terminal_tampering") == []
    assert vehicle_state(state, CONTEXT) == "suspected"
    state, out = drive(uploads, heard)
    assert opened(out, "terminal_offline") == []
    assert not any(isinstance(e, IncidentRetracted) for _, e in out)
    assert state.late_runs == 1
    # The same silence without heartbeats is reported by the clock at 5 min + 60 s.
    _, out = drive(uploads)
    ((at, _),) = opened(out, "terminal_offline")
    last = max(f.fix_time for f in d.fixes if f.fix_time < start)
    assert timedelta(seconds=360) <= at - last <= timedelta(seconds=375)


def test_blind_area_upload_is_history_not_a_live_alarm() -> None:
    """A terminal that held everything back uploads the run marked blind-area 30 s after it
    ends, with no live fix in between: what it reveals (a 4 min dumping stop, fixes younger
    than ``late_after_s``) is raised late (stored, not alarmed); unmarked, it alarms live."""
    d = load_at_site().to(2000, 0, 40)
    start = d.t
    d.stop(240)
    end = d.t
    d = haul_to_yard(d.to(4000, 0, 40))
    for mark in (True, False):
        held = [replace(f, blind_area=mark) for f in d.fixes if start <= f.fix_time < end]
        ups = [u for u in live(d.fixes) if not start <= u[1][0].fix_time < end]
        first_after = next(u for u in ups if u[1][0].fix_time >= end)
        ups.remove(first_after)
        arrive = end + timedelta(seconds=30)
        ups += [(arrive, held), (arrive + timedelta(seconds=1), first_after[1])]
        _, out = drive(ups)
        ((_, dumping),) = opened(out, "dumping")
        assert dumping.late is mark
        assert opened(out, "terminal_offline") == []  # the upload covers the silence


def test_heartbeat_without_positions_holds_the_alarm_until_it_stops() -> None:
    """Heartbeats while no positions come: suspected, no incident, however long; once the
    terminal is no longer heard for ``heard_lost_s`` (5 min) the silence is reported."""
    d = load_at_site().to(2000, 0, 40)
    last = d.fixes[-1].fix_time
    heard_until = last + timedelta(seconds=1200)
    heard = every_minute(last + timedelta(seconds=90), heard_until)
    state, out = drive(live(d.fixes), heard, until=last + timedelta(seconds=1300))
    assert opened(out, "terminal_offline") == []
    assert vehicle_state(state, CONTEXT) == "suspected"
    state, out = drive(live(d.fixes), heard, until=last + timedelta(seconds=1500))
    ((at, event),) = opened(out, "terminal_offline")
    assert heard[-1] + timedelta(seconds=300) <= at <= heard[-1] + timedelta(seconds=310)
    assert event.incident.started_at == last and event.incident.detail["heard_at_us"]


def test_a_session_not_heard_is_reported_without_the_held_back_wait() -> None:
    """A terminal known to hold runs back (it delivered one) and to heartbeat: a later
    silence without heartbeats is a terminal that is off, reported at 5 min + 60 s, not after
    the 10 min held-back wait; and a silence its reappearance reveals is reported at once."""
    d, start, end = held_run()
    first = blind_area_uploads(d, start, end, 120)
    beats = every_minute(start + timedelta(seconds=75), end + timedelta(seconds=100))
    more = load_at_site(Drive(t=d.t + timedelta(seconds=600))).to(2000, 0, 40)
    last = more.fixes[-1].fix_time
    state, out = drive([*first, *live(more.fixes)], beats, until=last + timedelta(seconds=400))
    assert state.late_runs == 1
    ((at, _),) = opened(out, "terminal_offline")
    assert timedelta(seconds=360) <= at - last <= timedelta(seconds=375)
    # Reappearance after 5.5 min, nobody heard meanwhile: reported on the reappearing fix.
    back = more.gap(330, 2400, 0).to(4000, 0, 40)
    ups = [*first, *live(back.fixes)]
    _, out = drive(ups, beats, until=back.fixes[-1].received_at)
    reappeared = next(f for f in back.fixes if f.fix_time > last)
    ((at, event),) = opened(out, "terminal_offline")
    assert at == reappeared.received_at and event.incident.started_at == last
    # Heard during that silence: held back, pending (no incident while late fixes may come).
    heard = [*beats, last + timedelta(seconds=120)]
    state, out = drive(ups, heard, until=back.fixes[-1].received_at)
    assert opened(out, "terminal_offline") == [] and state.offline_pending


def test_site_exit_cut_of_a_heartbeating_terminal_is_tampering() -> None:
    """A terminal that heartbeats (its session is known) falls silent at the site gate and
    is not heard again: cut, ``terminal_tampering`` at 5 min + 60 s. Heard after the gate,
    the same silence is a blind area: no tampering."""
    d = load_at_site().to(340, 0, 40)
    last = d.fixes[-1].fix_time
    before = [d.fixes[2].fix_time]  # heard once while loading: the session is known
    state, out = drive(live(d.fixes), before, until=last + timedelta(seconds=400))
    assert state.trip.phase == "loading"
    ((at, event),) = opened(out, "terminal_tampering")
    assert event.incident.detail["reason"] == "silent_departure"
    assert timedelta(seconds=360) <= at - last <= timedelta(seconds=375)
    heard = [*before, *every_minute(last + timedelta(seconds=80), last + timedelta(seconds=900))]
    _, out = drive(live(d.fixes), heard, until=last + timedelta(seconds=900))
    assert opened(out, "terminal_tampering") == [] and opened(out, "terminal_offline") == []


def test_swapped_terminal_is_tampering_whatever_it_heartbeats() -> None:
    """A terminal moved to another truck keeps its session (heartbeats and all): its reports
    jump to the other truck's track (ingest flags them) and the swap watch still opens."""
    d = load_at_site().to(2000, 0, 40)
    d.y = 5000
    for _ in range(6):
        d.x += 333
        d.emit(40)
        d.fixes[-1].flags = int(FixFlag.JUMP)
        d.t += timedelta(seconds=30)
    heard = every_minute(d.fixes[0].fix_time, d.t)
    _, out = drive(live(d.fixes), heard)
    ((_, event),) = opened(out, "terminal_tampering")
    assert event.incident.detail["reason"] == "swap"


def test_back_at_the_site_after_a_silence_is_a_new_load() -> None:
    """A silence hid the whole unloading: the truck is next seen back at its site, where it
    dwells for a new load. That haul ended elsewhere, unseen; the new load is a trip of its
    own, and a cut at the gate after it is tampering again (not a silence of the old haul)."""
    d = load_at_site().to(2000, 0, 40).gap(1800, 0, 0)
    d = load_at_site(d).to(340, 0, 40).gap(900, 6000, 0)
    _, events = run(haul_to_yard(d).fixes)
    completed = [e for e in events if isinstance(e, TripCompleted)]
    assert [c.outcome for c in completed][:1] == ["elsewhere"]
    assert incidents(events) == [
        ("open", "terminal_offline"),  # the silence that hid the unloading
        ("close", "terminal_offline"),
        ("open", "terminal_tampering"),
        ("close", "terminal_tampering"),
    ]


def test_held_back_fixes_that_shorten_a_silence_keep_its_incident() -> None:
    """The clock reported a silence; a blind-area upload then brings the first 80 s of it,
    taken long ago: the terminal is still silent, so the incident stays open and moves to
    start after those fixes (one incident, not a closed one and a second one)."""
    d = load_at_site().to(2000, 0, 40)
    last = d.fixes[-1].fix_time
    d.to(2900, 0, 40)  # about 80 s, then nothing for 10 min
    held_end = d.t
    d = haul_to_yard(d.gap(600, 9000, 0))
    start = last + timedelta(seconds=1)
    ups = blind_area_uploads(d, start, held_end, 340)  # arrives at 7 min of silence
    _, out = drive(ups)
    ((_, event),) = opened(out, "terminal_offline")
    assert event.incident.started_at == last
    closed = [e for _, e in out if isinstance(e, IncidentClosed)]
    (close,) = [e for e in closed if e.incident.type == "terminal_offline"]
    moved_to = max(f.fix_time for f in d.fixes if f.fix_time < held_end)
    assert close.incident.started_at == moved_to
    assert close.incident.incident_id == event.incident.incident_id
    assert not close.incident.detail.get("delivery_only")


def test_a_replay_judges_an_old_silence_by_what_was_heard_then() -> None:
    """A heard silence revealed by a reappearance waits as pending; a later, short heard
    silence and a resent old fix (a replay from a snapshot) must not make the first one look
    unheard and report it at once."""
    d = load_at_site().to(2000, 0, 40)
    first_last = d.fixes[-1].fix_time
    resent = d.fixes[-3]
    d.gap(330, 5600, 0).to(7000, 0, 40)
    back = next(f for f in d.fixes if f.fix_time > first_last)
    second_last = d.fixes[-1].fix_time
    d.gap(100, 8100, 0).to(9000, 0, 40)
    heard = [
        *every_minute(first_last + timedelta(seconds=90), first_last + timedelta(seconds=320)),
        second_last + timedelta(seconds=80),
    ]
    ups = [*live(d.fixes), (d.fixes[-1].received_at + timedelta(seconds=5), [resent])]
    state, out = drive(ups, heard, until=back.received_at + timedelta(seconds=400))
    assert opened(out, "terminal_offline") == []
    assert state.offline_pending  # still waiting for held-back fixes
