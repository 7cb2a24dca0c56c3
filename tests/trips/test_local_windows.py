"""Permit windows and zone schedules are the city's wall-clock times with weekdays.

The weekday bug (issue 17): a Monday-Friday 07:00-09:00 zone was enforced on Saturday because
the engine dropped the weekdays. Windows past midnight belong to the day they start on; the
week wraps from Sunday to Monday.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from test_rules import ctx, permit_ctx, trip_with
from trips_world import Drive, incidents, run

from tracker.trips.core import TimeWindow, ZoneRule
from tracker.trips.core.models import in_windows, local_day_minute
from tracker.trips.core.view import (
    RegistryView,
    local_midnight_utc,
    permit_scope,
    schedule_of,
    windows_of,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS = frozenset({1, 2, 3, 4, 5})
NO_GO = [("open", "no_go_zone"), ("close", "no_go_zone")]
OUTSIDE = [("open", "outside_hours"), ("close", "outside_hours")]


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Shanghai in the week of Monday 2026-05-04 (day 4 ... 10)."""
    return datetime(2026, 5, day, hour, minute, tzinfo=SHANGHAI)


def zone(*windows: TimeWindow) -> object:
    return ctx(zones={"Z1": ZoneRule("Z1", active_windows=windows)})


@pytest.mark.parametrize(
    ("when", "window", "active"),
    [
        (local(8, 7, 30), TimeWindow(420, 540, WEEKDAYS), True),  # Friday
        (local(9, 7, 30), TimeWindow(420, 540, WEEKDAYS), False),  # Saturday: the bug
        (local(10, 8, 59), TimeWindow(420, 540, WEEKDAYS), False),  # Sunday
        (local(4, 9, 0), TimeWindow(420, 540, WEEKDAYS), False),  # the end is excluded
        # a Friday night window holds into Saturday morning, not on Friday morning
        (local(8, 23, 0), TimeWindow(1320, 300, frozenset({5})), True),
        (local(9, 3, 0), TimeWindow(1320, 300, frozenset({5})), True),
        (local(8, 3, 0), TimeWindow(1320, 300, frozenset({5})), False),
        (local(9, 23, 0), TimeWindow(1320, 300, frozenset({5})), False),
        # Sunday night into Monday: the week wraps
        (local(11, 2, 0), TimeWindow(1320, 300, frozenset({7})), True),  # Monday 11 May
        (local(10, 2, 0), TimeWindow(1320, 300, frozenset({7})), False),
        (local(4, 2, 0), TimeWindow(1320, 300, frozenset({1})), False),
        (local(4, 23, 0), TimeWindow(1320, 300, frozenset({1})), True),
    ],
)
def test_windows_are_local_with_weekdays(when: datetime, window: TimeWindow, active: bool) -> None:
    assert in_windows((window,), when.astimezone(UTC), SHANGHAI) is active


def test_local_time_is_the_zones_not_utc() -> None:
    # Saturday 07:30 in Shanghai is Friday 23:30 UTC
    t = local(9, 7, 30).astimezone(UTC)
    assert t.isoweekday() == 5 and local_day_minute(t, SHANGHAI) == (6, 450)
    assert local_day_minute(t, timezone(timedelta(hours=-5))) == (5, 1110)


def test_stored_schedule_keeps_its_weekdays() -> None:
    windows = windows_of([{"start": "07:00", "end": "09:00", "days": [1, 2, 3, 4, 5]}])
    assert windows == (TimeWindow(420, 540, WEEKDAYS),)
    daily = windows_of([{"start": "22:00", "end": "05:00"}])  # permits: every day
    assert daily[0].days == frozenset(range(1, 8))
    with pytest.raises(ValueError):
        windows_of([{"start": "07:00", "end": "09:00", "days": [0]}])
    # a stored schedule the engine cannot read: the zone holds always, the load goes on
    assert schedule_of([{"start": "07:00", "end": "09:00", "days": [8]}], "zone 1") == ()
    assert schedule_of([{"start": "7am", "end": "09:00"}], "zone 1") == ()
    assert schedule_of([{"start": "07:00", "end": "09:00"}], "zone 1") == (TimeWindow(420, 540),)


def test_permit_days_are_local_days() -> None:
    row = {
        "id": 1,
        "valid_from": datetime(2026, 5, 4).date(),
        "valid_to": datetime(2026, 5, 4).date(),
        "site_ids": [],
        "yard_ids": [],
        "corridors": {},
        "windows": [],
    }
    scope = permit_scope(row, SHANGHAI)
    assert scope.valid_from == datetime(2026, 5, 3, 16, 0, tzinfo=UTC)
    assert scope.valid_until == datetime(2026, 5, 4, 16, 0, tzinfo=UTC)
    assert local_midnight_utc(row["valid_from"], UTC) == datetime(2026, 5, 4, tzinfo=UTC)
    view = RegistryView(permits={7: (scope,)}, tz=SHANGHAI)
    assert view.context(7).tz is SHANGHAI


# -- through the engine: a haul whose corridor crosses zone Z1 a few minutes after loading ------
@pytest.mark.parametrize(
    ("start", "windows", "expected"),
    [
        ("Friday 07:00", (TimeWindow(420, 540, WEEKDAYS),), NO_GO),
        ("Saturday 07:00", (TimeWindow(420, 540, WEEKDAYS),), []),
        ("Sunday 07:00", (TimeWindow(420, 540, WEEKDAYS),), []),
        # 22:00-05:00 started on Sunday: holds early on Monday, not early on Sunday
        ("Monday 00:30", (TimeWindow(1320, 300, frozenset({7})),), NO_GO),
        ("Sunday 00:30", (TimeWindow(1320, 300, frozenset({7})),), []),
        ("Monday 00:30", (TimeWindow(1320, 300, frozenset({1})),), []),
    ],
)
def test_engine_enforces_zone_schedules_on_their_weekdays(
    start: str, windows: tuple[TimeWindow, ...], expected: list[tuple[str, str]]
) -> None:
    t0 = _start(start)
    _, events = run(trip_with(lambda d: None, Drive(t=t0)), zone(*windows))  # type: ignore[arg-type]
    assert incidents(events) == expected


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("Sunday 23:50", []),  # 22:00-05:00 runs over midnight and over Sunday -> Monday
        ("Monday 04:10", []),
        ("Monday 05:30", OUTSIDE),
        ("Monday 21:00", OUTSIDE),
    ],
)
def test_engine_night_permit_window_across_midnight(
    start: str, expected: list[tuple[str, str]]
) -> None:
    context = permit_ctx(windows=(TimeWindow(1320, 300),))
    _, events = run(trip_with(lambda d: None, Drive(t=_start(start))), context)
    assert incidents(events) == expected


def _start(text: str) -> datetime:
    day, hhmm = text.split()
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    hour, minute = (int(p) for p in hhmm.split(":"))
    return local(4 + days.index(day) if day != "Sunday" else 10, hour, minute).astimezone(UTC)
