"""Rule tables: a timed fix sequence (built in metres) and a context → expected incidents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from trips_world import (
    CONTEXT,
    PERMIT,
    WORLD,
    Drive,
    Rect,
    haul_to_yard,
    incidents,
    load_at_site,
    run,
    with_rules,
)

from tracker.trips.core import IncidentOpened, Sensors, TimeWindow, VehicleContext, ZoneRule
from tracker.wire import Fix

Middle = Callable[[Drive], object]


def trip_with(middle: Middle, drive: Drive | None = None) -> list[Fix]:
    """Load at S1, drive 2 km along the corridor, do ``middle``, then haul on to Y1."""
    d = load_at_site(drive).to(2000, 0, 40)
    middle(d)
    return haul_to_yard(d).fixes


def ctx(**changes: object) -> VehicleContext:
    return replace(CONTEXT, **changes)  # type: ignore[arg-type]


def permit_ctx(**changes: object) -> VehicleContext:
    return ctx(permits=(replace(PERMIT, **changes),))  # type: ignore[arg-type]


def noisy_stop(d: Drive) -> None:
    d.noise_m = 15.0
    d.stop(120).emit(0, d.x + 60, d.y)  # one 60 m outlier, not flagged
    d.t += timedelta(seconds=30)
    d.stop(150)
    d.noise_m = 0.0


def edge_flapping(d: Drive, y_in: float, y_out: float, n: int = 24) -> None:
    for i in range(n):
        d.x += 333
        d.y = y_out if i % 2 == 0 else y_in
        d.emit(40)
        d.t += timedelta(seconds=30)
    d.to(d.x, 0, 40)


def jump_across_zone(d: Drive) -> None:
    d.to(2900, 0, 40)
    d.t += timedelta(seconds=45)
    d.x = 3400
    d.emit(40)
    d.t += timedelta(seconds=30)


def pulse(**sensors: object) -> Middle:
    """Set sensors for one fix at the current point, then reset them."""

    def middle(d: Drive) -> None:
        d.set(**sensors).stop(30)
        d.set(**{k: None if k != "alarm_bits" else 0 for k in sensors})

    return middle


NONE: list[tuple[str, str]] = []
DUMPING = [("open", "dumping"), ("close", "dumping")]
DEVIATION = [("open", "route_deviation"), ("close", "route_deviation")]
OFFLINE = [("open", "terminal_offline"), ("close", "terminal_offline")]
TAMPER = [("open", "terminal_tampering"), ("close", "terminal_tampering")]
LIFT = ctx(sensors=Sensors(has_lift=True))
ZONE = ctx(zones={"Z1": ZoneRule("Z1")})

CASES = [
    ("normal trip", lambda d: None, CONTEXT, NONE),
    ("traffic light 90 s", lambda d: d.stop(90), CONTEXT, NONE),
    ("jam 2.5 min creeping", lambda d: d.stop(150, speed_kmh=2), CONTEXT, NONE),
    ("stop-and-go jam", lambda d: d.stop(120).to(2060, 0, 10).stop(120), CONTEXT, NONE),
    ("dumping stop 4 min", lambda d: d.stop(240), CONTEXT, DUMPING),
    ("dumping stop 20 min", lambda d: d.stop(1200), CONTEXT, DUMPING),
    ("dumping with noise and an outlier", noisy_stop, CONTEXT, DUMPING),
    ("lift outside a yard", pulse(body_lifted=True), LIFT, DUMPING),
    ("lift ignored without the sensor", pulse(body_lifted=True), CONTEXT, NONE),
    ("tunnel 4 min, plausible", lambda d: d.gap(240, 4600, 0), CONTEXT, NONE),
    ("slow then tunnel, far", lambda d: d.stop(90).gap(200, 3800, 0), CONTEXT, NONE),
    ("tunnel 6 min while loaded", lambda d: d.gap(360, 5000, 0), CONTEXT, OFFLINE),
    ("implausible reappearance", lambda d: d.gap(120, 8000, 0), CONTEXT, TAMPER),
    ("power cut alarm", pulse(alarm_bits=1 << 8), CONTEXT, TAMPER),
    ("antenna cut alarm", pulse(alarm_bits=1 << 5), CONTEXT, TAMPER),
    ("other alarm bit", pulse(alarm_bits=1 << 1), CONTEXT, NONE),
    (
        "deviation 3 min",
        lambda d: d.to(2000, 300, 40).to(3500, 300, 40).to(3500, 0, 40),
        CONTEXT,
        DEVIATION,
    ),
    (
        "deviation 45 s",
        lambda d: d.to(2000, 150, 40).to(2300, 150, 40).to(2300, 0, 40),
        CONTEXT,
        NONE,
    ),
    (
        "detour inside the corridor",
        lambda d: d.to(2000, 40, 20).to(4000, 40, 40).to(4000, 0, 20),
        CONTEXT,
        NONE,
    ),
    ("flapping on the corridor edge", lambda d: edge_flapping(d, 44, 57), CONTEXT, NONE),
    (
        "deviation 16 min escalates",
        lambda d: d.to(2000, 500, 20).to(7000, 500, 20).to(7000, 0, 20),
        CONTEXT,
        [
            ("open", "route_deviation"),
            ("update", "route_deviation"),
            ("update", "route_deviation"),
            ("close", "route_deviation"),
        ],
    ),
    (
        "wrong yard by dwell",
        lambda d: None,
        permit_ctx(yard_ids=frozenset({"Y2"})),
        [
            ("open", "wrong_yard"),
            ("close", "wrong_yard"),
        ],
    ),
    ("no permit", lambda d: None, ctx(permits=()), [("open", "no_permit"), ("close", "no_permit")]),
    (
        "permit expired",
        lambda d: None,
        permit_ctx(valid_until=datetime(2026, 5, 1, tzinfo=UTC)),
        [("open", "no_permit"), ("close", "no_permit")],
    ),
    (
        "permit for another site",
        lambda d: None,
        permit_ctx(origin_ids=frozenset({"S9"})),
        [("open", "no_permit"), ("close", "no_permit")],
    ),
    (
        "outside hours (window 20:00-23:30)",
        lambda d: None,
        permit_ctx(windows=(TimeWindow(1200, 1410),)),
        [("open", "outside_hours"), ("close", "outside_hours")],
    ),
    ("inside hours", lambda d: None, permit_ctx(windows=(TimeWindow(360, 1200),)), NONE),
    (
        "night window wrapping midnight",
        lambda d: None,
        permit_ctx(windows=(TimeWindow(1320, 360),)),
        [("open", "outside_hours"), ("close", "outside_hours")],
    ),
    ("no-go zone entry", lambda d: None, ZONE, [("open", "no_go_zone"), ("close", "no_go_zone")]),
    (
        "no-go zone inactive",
        lambda d: None,
        ctx(zones={"Z1": ZoneRule("Z1", active_windows=(TimeWindow(420, 540),))}),
        NONE,
    ),
    (
        "no-go zone crossed between fixes",
        jump_across_zone,
        ZONE,
        [("open", "no_go_zone"), ("close", "no_go_zone")],
    ),
    (
        "speeding 2 min",
        lambda d: d.to(4000, 0, 75),
        with_rules(speed_limit_kmh=60.0),
        [("open", "speeding"), ("close", "speeding")],
    ),
    (
        "over the limit for one fix",
        lambda d: d.to(2300, 0, 75),
        with_rules(speed_limit_kmh=60.0),
        NONE,
    ),
    (
        "zone speed limit",
        lambda d: d.to(2900, 0, 40).to(3300, 0, 5).to(3500, 0, 40),
        ctx(zones={"Z1": ZoneRule("Z1", no_go=False, speed_limit_kmh=4.0)}),
        [("open", "speeding"), ("close", "speeding")],
    ),
    (
        "uncovered while hauling",
        lambda d: d.set(cover_closed=False).to(4000, 0, 40).set(cover_closed=True),
        ctx(sensors=Sensors(has_cover=True)),
        [("open", "uncovered"), ("close", "uncovered")],
    ),
    (
        "cover open only while stopped",
        lambda d: d.set(cover_closed=False).stop(90).set(cover_closed=True),
        ctx(sensors=Sensors(has_cover=True)),
        NONE,
    ),
    (
        "blacklisted vehicle moving",
        lambda d: None,
        ctx(blacklisted=True),
        [("open", "blacklisted_vehicle")],
    ),
    (
        "loaded trip overdue",
        lambda d: None,
        with_rules(haul_overdue_s=600.0),
        [("open", "dumping"), ("close", "dumping")],
    ),
]


@pytest.mark.parametrize(
    ("middle", "context", "expected"),
    [pytest.param(m, c, e, id=name) for name, m, c, e in CASES],
)
def test_rule_table(
    middle: Middle, context: VehicleContext, expected: list[tuple[str, str]]
) -> None:
    _, events = run(trip_with(middle), context)
    assert incidents(events) == expected


def test_blacklisted_parked_is_quiet() -> None:
    _, events = run(Drive(x=500, y=500).stop(1800).fixes, ctx(blacklisted=True))
    assert incidents(events) == []


def test_dumping_opens_within_a_fix_of_three_minutes() -> None:
    d = load_at_site().to(2000, 0, 40)
    stop_at = d.t
    _, events = run(haul_to_yard(d.stop(600)).fixes)
    opened = [e for e in events if isinstance(e, IncidentOpened)]
    assert len(opened) == 1
    assert opened[0].incident.started_at == stop_at
    evidence = opened[0].incident.evidence
    assert evidence[0].time == stop_at and len(evidence) == 7  # the stop's fixes, 30 s apart
    assert len({p.t_us for p in evidence}) == len(evidence)
    assert timedelta(minutes=3) <= opened[0].time - stop_at <= timedelta(minutes=3, seconds=30)
    assert opened[0].incident.trip_id is not None
    assert opened[0].incident.permit_id == "P1"


def test_lift_opens_dumping_at_the_lift_fix() -> None:
    d = load_at_site().to(2000, 0, 40)
    lift_at = d.t
    _, events = run(
        haul_to_yard(d.set(body_lifted=True).stop(30).set(body_lifted=None)).fixes, LIFT
    )
    opened = [e for e in events if isinstance(e, IncidentOpened)]
    assert [e.time for e in opened] == [lift_at]
    assert opened[0].incident.detail["lift"] is True


def test_deviation_timed_from_the_corridor_exit() -> None:
    d = load_at_site().to(2000, 0, 40).to(2000, 300, 40).to(3500, 300, 40).to(3500, 0, 40)
    _, events = run(haul_to_yard(d).fixes)
    opened = [e for e in events if isinstance(e, IncidentOpened)]
    view = opened[0].incident
    # The exit (y = 50 m) lies between the fix at y = 0 and the next one.
    assert view.started_at < opened[0].time - timedelta(seconds=60)
    assert view.detail["max_distance_m"] == pytest.approx(300, abs=1)
    assert all(p.distance_m is not None for p in view.evidence)


def test_flapping_on_a_no_go_zone_edge_is_one_episode() -> None:
    """A zone whose edge runs along the road 20 m off the centre line; noise puts every
    other fix inside: one episode, not one per entry."""
    world = replace(WORLD, zones={"Z2": Rect(2500, 20, 9000, 400)})
    fixes = trip_with(lambda d: edge_flapping(d, 25, 15, n=18))
    _, events = run(fixes, ctx(zones={"Z2": ZoneRule("Z2")}), world)
    assert incidents(events) == [("open", "no_go_zone"), ("close", "no_go_zone")]
