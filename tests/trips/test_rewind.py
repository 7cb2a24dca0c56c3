"""Late fixes replayed into history (``tracker.trips.core.rewind``): tables of timed fixes where a
terminal holds a run back while it keeps sending live fixes, then uploads it late."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from trips_world import (
    CONTEXT,
    VEHICLE,
    WORLD,
    Drive,
    haul_to_yard,
    incidents,
    load_at_site,
    run,
    with_rules,
)

from tracker.trips.core import (
    AnnotatedFix,
    Event,
    IncidentClosed,
    IncidentOpened,
    IncidentRetracted,
    TripStarted,
    VehicleContext,
    VehicleState,
    tick,
)
from tracker.trips.core.rewind import Timed, advance
from tracker.trips.core.state import to_us
from tracker.trips.core.vstate import vehicle_state
from tracker.trips.worker.repo import state_json
from tracker.trips.worker.shard import Parsed, ShardRunner
from tracker.wire import Fix

Batches = list[list[Fix]]


def annotator(fix: Fix, prev: tuple[float, float] | None, t_us: int, rec_us: int) -> AnnotatedFix:
    before = None if prev is None else replace(fix, lon=prev[0], lat=prev[1])
    return replace(WORLD.annotate(fix, before), t_us=t_us, received_us=rec_us)


def live(fixes: list[Fix]) -> Batches:
    """Every fix in its own upload, in fix-time order."""
    return [[f] for f in fixes]


def held_back(fixes: list[Fix], start: datetime, end: datetime, delay_s: float) -> Batches:
    """Fixes in ``[start, end)`` held back and uploaded together ``delay_s`` after ``end``
    (after the live fixes up to then); the others uploaded one by one."""
    held = [f for f in fixes if start <= f.fix_time < end]
    assert held, "nothing held back"
    due = end + timedelta(seconds=delay_s)
    batches: Batches = []
    for fix in fixes:
        if start <= fix.fix_time < end:
            continue
        if held and fix.fix_time >= due:
            batches.append([replace(f, received_at=due) for f in held])
            held = []
        batches.append([fix])
    assert not held, "the drive ends before the late upload"
    return batches


def feed(
    batches: Batches,
    ctx: VehicleContext = CONTEXT,
    rewind: bool = True,
    restart: bool = False,
) -> tuple[VehicleState, list[Event]]:
    """Uploads through ``rewind.advance`` as a worker takes them (the window: what arrived).
    ``restart``: the state goes through its JSON checkpoint after every upload."""
    state = VehicleState(vehicle_id=ctx.vehicle_id)
    arrived: list[Timed] = []
    events: list[Event] = []
    for batch in batches:
        timed = [(to_us(f.fix_time), to_us(f.received_at), f) for f in batch]
        arrived += timed
        state, new, _ = advance(state, ctx, timed, arrived if rewind else None, annotator)
        events += new
        if restart:  # through the checkpoint's encoding, which must equal ``to_dict``'s
            text = state_json(state)
            assert json.loads(text) == json.loads(json.dumps(state.to_dict()))
            state = VehicleState.from_dict(json.loads(text))
    return state, events


def opened(events: list[Event], type_: str) -> list[IncidentOpened]:
    return [e for e in events if isinstance(e, IncidentOpened) and e.incident.type == type_]


def deviation_drive(east_m: float = 600) -> tuple[Drive, datetime, datetime]:
    d = load_at_site().to(2000, 0, 40)
    start = d.t
    d.to(2000, 300, 40).to(2000 + east_m, 300, 40).to(2000 + east_m, 0, 40)
    end = d.t
    return haul_to_yard(d.to(4000 if east_m < 2000 else 6000, 0, 40)), start, end


def dumping_drive() -> tuple[Drive, datetime, datetime]:
    d = load_at_site().to(2000, 0, 40)
    start = d.t
    d.stop(240)  # 4 min stopped: a dumping stop; the live fixes around it are 270 s apart
    end = d.t
    return haul_to_yard(d.to(4000, 0, 40)), start, end


def test_in_order_uploads_give_what_the_core_gives() -> None:
    d, _, _ = deviation_drive()
    _, expected = run(d.fixes)
    _, events = feed(live(d.fixes))
    assert events == expected
    assert incidents(events) == [("open", "route_deviation"), ("close", "route_deviation")]


def test_late_batch_reveals_a_route_deviation_raised_once_and_late() -> None:
    d, start, end = deviation_drive()
    _, reference = run(d.fixes)
    batches = held_back(d.fixes, start, end, 300)
    _, skipped = feed(batches, rewind=False)
    assert opened(skipped, "route_deviation") == []  # the live fixes alone show nothing
    _, events = feed(batches)
    found = opened(events, "route_deviation")
    assert len(found) == 1
    assert found[0].late
    assert found[0].incident == opened(reference, "route_deviation")[0].incident
    closed = [e for e in events if isinstance(e, IncidentClosed)]
    assert [c.incident.incident_id for c in closed] == [found[0].incident.incident_id]
    assert closed[0].late
    # The trip is reported once, live, and its manifest is unchanged by the replay.
    started = [e for e in events if isinstance(e, TripStarted)]
    assert len(started) == 1 and not started[0].late


def test_late_batch_reveals_a_dumping_stop_raised_once_and_late() -> None:
    d, start, end = dumping_drive()
    _, reference = run(d.fixes)
    assert len(opened(reference, "dumping")) == 1
    batches = held_back(d.fixes, start, end, 240)
    _, skipped = feed(batches, rewind=False)
    assert incidents(skipped) == []
    _, events = feed(batches)
    found = opened(events, "dumping")
    assert len(found) == 1 and found[0].late
    assert found[0].incident.incident_id == opened(reference, "dumping")[0].incident.incident_id
    assert found[0].incident.started_at == start
    assert incidents(events) == [("open", "dumping"), ("close", "dumping")]


def test_straggler_that_reveals_nothing_changes_nothing() -> None:
    d = haul_to_yard(load_at_site().to(2000, 0, 40).to(4000, 0, 40))
    t0 = d.fixes[0].fix_time
    start, end = t0 + timedelta(seconds=600), t0 + timedelta(seconds=720)
    state, events = feed(held_back(d.fixes, start, end, 200))
    reference_state, reference = feed(live(d.fixes))
    assert [type(e) for e in events] == [type(e) for e in reference]
    assert incidents(events) == []
    assert all(not e.late for e in events)  # nothing re-reported by the replay
    assert state.trip == reference_state.trip
    assert state.fixes_seen == reference_state.fixes_seen == len(d.fixes)


def test_duplicate_straggler_does_nothing() -> None:
    d, start, _ = deviation_drive()
    cut = next(i for i, f in enumerate(d.fixes) if f.fix_time > start + timedelta(minutes=5))
    uploads = live(d.fixes[:cut])
    state, events = feed(uploads)
    dup = replace(d.fixes[cut - 3], received_at=d.fixes[cut - 1].received_at)
    after, again = feed([*uploads, [dup]])
    assert again == events  # nothing new
    assert after.to_dict() == state.to_dict()


def test_straggler_older_than_the_window_is_skipped_and_counted() -> None:
    d, start, end = deviation_drive()
    ctx = replace(CONTEXT, rules=replace(CONTEXT.rules, rewind_window_s=120, rewind_step_s=60))
    state, events = feed(held_back(d.fixes, start, end, 600), ctx)
    assert opened(events, "route_deviation") == []
    held = sum(1 for f in d.fixes if start <= f.fix_time < end)
    assert state.fixes_skipped == held


@pytest.mark.parametrize("delay_s", [90, 400])  # uploaded while it lasts / after it ended
def test_late_fixes_that_move_an_episode_keep_its_id(delay_s: float) -> None:
    # The first minute outside the corridor arrives late: live, the deviation opens later
    # (another start, another id); the replay moves its start but reports no second one.
    d, start, end = deviation_drive(east_m=1500)
    assert (end - start > timedelta(seconds=60 + delay_s)) == (delay_s < 100)
    late_end = start + timedelta(seconds=60)
    _, live_only = feed(held_back(d.fixes, start, late_end, delay_s), rewind=False)
    _, events = feed(held_back(d.fixes, start, late_end, delay_s))
    first = opened(live_only, "route_deviation")
    found = opened(events, "route_deviation")
    assert len(first) == len(found) == 1
    in_order = opened(run(d.fixes)[1], "route_deviation")[0].incident
    assert in_order.incident_id != first[0].incident.incident_id  # the start did move
    assert found[0].incident.incident_id == first[0].incident.incident_id
    assert not found[0].late  # raised live, from the live fixes
    closed = [e for e in events if isinstance(e, IncidentClosed)]
    assert [c.incident.incident_id for c in closed] == [found[0].incident.incident_id]


def test_replay_after_restart_is_exact() -> None:
    for drive, start, end in (deviation_drive(), dumping_drive()):
        batches = held_back(drive.fixes, start, end, 300)
        state, events = feed(batches)
        restarted_state, restarted = feed(batches, restart=True)
        assert restarted == events
        assert restarted_state.to_dict() == state.to_dict()
        assert any(e.late for e in events)


def test_worker_asks_for_the_stored_window_only_where_a_straggler_comes() -> None:
    d, start, end = deviation_drive()
    uploads = held_back(d.fixes, start, end, 300)
    late_at = next(i for i, b in enumerate(uploads) if len(b) > 1)
    runner = ShardRunner(0, 1)

    def parsed(batches: Batches) -> Parsed:
        return [
            (f"{i}-0", {VEHICLE: [(to_us(f.fix_time), to_us(f.received_at), f) for f in b]})
            for i, b in enumerate(batches)
        ]

    assert runner.window_wanted(parsed(uploads[:late_at])) == {}  # in order: nothing to read
    state, _ = feed(uploads[:late_at])
    runner.states[VEHICLE] = state
    assert runner.window_wanted(parsed(uploads[late_at + 1 :])) == {}
    assert state.last is not None and state.snapshots
    wanted = runner.window_wanted(parsed(uploads[late_at : late_at + 2]))
    assert wanted == {VEHICLE: (state.snapshots[0][0], state.last.t_us)}
    # Out of order inside one read, before any state: from the read's first fix of the truck.
    fresh = ShardRunner(0, 1)
    swapped = parsed([uploads[1], uploads[0]])
    low = to_us(uploads[1][0].fix_time) - 1
    assert fresh.window_wanted(swapped) == {VEHICLE: (low, to_us(uploads[1][0].fix_time))}


def held_back_drive() -> tuple[Drive, datetime, datetime]:
    d = load_at_site().to(2000, 0, 40)
    start = d.t
    d.to(6500, 0, 40)  # 405 s of driving
    end = d.t
    return haul_to_yard(d.to(8000, 0, 40)), start, end


IMMEDIATE_OFFLINE = with_rules(offline_confirm_s=0.0)


def test_late_batch_raises_no_live_offline_alarm() -> None:
    """A loaded truck holds back 6 min of fixes and uploads them a minute after its live
    fixes resume: the silence its reappearance reveals waits ``offline_confirm_s`` (the truck
    is "suspected" meanwhile), the late fixes fill it, and no incident is ever raised; without
    them (stragglers lost) it is reported once the wait is over."""
    d, start, end = held_back_drive()
    batches = held_back(d.fixes, start, end, 60)
    for restart in (False, True):
        first = next(i for i, b in enumerate(batches) if len(b) > 1)
        state, events = feed(batches[:first], restart=restart)
        assert state.offline_pending and opened(events, "terminal_offline") == []
        assert vehicle_state(state, CONTEXT) == "suspected"
        state, events = feed(batches, restart=restart)
        assert opened(events, "terminal_offline") == []
        assert not state.offline_pending
    _, skipped = feed(batches, rewind=False)
    (silence,) = opened(skipped, "terminal_offline")
    assert not silence.late
    wait_s = (silence.time - silence.incident.started_at).total_seconds()
    assert 600 <= wait_s - 405 <= 660  # reported once nothing filled it for 10 min
    _, immediate = feed(batches, IMMEDIATE_OFFLINE, rewind=False)
    assert opened(immediate, "terminal_offline")[0].time < silence.time


def test_late_fixes_that_fill_a_silence_retract_its_closed_incident() -> None:
    """With the silence reported at once (``offline_confirm_s`` 0): its reappearance raises
    (and closes) it; when the held-back fixes arrive they fill it, and the incident is
    retracted, once, late, also through checkpoints; a straggler that does not fill it
    retracts nothing."""
    d, start, end = held_back_drive()
    batches = held_back(d.fixes, start, end, 60)
    _, skipped = feed(batches, IMMEDIATE_OFFLINE, rewind=False)
    silences = opened(skipped, "terminal_offline")
    assert len(silences) == 1 and not silences[0].late
    for restart in (False, True):
        _, events = feed(batches, IMMEDIATE_OFFLINE, restart=restart)
        assert opened(events, "terminal_offline") == silences
        retracted = [e for e in events if isinstance(e, IncidentRetracted)]
        assert [(r.incident_id, r.late) for r in retracted] == [
            (silences[0].incident.incident_id, True)
        ]
    # The first 330 s never delivered, the rest late: still a silence, nothing retracted.
    lost_until = start + timedelta(seconds=330)
    partial = [f for f in d.fixes if not start <= f.fix_time < lost_until]
    batches = held_back(partial, lost_until, end, 60)
    for context in (IMMEDIATE_OFFLINE, CONTEXT):
        _, events = feed(batches, context)
        assert len(opened(events, "terminal_offline")) == 1
        assert not any(isinstance(e, IncidentRetracted) for e in events)


def test_a_terminal_that_held_fixes_back_gets_a_longer_clock() -> None:
    """Once a terminal has delivered a held-back run, a silence of its is suspected at 5 min
    and reported by the clock only after ``offline_confirm_s`` more (late fixes had the time
    to fill it); a terminal never seen holding back is reported at 5 min + the upload grace."""
    d, start, end = held_back_drive()
    last = d.fixes[-1].fix_time
    for batches, wait_s in ((held_back(d.fixes, start, end, 60), 960), (live(d.fixes), 360)):
        state, _ = feed(batches)
        state.trip.phase = "hauling"  # loaded again for the silence: a new load
        _, early = tick(state, CONTEXT, last + timedelta(seconds=wait_s - 10))
        assert opened(early, "terminal_offline") == []
        assert vehicle_state(state, CONTEXT) == "suspected"
        _, events = tick(state, CONTEXT, last + timedelta(seconds=wait_s + 1))
        assert len(opened(events, "terminal_offline")) == 1
