"""The pure sighting rules: one table row per case (tracker.trips.core.sighting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.geo import offset
from tracker.trips.core.sighting import (
    Seen,
    SightingRules,
    TerminalFix,
    one_apart,
    plate_findings,
    terminal_findings,
)

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
LON, LAT = 108.32, 22.82
RULES = SightingRules()


def seen(confidence: float = 0.95, loaded: bool | None = None, muck_lanes: bool = True) -> Seen:
    return Seen(T0, LON, LAT, confidence, loaded, muck_lanes)


def fix_at(dt_s: float, east_m: float) -> TerminalFix:
    lon, lat = offset(LON, LAT, east_m, 0.0)
    return TerminalFix(T0 + timedelta(seconds=dt_s), lon, lat)


@pytest.mark.parametrize(
    ("case", "sighting", "registered", "permit_valid", "expected"),
    [
        ("unregistered plate on muck lanes", seen(), False, False, ["unregistered_vehicle"]),
        ("unregistered plate on mixed lanes", seen(muck_lanes=False), False, False, []),
        ("unregistered but a doubtful read", seen(confidence=0.5), False, False, []),
        ("registered, no permit, loaded", seen(loaded=True), True, False, ["no_permit"]),
        ("registered, no permit, load unknown", seen(), True, False, ["no_permit"]),
        ("registered, no permit, seen empty", seen(loaded=False), True, False, []),
        ("registered with a valid permit", seen(loaded=True), True, True, []),
    ],
)
def test_plate_rules(
    case: str, sighting: Seen, registered: bool, permit_valid: bool, expected: list[str]
) -> None:
    found = plate_findings(sighting, registered, permit_valid, RULES)
    assert [f.type for f in found] == expected, case


@pytest.mark.parametrize(
    ("case", "fixes", "kind"),
    [
        ("terminal silent around the sighting", [], "silent"),
        ("fixes only outside the window", [fix_at(-400, 0), fix_at(400, 0)], "silent"),
        ("terminal at the checkpoint", [fix_at(-20, 50), fix_at(10, 100)], None),
        ("terminal 1.5 km away at that time", [fix_at(5, 1500)], None),
        ("terminal 8 km away at that time", [fix_at(5, 8000)], "far"),
        ("8 km but 290 s apart: plausible at 100 km/h", [fix_at(290, 8000)], None),
        ("nearest in time decides", [fix_at(-250, 0), fix_at(3, 9000)], "far"),
    ],
)
def test_terminal_rules(case: str, fixes: list[TerminalFix], kind: str | None) -> None:
    found = terminal_findings(seen(), fixes, RULES)
    if kind is None:
        assert found == [], case
    else:
        assert [(f.type, f.reason, f.detail["kind"]) for f in found] == [
            ("terminal_tampering", "sighting_contradiction", kind)
        ], case


def test_a_plate_one_character_from_a_registered_one_is_a_misread() -> None:
    assert plate_findings(seen(), False, False, RULES, near_registered=True) == []
    assert one_apart("桂A12345", "桂A12B45") and not one_apart("桂A12345", "桂A1234")
    assert not one_apart("桂A12345", "桂A12345") and not one_apart("桂A12345", "桂B12B45")


def test_a_doubtful_read_never_accuses_the_terminal() -> None:
    assert terminal_findings(seen(confidence=0.3), [], RULES) == []
