"""Route deviation against GPS noise, jumps and gaps; place entry during a gap; held-back
uploads versus a real silence (fix tables → expected incidents)."""

from __future__ import annotations

from datetime import timedelta

from test_rules import trip_with
from trips_world import CONTEXT, WORLD, Drive, haul_to_yard, incidents, load_at_site, run

from tracker.trips.core import IncidentClosed, IncidentOpened, VehicleState, process, tick

DEVIATION = [("open", "route_deviation"), ("close", "route_deviation")]


def path(d: Drive, ys: list[float], step_m: float = 300.0) -> None:
    """One fix every 30 s, ``step_m`` further east each, at the given offsets from the road."""
    for y in ys:
        d.x += step_m
        d.y = y
        d.emit(36.0)
        d.t += timedelta(seconds=30)
    d.to(d.x + 300, 0, 36)


def test_a_fix_that_noise_pulls_back_inside_does_not_split_or_hide_a_detour() -> None:
    # 120 m out, one fix measured at 40 m (inside by 10 m), out again: one 2.5 min detour.
    fixes = trip_with(lambda d: path(d, [0, 120, 40, 130, 110, 0, 0]))
    assert incidents(run(fixes)[1]) == DEVIATION


def test_touching_the_route_and_leaving_again_is_one_episode() -> None:
    fixes = trip_with(lambda d: path(d, [0, 200, 200, 200, 0, 200, 200, 200, 0, 0, 0, 0]))
    events = run(fixes)[1]
    assert incidents(events) == DEVIATION


def test_a_clear_return_for_over_a_minute_ends_the_episode() -> None:
    fixes = trip_with(lambda d: path(d, [0, 200, 200, 200, 0, 0, 0, 0, 200, 200, 200, 0, 0, 0]))
    assert incidents(run(fixes)[1]) == DEVIATION * 2


def test_a_60_m_jump_off_the_road_is_not_a_deviation() -> None:
    fixes = trip_with(lambda d: path(d, [0, 0, 110, 0, 0, 115, 0, 0]))
    assert incidents(run(fixes)[1]) == []


def test_noise_at_the_edge_does_not_open() -> None:
    fixes = trip_with(lambda d: path(d, [0, 55, 58, 45, 60, 52, 47, 56, 0]))
    assert incidents(run(fixes)[1]) == []


def test_after_a_long_gap_the_start_is_not_placed_early() -> None:
    """A 4 min tunnel, then the truck is found 400 m off the route: the exit is placed no
    earlier than the middle of the gap, not at the first 10 % of it."""

    def middle(d: Drive) -> None:
        d.emit(36.0)
        gap_start = d.t
        d.gap(240, d.x + 1500, 400).emit(36.0)
        d.t += timedelta(seconds=30)
        d.to(d.x + 600, 400, 36).to(d.x + 600, 0, 36)
        middle.gap = (gap_start, gap_start + timedelta(seconds=240))  # type: ignore[attr-defined]

    fixes = trip_with(middle)
    opened = [e for e in run(fixes)[1] if isinstance(e, IncidentOpened)]
    assert [e.incident.type for e in opened] == ["route_deviation"]
    gap_start, gap_end = middle.gap  # type: ignore[attr-defined]
    assert opened[0].incident.started_at >= gap_start + (gap_end - gap_start) / 2


def test_a_site_entered_during_a_gap_counts_the_time_in_the_gap() -> None:
    """Last fix 180 s before the first one inside the site; 90 s of fixes inside: the dwell
    (90 s + half the gap) makes it loading, so the trip that follows is hauled loaded."""
    d = Drive(x=-1500, y=0).to(-800, 0, 36)
    d.gap(180, 0, 0).stop(90).to(2000, 0, 40)
    state, events = run(haul_to_yard(d).fixes)
    assert [type(e).__name__ for e in events if not hasattr(e, "incident")] == [
        "TripStarted",
        "TripCompleted",
    ]
    assert state.trip.phase == "idle"


def test_held_back_uploads_close_a_clock_opened_silence_as_delivery_only() -> None:
    d = load_at_site().to(3000, 0, 40)
    held_from = len(d.fixes)
    d.to(8000, 0, 40)
    fixes = haul_to_yard(d).fixes
    state = VehicleState(vehicle_id=fixes[0].vehicle_id)
    world_events = []
    afixes = WORLD.annotate_all(fixes)
    for afix in afixes[:held_from]:
        state, new = process(state, afix, CONTEXT)
    # Nothing arrives for 6 min: the worker's clock opens the silence...
    now = fixes[held_from - 1].fix_time + timedelta(minutes=6)
    state, new = tick(state, CONTEXT, now)
    assert [type(e) for e in new] == [IncidentOpened]
    # ...then the held-back fixes arrive, every 30 s: the terminal was recording all along.
    for afix in afixes[held_from:]:
        state, new = process(state, afix, CONTEXT)
        world_events += new
    closed = [e for e in world_events if isinstance(e, IncidentClosed)]
    assert [e.incident.type for e in closed] == ["terminal_offline"]
    assert closed[0].incident.detail["delivery_only"] is True


def test_a_fix_inside_the_noise_band_does_not_lengthen_a_short_excursion() -> None:
    # Out for two fixes (70 m from the centre line, 20 m beyond the edge), then one 10 m
    # inside the edge: beyond the edge from about 21 s to about 80 s, under a minute. The fix
    # in the band keeps the run alive but is not time out; timed to it, the run "lasted" 69 s.
    fixes = trip_with(lambda d: path(d, [0, 70, 70, 40, 0, 0, 0]))
    assert incidents(run(fixes)[1]) == []


def test_a_detour_timed_to_its_last_fix_out_still_opens() -> None:
    # The same with one more fix out: beyond the edge from about 21 s to 110 s.
    fixes = trip_with(lambda d: path(d, [0, 70, 70, 70, 40, 0, 0, 0]))
    assert incidents(run(fixes)[1]) == DEVIATION
