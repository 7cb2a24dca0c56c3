"""Terminal separation (车机分离): cut at the site gate, alarms, swapped terminals.

One incident type, ``terminal_tampering``, separate from a plain ``terminal_offline``."""

from __future__ import annotations

from datetime import timedelta

from trips_world import (
    CONTEXT,
    WORLD,
    Drive,
    haul_to_yard,
    incidents,
    load_at_site,
    run,
)

from tracker.trips.core import IncidentOpened, VehicleState, process, tick
from tracker.trips.core.vstate import vehicle_state
from tracker.wire import FixFlag

TAMPER = [("open", "terminal_tampering"), ("close", "terminal_tampering")]


def cut_at_gate(silence_s: float = 900.0) -> Drive:
    """Loaded at S1, one fix outside the gate, then nothing for ``silence_s``."""
    return load_at_site().to(340, 0, 40).gap(silence_s, 6000, 0)


def test_cut_at_the_site_exit_is_tampering() -> None:
    _, events = run(haul_to_yard(cut_at_gate()).fixes)
    assert incidents(events) == TAMPER
    opened = next(e for e in events if isinstance(e, IncidentOpened))
    assert opened.incident.detail["reason"] == "silent_departure"
    assert opened.incident.detail["site_id"] == "S1"


def test_cut_while_still_inside_the_gate_moving() -> None:
    d = load_at_site()
    d.emit(20, 90, 0)  # rolling out through the gate
    d.t += timedelta(seconds=30)
    _, events = run(haul_to_yard(d.gap(900, 6000, 0)).fixes)
    assert incidents(events) == TAMPER


def test_short_silence_at_the_gate_is_nothing() -> None:
    _, events = run(haul_to_yard(load_at_site().to(340, 0, 40).gap(120, 1600, 0)).fixes)
    assert incidents(events) == []


def test_parked_in_the_site_silent_is_nothing() -> None:
    d = load_at_site().gap(1800, 0, 0)
    _, events = run(haul_to_yard(d.stop(300).to(2000, 0, 40)).fixes)
    assert incidents(events) == []


def test_cut_at_the_gate_seen_by_the_clock() -> None:
    d = load_at_site().to(340, 0, 40)
    state = VehicleState(vehicle_id=CONTEXT.vehicle_id)
    for afix in WORLD.annotate_all(d.fixes):
        state, _ = process(state, afix, CONTEXT)
    assert state.trip.phase == "loading"  # never "hauling": one fix outside only
    last = d.fixes[-1].fix_time
    state, events = tick(state, CONTEXT, last + timedelta(seconds=330))
    assert events == []  # fixes of the last minute could still be on their way
    state, events = tick(state, CONTEXT, last + timedelta(seconds=361))
    assert [(e.incident.type, e.late) for e in events if isinstance(e, IncidentOpened)] == [
        ("terminal_tampering", False)
    ]
    assert vehicle_state(state, CONTEXT) == "offline"
    state, again = tick(state, CONTEXT, last + timedelta(seconds=600))
    assert again == []


def test_silence_while_hauling_stays_plain_offline() -> None:
    d = load_at_site().to(2000, 0, 40).gap(400, 5000, 0)
    _, events = run(haul_to_yard(d).fixes)
    assert incidents(events) == [("open", "terminal_offline"), ("close", "terminal_offline")]


def swapped(jumps: int, every: int = 2, step_m: float = 333) -> Drive:
    """Hauling; then every ``every``-th fix comes from another truck 5 km north (the filter
    flagged each as a jump), ``jumps`` of them; then the haul goes on."""
    d = load_at_site().to(2000, 0, 40)
    n = 0
    while n < jumps:
        for _ in range(every - 1):
            d.x += step_m
            d.emit(step_m * 3.6 / 30)
            d.t += timedelta(seconds=30)
        d.emit(40, d.x, 5000)
        d.fixes[-1].flags = int(FixFlag.JUMP)
        d.t += timedelta(seconds=30)
        n += 1
    return haul_to_yard(d)


def test_reports_jumping_between_two_trucks_is_tampering() -> None:
    _, events = run(swapped(4).fixes)
    assert incidents(events) == TAMPER
    opened = next(e for e in events if isinstance(e, IncidentOpened))
    assert opened.incident.detail["reason"] == "swap"
    assert len(opened.incident.evidence) == 3  # the jumped fixes are the evidence
    assert opened.incident.detail["max_jump_m"] > 4000


def test_terminal_moved_to_another_truck_is_tampering() -> None:
    d = load_at_site().to(2000, 0, 40)
    d.y = 5000
    for _ in range(6):  # from now on, only the other truck's fixes
        d.x += 333
        d.emit(40)
        d.fixes[-1].flags = int(FixFlag.JUMP)
        d.t += timedelta(seconds=30)
    _, events = run(d.fixes)
    assert incidents(events) == [("open", "terminal_tampering")]


def test_two_stray_jumps_are_noise() -> None:
    _, events = run(swapped(2, every=6).fixes)
    assert incidents(events) == []


def test_jumps_far_apart_are_noise() -> None:
    # One jump every 6 min: never 3 within 10 min.
    _, events = run(swapped(3, every=12, step_m=150).fixes)
    assert incidents(events) == []


def test_a_loaded_silence_is_suspected_at_5_min_and_offline_after_the_upload_grace() -> None:
    d = load_at_site().to(2000, 0, 40)
    state = VehicleState(vehicle_id=CONTEXT.vehicle_id)
    for afix in WORLD.annotate_all(d.fixes):
        state, _ = process(state, afix, CONTEXT)
    last = d.fixes[-1].fix_time
    state, events = tick(state, CONTEXT, last + timedelta(seconds=290))
    assert events == [] and vehicle_state(state, CONTEXT) == "hauling"
    state, events = tick(state, CONTEXT, last + timedelta(seconds=300))
    assert events == [] and vehicle_state(state, CONTEXT) == "suspected"
    state, events = tick(state, CONTEXT, last + timedelta(seconds=361))
    assert [e.incident.type for e in events if isinstance(e, IncidentOpened)] == [
        "terminal_offline"
    ]
    assert vehicle_state(state, CONTEXT) == "offline"


def test_cut_just_after_the_gate_while_hauling_is_tampering() -> None:
    """Two fixes out of the site make the trip "hauling"; a silence that starts within
    ``tamper_exit_s`` of leaving is still a cut at the gate, not a plain offline. The exit
    lies half a report interval before the first fix outside, the silence's start half one
    after the last fix: with fixes every 20 s, out at 9 s, fixes out at 20 and 40 s, silent
    from about 50 s is a cut at the gate; fixes out until 80 s, silent from about 90 s, is
    plain offline."""
    d = load_at_site(Drive(interval_s=20)).to(600, 0, 40).gap(600, 6000, 0)
    _, events = run(haul_to_yard(d).fixes)
    assert incidents(events) == TAMPER
    d = load_at_site(Drive(interval_s=20)).to(1000, 0, 40).gap(600, 6000, 0)
    _, events = run(haul_to_yard(d).fixes)
    assert incidents(events) == [("open", "terminal_offline"), ("close", "terminal_offline")]
