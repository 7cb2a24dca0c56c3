"""Pure approval helpers: windows past midnight, zones in force, distances."""

from __future__ import annotations

from datetime import date

import pytest
import shapely

from tracker.permits import logic


@pytest.mark.parametrize(
    ("one", "other", "overlap"),
    [
        ([("22:00", "05:00")], [("04:00", "06:00")], True),
        ([("22:00", "05:00")], [("05:00", "22:00")], False),
        ([("08:00", "18:00")], [("23:00", "07:59")], False),
        ([("08:00", "18:00")], [("17:59", "18:30")], True),
        ([("23:30", "00:30")], [("00:00", "00:10")], True),
    ],
)
def test_windows_overlap(
    one: list[tuple[str, str]], other: list[tuple[str, str]], overlap: bool
) -> None:
    assert logic.windows_overlap(one, other) is overlap
    assert logic.windows_overlap(other, one) is overlap


def test_distance_to_an_area() -> None:
    area = shapely.box(7.41, 43.73, 7.412, 43.732)
    assert logic.distance_m((7.411, 43.731), area) == 0
    # 0.001 degrees of longitude at 43.73° N is about 80 m
    assert 75 < logic.distance_m((7.413, 43.731), area) < 85


def test_a_sound_permit_has_no_refusals_and_a_bare_one_many() -> None:
    bare = logic.PermitFacts(
        company_id=1,
        valid_from=date(2026, 3, 1),
        valid_to=date(2026, 2, 1),
        windows=[],
        quota_m3=10,
        today=date(2026, 1, 1),
    )
    codes = [r.code for r in logic.approval_refusals(bare)]
    assert codes == ["invalid_dates", "invalid_windows"]


def _zone(*schedule: tuple[str, str, list[int]]) -> logic.ZoneFact:
    windows = [{"start": s, "end": e, "days": d} for s, e, d in schedule]
    return logic.ZoneFact(id=1, name="School", geometry={}, schedule=windows)


# 2026-05-08 is a Friday, 2026-05-09 a Saturday, 2026-05-10 a Sunday, 2026-05-11 a Monday.
@pytest.mark.parametrize(
    ("zone", "windows", "valid", "in_force"),
    [
        # the weekday bug: a Monday-Friday morning ban does not hold on a weekend
        (_zone(("07:00", "09:00", [1, 2, 3, 4, 5])), [("07:00", "09:00")], (9, 10), False),
        (_zone(("07:00", "09:00", [1, 2, 3, 4, 5])), [("07:00", "09:00")], (8, 9), True),
        (_zone(("07:00", "09:00", [1, 2, 3, 4, 5])), [("09:00", "17:00")], (8, 8), False),
        # a week of validity meets every weekday
        (_zone(("07:00", "09:00", [3])), [("08:00", "08:30")], (9, 15), True),
        # night windows across midnight: a Friday night ban holds into Saturday morning
        (_zone(("22:00", "05:00", [5])), [("01:00", "04:00")], (9, 9), True),
        (_zone(("22:00", "05:00", [5])), [("01:00", "04:00")], (8, 8), False),
        # Sunday night into Monday morning (the week wraps), not Monday night's
        (_zone(("22:00", "05:00", [7])), [("00:00", "04:00")], (11, 11), True),
        (_zone(("22:00", "05:00", [1])), [("00:00", "04:00")], (11, 11), False),
        # a night permit window meets a Monday evening ban on its Monday
        (_zone(("21:00", "23:00", [1])), [("22:00", "05:00")], (11, 11), True),
        (_zone(("21:00", "23:00", [1])), [("22:00", "05:00")], (10, 10), False),
    ],
)
def test_zone_in_force_on_the_permits_weekdays(
    zone: logic.ZoneFact, windows: list[tuple[str, str]], valid: tuple[int, int], in_force: bool
) -> None:
    first, last = date(2026, 5, valid[0]), date(2026, 5, valid[1])
    assert logic.zone_in_force(zone, windows, first, last) is in_force


def test_zone_without_dates_is_in_force_any_day() -> None:
    zone = _zone(("07:00", "09:00", [6]))
    assert logic.zone_in_force(zone, [("08:00", "08:30")])
    assert not logic.zone_in_force(zone, [("10:00", "11:00")])
