"""The engine around the rules: trips, order and duplicates, lateness, checkpoints, ticks."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import timedelta

import pytest
from trips_world import (
    CONTEXT,
    WORLD,
    Drive,
    haul_to_yard,
    incidents,
    load_at_site,
    normal_trip,
    run,
    with_rules,
)

from tracker.trips.core import (
    Event,
    IncidentClosed,
    IncidentOpened,
    IncidentUpdated,
    Sensors,
    TripCompleted,
    TripStarted,
    VehicleEngine,
    VehicleState,
    prepare_batch,
    tick,
)
from tracker.wire import Fix, FixFlag, fix_from_row, stream_row


def trips(events: list[Event]) -> list[TripStarted | TripCompleted]:
    return [e for e in events if isinstance(e, TripStarted | TripCompleted)]


def test_gps_only_trip_is_a_manifest() -> None:
    _, events = run(normal_trip().fixes)
    started, completed = trips(events)
    assert isinstance(started, TripStarted) and isinstance(completed, TripCompleted)
    assert (completed.origin_id, completed.yard_id, completed.permit_id) == ("S1", "Y1", "P1")
    assert completed.trip_id == started.trip_id
    assert completed.volume_m3 == 18.0 and completed.volume_source == "rated"
    assert completed.outcome == "yard"
    assert completed.loading_at is not None and completed.departed_at is not None
    assert completed.arrived_at is not None
    assert completed.loading_at < completed.departed_at < completed.arrived_at < completed.time
    assert incidents(events) == []


def test_site_visit_shorter_than_the_dwell_is_no_trip() -> None:
    _, events = run(Drive().stop(60).to(2000, 0, 40).to(10400, 0, 40).fixes)
    assert trips(events) == []


SENSORS = replace(CONTEXT, sensors=Sensors(has_lift=True, has_load=True))


def test_load_sensor_starts_and_lift_ends_a_trip() -> None:
    d = Drive().stop(60).set(loaded=True).stop(60).to(2000, 0, 40).to(10000, 0, 40)
    d.set(body_lifted=True).stop(30).set(body_lifted=False, loaded=False).to(10400, 0, 30)
    d.to(10400, 500, 30)
    _, events = run(d.fixes, SENSORS)
    assert [type(e) for e in trips(events)] == [TripStarted, TripCompleted]
    assert incidents(events) == []


def test_load_sensor_empty_at_the_site_exit_is_no_trip() -> None:
    d = Drive().set(loaded=False).stop(300).to(2000, 0, 40).to(10400, 0, 40)
    _, events = run(d.fixes, SENSORS)
    assert trips(events) == []


def test_load_sensor_empty_outside_a_yard_ends_the_trip_elsewhere() -> None:
    d = Drive().set(loaded=True).stop(300).to(3000, 0, 40)
    d.set(body_lifted=True).stop(60).set(body_lifted=False, loaded=False).to(6000, 0, 40)
    _, events = run(d.fixes, SENSORS)
    completed = trips(events)[-1]
    assert isinstance(completed, TripCompleted) and completed.outcome == "elsewhere"
    assert incidents(events) == [("open", "dumping"), ("close", "dumping")]


def test_deviation_escalates_then_turns_severe() -> None:
    d = load_at_site().to(2000, 0, 40).to(2000, 500, 20).to(7000, 500, 20).to(7000, 0, 20)
    _, events = run(haul_to_yard(d).fixes)
    updates = [e for e in events if isinstance(e, IncidentUpdated)]
    assert [u.incident.severity for u in updates] == ["escalated", "severe"]
    opened = next(e for e in events if isinstance(e, IncidentOpened))
    assert updates[0].time - opened.incident.started_at >= timedelta(minutes=10)
    closed = next(e for e in events if isinstance(e, IncidentClosed))
    assert closed.incident.incident_id == opened.incident.incident_id


def dumping_day() -> list[Fix]:
    """Two trips: a dumping stop, a deviation and a tunnel silence on the first."""
    d = load_at_site().to(2000, 0, 40).stop(300).to(2500, 0, 40).to(2500, 400, 30)
    d.to(4000, 400, 30).to(4000, 0, 30).gap(400, 7000, 0)
    return haul_to_yard(haul_to_yard(d).to(0, 0, 40).stop(300).to(2000, 0, 40)).fixes


def test_late_batch_marks_events_late() -> None:
    fixes = dumping_day()
    _, live = run(fixes)
    late_fixes = [replace(f, received_at=f.fix_time + timedelta(hours=3)) for f in fixes]
    _, late = run(late_fixes)
    # The same incidents; live, the silence is reported only once late fixes had time to fill
    # it (offline_confirm_s), a late batch reports it at once (it is not alarmed).
    assert sorted(incidents(late)) == sorted(incidents(live)) != []
    assert all(not e.late for e in live)
    assert all(e.late for e in late)


def test_duplicates_and_out_of_order_fixes() -> None:
    fixes = dumping_day()
    _, clean = run(fixes)
    rng = random.Random(3)
    messy = fixes + [
        replace(f, received_at=f.received_at + timedelta(seconds=9)) for f in rng.sample(fixes, 40)
    ]
    rng.shuffle(messy)
    _, tidy = run(prepare_batch(messy, CONTEXT.rules))
    assert tidy == clean
    # Straight into the engine: stragglers are skipped, nothing is raised twice.
    state, raw = run(messy)
    assert state.fixes_skipped > 0
    opened = [e.incident.incident_id for e in raw if isinstance(e, IncidentOpened)]
    assert len(opened) == len(set(opened))


def test_flagged_jump_fixes_are_skipped() -> None:
    d = load_at_site().to(2000, 0, 40).stop(120)
    d.emit(0, d.x + 400, d.y)  # a jump the filter flagged
    d.fixes[-1].flags = int(FixFlag.JUMP)
    d.t += timedelta(seconds=30)
    fixes = haul_to_yard(d.stop(150)).fixes
    assert len(prepare_batch(fixes, CONTEXT.rules)) == len(fixes)  # kept for the swap watch
    no_swap = replace(CONTEXT.rules, swap_min_jumps=0)
    assert len(prepare_batch(fixes, no_swap)) == len(fixes) - 1
    state, events = run(fixes)
    assert state.fixes_skipped == 1
    assert incidents(events) == [("open", "dumping"), ("close", "dumping")]
    state, events = run(fixes, with_rules(skip_flags=0))
    assert incidents(events) == []  # the 400 m jump would have broken the stop


@pytest.mark.parametrize("split", [1, 10, 17, 33, 60, 95, 120])
def test_checkpoint_restore_equals_one_run(split: int) -> None:
    engine = VehicleEngine(replace(CONTEXT, sensors=Sensors(has_lift=True)))
    afixes = WORLD.annotate_all(dumping_day())
    assert split < len(afixes)
    _, whole = engine.process_many(engine.new_state(), afixes)
    state, first = engine.process_many(engine.new_state(), afixes[:split])
    restored = VehicleState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    _, rest = engine.process_many(restored, afixes[split:])
    assert first + rest == whole


def test_tick_opens_offline_during_a_silence() -> None:
    d = load_at_site().to(3000, 0, 40)
    silent_from = d.t - timedelta(seconds=30)
    engine = VehicleEngine(CONTEXT)
    state, _ = engine.process_many(engine.new_state(), WORLD.annotate_all(d.fixes))
    state, early = tick(state, CONTEXT, silent_from + timedelta(minutes=4))
    assert early == []
    state, events = engine.tick(state, silent_from + timedelta(minutes=6))
    opened = events[0]
    assert isinstance(opened, IncidentOpened) and len(events) == 1
    assert opened.incident.type == "terminal_offline"
    assert opened.incident.started_at == silent_from
    state, again = engine.tick(state, silent_from + timedelta(minutes=7))
    assert again == []
    seen = len(d.fixes)
    d.gap(420, 7000, 0).to(8000, 0, 40)
    afixes = WORLD.annotate_all(d.fixes)[seen:]
    state, after = engine.process_many(state, afixes)
    assert incidents(after) == [("close", "terminal_offline")]
    closed = after[0]
    assert isinstance(closed, IncidentClosed)
    assert closed.incident.incident_id == opened.incident.incident_id


def test_silence_while_empty_is_not_offline() -> None:
    _, events = run(
        Drive(x=500, y=500).to(2000, 500, 40).gap(900, 2500, 500).to(3000, 500, 40).fixes
    )
    assert incidents(events) == []


def test_evidence_is_capped_keeping_first_and_latest() -> None:
    d = load_at_site().to(2000, 0, 40).stop(3600)
    _, events = run(haul_to_yard(d).fixes, with_rules(evidence_max_points=20))
    closed = next(e for e in events if isinstance(e, IncidentClosed))
    evidence = closed.incident.evidence
    assert len(evidence) == 20
    assert evidence[0].t_us < evidence[10].t_us < evidence[-1].t_us
    assert closed.incident.detail["max_dwell_s"] >= 3500


def test_fix_from_stream_row() -> None:
    fix = normal_trip().fixes[3]
    fix.loaded, fix.alarm_bits, fix.flags = True, 256, 0
    back = fix_from_row(json.loads(json.dumps(stream_row(fix))))
    assert back.fix_time == fix.fix_time and back.received_at == fix.received_at
    assert (back.lon, back.lat, back.loaded, back.alarm_bits) == (fix.lon, fix.lat, True, 256)
