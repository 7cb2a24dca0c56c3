"""Pure validation and filter rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.ingest.filters import apply_filters, haversine_m
from tracker.ingest.http_body import fix_schema, parse_batch, validate_fix
from tracker.ingest.validate import LIMITS
from tracker.settings import FilterSettings
from tracker.times import parse_time
from tracker.wire import Fix, FixFlag

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


T = "2026-11-23T02:00:00Z"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"time": T, "lon": 7.4}, "lat"),
        ({"time": T, "lon": "7.4", "lat": 43.7}, "lon"),
        ({"time": T, "lon": 7.4, "lat": 91}, "lat"),
        ({"time": T, "lon": 7.4, "lat": 43.7, "hdop": True}, "hdop"),
        ({"time": T, "lon": 7.4, "lat": 43.7, "hdop": 120.0}, "hdop"),
        ({"time": T, "lon": 7.4, "lat": 43.7, "valid": "yes"}, "valid"),
        ({"time": T, "lon": 7.4, "lat": 43.7, "speed_kmh": 400, "vehicle_id": 2}, "vehicle_id"),
        ({"time": "1999-12-31T23:59:59Z", "lon": 7.4, "lat": 43.7}, "time"),
        ({"time": None, "lon": 7.4, "lat": 43.7}, "time"),
    ],
)
def test_a_bad_essential_value_refuses_the_fix_naming_the_field(
    raw: dict[str, object], field: str
) -> None:
    out = validate_fix(raw, 1, 1, NOW).item
    assert isinstance(out, list)
    assert out[0]["field"] == field


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"time": T, "lon": 7.4, "lat": 43.7, "speed_kmh": 400.0}, "speed_kmh"),
        ({"time": T, "lon": 7.4, "lat": 43.7, "speed_kmh": -3}, "speed_kmh"),
        ({"time": T, "lon": 7.4, "lat": 43.7, "heading_deg": "north"}, "heading_deg"),
        ({"time": T, "lon": 7.4, "lat": 43.7, "satellites": 3.5}, "satellites"),
        ({"time": T, "lon": 7.4, "lat": 43.7, "altitude_m": 1e9}, "altitude_m"),
        ({"time": T, "lon": 7.4, "lat": 43.7, "alarm_bits": -1}, "alarm_bits"),
        ({"time": T, "lon": 7.4, "lat": 43.7, "loaded": "yes"}, "loaded"),
        ({"time": T, "lon": 7.4, "lat": 43.7, "extra": {"x": "y" * 5000}}, "extra"),
    ],
)
def test_a_bad_optional_value_is_dropped_and_named_the_fix_kept(
    raw: dict[str, object], field: str
) -> None:
    verdict = validate_fix(raw, 1, 1, NOW)
    assert isinstance(verdict.item, Fix)
    assert [d["field"] for d in verdict.dropped] == [field]
    assert getattr(verdict.item, field) == (0 if field == "alarm_bits" else None)
    assert (verdict.item.lon, verdict.item.lat) == (7.4, 43.7)


def test_the_request_schema_comes_from_the_rule_set() -> None:
    props = fix_schema()["properties"]
    for lim in LIMITS:
        assert (props[lim.field]["minimum"], props[lim.field]["maximum"]) == (lim.low, lim.high)
    assert props["altitude_m"]["maximum"] == 9000.0 and props["satellites"]["type"] == "integer"


def test_time_forms() -> None:
    assert parse_time("2026-11-23T11:00:00+08:00") == datetime(2026, 11, 23, 3, tzinfo=UTC)
    assert parse_time(1_795_000_000) == datetime.fromtimestamp(1_795_000_000, UTC)
    assert isinstance(parse_time(float("nan")), str)
    assert isinstance(parse_time(True), str)


def test_heading_360_is_north() -> None:
    out = validate_fix({"time": T, "lon": 1, "lat": 1, "heading_deg": 360}, 1, 1, NOW).item
    assert isinstance(out, Fix) and out.heading_deg == 0.0


def test_batch_forms() -> None:
    assert len(parse_batch(b'[{"a":1},{"b":2}]', "application/json", 10).fixes) == 2
    assert parse_batch(b'{"vehicle_id": 5, "fixes": [{}]}', "application/json", 10).vehicle_id == 5
    with pytest.raises(Exception, match="at most 1"):
        parse_batch(b"[{},{}]", "application/json", 1)


def _fix(t_s: int, lon: float, lat: float = 43.7, vid: int = 1) -> Fix:
    return Fix(vid, 1, NOW + timedelta(seconds=t_s), NOW + timedelta(seconds=600), lon, lat)


def test_jump_flags_only_the_outlier_and_compares_in_time_order() -> None:
    fixes = [_fix(20, 7.4020), _fix(0, 7.4000), _fix(10, 7.9), _fix(30, 7.4030)]
    refusals = apply_filters(fixes, FilterSettings(), {})
    assert refusals == [None] * 4
    assert [f.flags for f in fixes] == [0, 0, FixFlag.JUMP, 0]


def test_jump_against_last_known_fix_and_reject_mode() -> None:
    known = {1: _fix(-10, 7.0)}
    fixes = [_fix(0, 7.4)]
    refusals = apply_filters(fixes, FilterSettings(jump="reject"), known)
    assert refusals[0] is not None and "implied speed" in refusals[0].message


def test_filters_off_and_flag_modes() -> None:
    fixes = [_fix(0, 0.0, 0.0)]
    assert apply_filters(fixes, FilterSettings(zero="off"), {}) == [None]
    assert fixes[0].flags == 0
    assert apply_filters(fixes, FilterSettings(zero="flag"), {}) == [None]
    assert fixes[0].flags == FixFlag.ZERO


def test_haversine() -> None:
    assert haversine_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-3)


def test_platform_names_are_not_accepted_as_fix_fields() -> None:
    raw = {"time": T, "lon": 7.4, "lat": 43.7, "fix_time": T, "source": "jt808"}
    out = validate_fix(raw, 1, 1, NOW).item
    assert out == [{"field": "fix_time", "message": "unknown field(s): fix_time, source"}]
