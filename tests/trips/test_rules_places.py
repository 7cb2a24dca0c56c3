"""Rule tables for the holes: closed yards (full, opening hours), permit quotas, site active
dates, and outside-hours in stop-and-go traffic."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from trips_world import (
    CONTEXT,
    PERMIT,
    Drive,
    haul_to_yard,
    incidents,
    load_at_site,
    normal_trip,
    run,
)

from tracker.trips.core import IncidentOpened, SiteRule, TimeWindow, VehicleContext, YardRule

# The standard trip loads at S1 at 12:00 in the city (UTC+8) and tips at Y1 at about 12:20.
MAY_1 = datetime(2026, 4, 30, 16, 0, tzinfo=UTC)  # midnight, 1 May, in the city


def permit(**changes: object) -> VehicleContext:
    return replace(CONTEXT, permits=(replace(PERMIT, **changes),))  # type: ignore[arg-type]


def yard(rule: YardRule) -> VehicleContext:
    return replace(CONTEXT, yards={rule.yard_id: rule})


def site(rule: SiteRule) -> VehicleContext:
    return replace(CONTEXT, sites={rule.site_id: rule})


def pair(type_: str) -> list[tuple[str, str]]:
    return [("open", type_), ("close", type_)]


CASES = [
    ("full yard, own permit", yard(YardRule("Y1", full=True)), pair("closed_yard")),
    ("yard with room", yard(YardRule("Y1")), []),
    (
        "yard closed at noon (open 06:00-12:00)",
        yard(YardRule("Y1", opening_windows=(TimeWindow(360, 720),))),
        pair("closed_yard"),
    ),
    ("yard open 06:00-18:00", yard(YardRule("Y1", opening_windows=(TimeWindow(360, 1080),))), []),
    ("another yard is full", yard(YardRule("Y2", full=True)), []),
    ("quota used up", permit(quota_m3=30.0, hauled_m3=20.0), pair("quota_exceeded")),
    ("quota with room", permit(quota_m3=100.0, hauled_m3=20.0), []),
    ("quota exactly reached", permit(quota_m3=38.0, hauled_m3=20.0), []),
    (
        "quota used up by this very trip, replayed after its delivery",
        permit(quota_m3=30.0, hauled_m3=38.0, hauled_until=datetime(2026, 5, 4, 4, 6, tzinfo=UTC)),
        [],
    ),
    (
        "quota used up by the vehicle's trip before this one",
        permit(quota_m3=30.0, hauled_m3=20.0, hauled_until=datetime(2026, 5, 4, 3, tzinfo=UTC)),
        pair("quota_exceeded"),
    ),
    ("site closed since 1 May", site(SiteRule("S1", active_until=MAY_1)), pair("inactive_site")),
    (
        "site not yet active",
        site(SiteRule("S1", active_from=MAY_1 + timedelta(days=30))),
        pair("inactive_site"),
    ),
    ("site active since 1 May", site(SiteRule("S1", active_from=MAY_1)), []),
]


@pytest.mark.parametrize(
    ("context", "expected"), [pytest.param(c, e, id=name) for name, c, e in CASES]
)
def test_place_and_quota_rules(context: VehicleContext, expected: list[tuple[str, str]]) -> None:
    _, events = run(normal_trip().fixes, context)
    assert incidents(events) == expected


def test_closed_yard_evidence_names_the_yard_and_why() -> None:
    _, events = run(normal_trip().fixes, yard(YardRule("Y1", full=True)))
    opened = next(e for e in events if isinstance(e, IncidentOpened))
    assert opened.incident.detail == {"yard_id": "Y1", "reason": "full"}


def test_quota_evidence() -> None:
    _, events = run(normal_trip().fixes, permit(quota_m3=30.0, hauled_m3=20.0))
    opened = next(e for e in events if isinstance(e, IncidentOpened))
    assert opened.incident.detail["quota_m3"] == 30.0
    assert opened.incident.detail["hauled_m3"] == 20.0
    assert opened.incident.permit_id == "P1"


NIGHT_ONLY = permit(windows=(TimeWindow(1200, 1410),))  # 20:00-23:30: noon is outside


def stop_and_go(d: Drive, legs: int = 12) -> Drive:
    """Fixes every 60 s, every other one stopped in the queue."""
    for i in range(legs):
        if i % 2 == 0:
            d.x += 250
            d.emit(15)
        else:
            d.emit(0)
        d.t += timedelta(seconds=d.interval_s)
    return d


def test_outside_hours_in_stop_and_go_opens_within_90_s() -> None:
    d = load_at_site(Drive(interval_s=60))
    d.to(120, 0, 15)  # out of the gate
    stop_and_go(d)
    fixes = haul_to_yard(d).fixes
    _, events = run(fixes, NIGHT_ONLY)
    opened = [e for e in events if isinstance(e, IncidentOpened)]
    assert [e.incident.type for e in opened] == ["outside_hours"]
    # The condition holds from the first fix outside the site (the departure).
    departed = next(f.fix_time for f in fixes if f.lon > fixes[0].lon + 0.0009)
    assert opened[0].time - departed <= timedelta(seconds=90)


def test_stop_and_go_inside_hours_is_quiet() -> None:
    d = load_at_site(Drive(interval_s=60))
    d.to(120, 0, 15)
    _, events = run(haul_to_yard(stop_and_go(d)).fixes, permit(windows=(TimeWindow(360, 1200),)))
    assert incidents(events) == []


def test_parked_loaded_after_the_window_waits_for_movement() -> None:
    """Loaded and standing in the queue when the window ends: not yet moving outside hours."""
    d = load_at_site().to(2000, 0, 40)
    local = d.t + timedelta(hours=8)  # 12:08 in the city: the window ends at 12:09
    context = permit(windows=(TimeWindow(360, local.hour * 60 + local.minute + 1),))
    d.stop(150)  # 2.5 min in a queue (no dumping), across the window's end
    parked_until = d.t
    _, events = run(haul_to_yard(d).fixes, context)
    opened = [e for e in events if isinstance(e, IncidentOpened)]
    assert [e.incident.type for e in opened] == ["outside_hours"]
    assert opened[0].time >= parked_until
