"""Rule cases found by scoring every incident type on the labelled haul days (issue 18, item 5):
a zone "crossed" by the straight line over a long silence, a trip whose road a terminal cut
at the gate hid, a cover open in stop-and-go traffic."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from trips_world import CONTEXT, Drive, haul_to_yard, incidents, load_at_site, run, with_rules

from tracker.trips.core import Event, IncidentOpened, Sensors, TripCompleted, TripStarted, ZoneRule

ZONE = replace(CONTEXT, zones={"Z1": ZoneRule("Z1")})
COVER = replace(CONTEXT, sensors=Sensors(has_cover=True))


def test_zone_crossed_by_a_short_gap_opens() -> None:
    d = load_at_site().to(2900, 0, 40)
    d.t += timedelta(seconds=45)
    d.x = 3400
    _, events = run(haul_to_yard(d.emit(40)).fixes, ZONE)
    assert incidents(events) == [("open", "no_go_zone"), ("close", "no_go_zone")]


def test_zone_crossed_only_by_the_line_over_a_long_silence_is_no_evidence() -> None:
    """Ten minutes without a fix: the straight line from the last fix to the next crosses
    the zone, the roads the truck took need not (the silence is the offline rule's)."""
    d = load_at_site().to(2900, 0, 40).gap(600, 6000, 0)
    _, events = run(haul_to_yard(d).fixes, ZONE)
    assert ("open", "no_go_zone") not in incidents(events)
    assert ("open", "terminal_offline") in incidents(events)


def trips(events: list[object]) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for e in events:
        if isinstance(e, TripStarted):
            out.append(("started", e.origin_id))
        elif isinstance(e, TripCompleted):
            out.append((e.outcome, e.yard_id))
    return out


def test_silent_from_the_gate_and_seen_once_in_the_yard() -> None:
    """Cut as it leaves the site, one fix in the yard, then out of it: the site was left
    (a fix in a yard says so) and the yard visited: the trip completes there, instead of
    starting only as the truck drives away empty."""
    d = load_at_site().gap(900, 10000, 0).emit(0)
    d.t += timedelta(seconds=30)
    d.to(10400, 0, 30).to(10400, 300, 30).to(10400, 2000, 30)
    _, events = run(d.fixes)
    assert trips(events) == [("started", "S1"), ("yard", "Y1")]
    started = next(e for e in events if isinstance(e, TripStarted))
    assert started.time == d.fixes[10].fix_time  # the yard fix: the trip ends there


def test_back_loading_at_its_site_ends_the_unseen_trip() -> None:
    """The road to the yard and back hidden by a silence: the truck is next seen near its
    site and loads there again. That is a new load (the old one went unseen), not a loaded
    truck stopped at the site; the next haul is a trip of its own."""
    d = load_at_site().to(400, 0, 30).gap(1500, 300, 0).to(0, 0, 20)
    d = haul_to_yard(d.stop(300).to(2000, 0, 40))
    _, events = run(d.fixes)
    assert trips(events) == [
        ("started", "S1"),
        ("elsewhere", None),
        ("started", "S1"),
        ("yard", "Y1"),
    ]


def test_no_permit_dated_from_a_departure_hidden_by_a_silence() -> None:
    d = load_at_site()
    last_at_site = d.t - timedelta(seconds=d.interval_s)
    d.gap(600, 3000, 0)
    reappeared = d.t
    _, events = run(haul_to_yard(d).fixes, replace(CONTEXT, permits=()))
    opened = [e for e in events if isinstance(e, IncidentOpened)]
    no_permit = [e.incident for e in opened if e.incident.type == "no_permit"]
    assert len(no_permit) == 1
    assert last_at_site < no_permit[0].started_at < reappeared


def stop_and_go(d: Drive, queues: int) -> Drive:
    """Queues of 60 s (two stopped fixes) with one moving fix between them."""
    for _ in range(queues):
        d.stop(60).to(d.x + 120, 0, 15)
    return d


def test_cover_open_in_stop_and_go_traffic() -> None:
    d = load_at_site().to(2000, 0, 40).set(cover_closed=False)
    d = haul_to_yard(stop_and_go(d, 4).set(cover_closed=True))
    _, events = run(d.fixes, COVER)
    assert incidents(events) == [("open", "uncovered"), ("close", "uncovered")]


def test_cover_open_only_while_parked_is_quiet() -> None:
    d = load_at_site().to(2000, 0, 40).stop(30).set(cover_closed=False).stop(120)
    _, events = run(haul_to_yard(d.set(cover_closed=True)).fixes, COVER)
    assert incidents(events) == []


def test_speeding_timed_from_the_crossing_of_the_limit() -> None:
    """Two fixes over the limit 27 s apart, after one under it: over for about 35 s once the
    acceleration between the fixes is counted (the first fix over alone makes 27 s)."""
    d = load_at_site().to(2000, 0, 40)
    under_at = d.t
    for speed_kmh, step_m in ((26, 200), (60, 450), (60, 330), (44, 330)):
        d.emit(speed_kmh)
        d.t += timedelta(seconds=27)
        d.x += step_m
    _, events = run(haul_to_yard(d).fixes, with_rules(speed_limit_kmh=50.0))
    opened = [e.incident for e in events if isinstance(e, IncidentOpened)]
    assert [i.type for i in opened] == ["speeding"]
    # (50 - 26) / (60 - 26) of the 27 s from the fix under the limit to the first one over
    crossed_s = (opened[0].started_at - under_at).total_seconds()
    assert crossed_s == pytest.approx(27 * 24 / 34, abs=1e-3)


def test_one_fix_over_the_limit_is_not_speeding() -> None:
    d = load_at_site().to(2000, 0, 40)
    for speed_kmh, step_m in ((26, 200), (70, 450), (44, 330)):
        d.emit(speed_kmh)
        d.t += timedelta(seconds=27)
        d.x += step_m
    _, events = run(haul_to_yard(d).fixes, with_rules(speed_limit_kmh=50.0))
    assert incidents(events) == []


BLACKLISTED = replace(CONTEXT, blacklisted=True)


def listed(events: list[Event]) -> list[str]:
    return [kind for kind, type_ in incidents(events) if type_ == "blacklisted_vehicle"]


def test_blacklisted_in_a_creeping_queue_is_one_episode() -> None:
    """A queue that creeps 100 m between fixes that all read 0 km/h, for 20 minutes: still
    moving, one episode; then parked for 15 minutes, closed."""
    d = load_at_site().to(2000, 0, 40)
    for _ in range(10):
        d.stop(120)
        d.x += 100
    d.to(d.x + 1000, 0, 40).stop(900)
    _, events = run(d.fixes, BLACKLISTED)
    assert listed(events) == ["open", "close"]


def test_blacklisted_parked_ten_minutes_closes() -> None:
    d = load_at_site().to(2000, 0, 40).stop(660).to(4000, 0, 40)
    _, events = run(d.fixes, BLACKLISTED)
    assert listed(events) == ["open", "close", "open"]


def test_error_burst_while_standing_is_no_deviation() -> None:
    """Stopped at a light on the corridor for 3 min, the fixes 70 m off it (an urban-canyon
    error burst): a truck reporting 0 km/h has not left its route."""
    d = load_at_site().to(2000, 0, 40).stop(30)
    for _ in range(6):
        d.emit(0.0, d.x, 70)
        d.t += timedelta(seconds=30)
    d.stop(30)
    _, events = run(haul_to_yard(d).fixes)
    assert incidents(events) == []


def test_detour_then_parked_off_the_route_is_a_deviation() -> None:
    d = load_at_site().to(2000, 0, 40).to(2000, 150, 20).stop(170).to(2000, 0, 20)
    _, events = run(haul_to_yard(d).fixes)
    assert incidents(events) == [("open", "route_deviation"), ("close", "route_deviation")]
