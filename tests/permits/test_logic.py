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
