"""Rule tables for cases the detection benchmark surfaced: a stop that began while loading at
the site, and a clock-seen silence while the terminal's last upload may still be on its way."""

from __future__ import annotations

from datetime import timedelta

from trips_world import CONTEXT, WORLD, Drive, haul_to_yard, incidents, run

from tracker.trips.core import IncidentOpened, VehicleState, process, tick


def test_waiting_at_the_gate_after_loading_is_not_dumping() -> None:
    # Loads at the site's east edge for 5 min, rolls out of the gate and waits 90 s at the
    # kerb, 45 m from where it loaded (one stop, by position and speed), then hauls.
    d = Drive(x=80, y=0).stop(300)
    d.x = 125
    d.stop(90, speed_kmh=2.0)
    _, events = run(haul_to_yard(d.to(2000, 0, 40)).fixes)
    assert incidents(events) == []


def test_a_stop_that_began_at_the_gate_counts_from_the_departure() -> None:
    # The same, but the truck stays 4 min at the kerb: 4 min after leaving, a dumping stop,
    # opened from the departure, not from the start of the loading.
    d = Drive(x=80, y=0).stop(300)
    loaded_until = d.t
    d.x = 125
    d.stop(240, speed_kmh=2.0)
    _, events = run(haul_to_yard(d.to(2000, 0, 40)).fixes)
    opened = [e for e in events if isinstance(e, IncidentOpened)]
    assert [e.incident.type for e in opened] == ["dumping"]
    assert opened[0].incident.started_at >= loaded_until


def _hauling_then_silent() -> tuple[VehicleState, Drive]:
    d = Drive().stop(300).to(3000, 0, 40)
    state = VehicleState(vehicle_id=CONTEXT.vehicle_id)
    for afix in WORLD.annotate_all(d.fixes):
        state, _ = process(state, afix, CONTEXT)
    return state, d


def test_the_clock_allows_for_the_upload_interval_before_calling_a_silence() -> None:
    state, d = _hauling_then_silent()
    last_fix = d.fixes[-1].fix_time
    # 5 min 30 s since the last fix received: fixes taken up to a minute ago may still be
    # buffered in the terminal, so "no fix for 5 min" is not established yet.
    state, early = tick(state, CONTEXT, last_fix + timedelta(seconds=330))
    assert early == []
    state, events = tick(state, CONTEXT, last_fix + timedelta(seconds=360))
    assert [(type(e), e.incident.type) for e in events] == [(IncidentOpened, "terminal_offline")]
    assert events[0].incident.started_at == last_fix


def test_a_slow_upload_after_a_clock_check_raises_nothing() -> None:
    # The clock looks at 5 min 10 s; the next upload brings fixes 30 s apart that never left
    # a 5 min hole: no incident at all.
    state, d = _hauling_then_silent()
    state, early = tick(state, CONTEXT, d.fixes[-1].fix_time + timedelta(seconds=310))
    assert early == []
    seen = len(d.fixes)
    d.to(8000, 0, 40)
    for afix in WORLD.annotate_all(d.fixes)[seen:]:
        state, new = process(state, afix, CONTEXT)
        assert incidents(new) == []
