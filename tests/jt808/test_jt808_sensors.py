"""Per-model sensor mapping and the Fix fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.ingest.jt808 import (
    STANDARD,
    LoadState,
    LocationReport,
    SensorMapping,
    SignalSource,
    location_to_fix_fields,
    make_location,
    sensor_states,
)
from tracker.wire import Fix

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def report(
    status: int = 0b10, alarm: int = 0, extras: tuple[tuple[int, bytes], ...] = ()
) -> LocationReport:
    return make_location(
        lon=113.9, lat=22.5, fix_time=WHEN, status_bits=status, alarm_bits=alarm, extras=extras
    )


@pytest.mark.parametrize(
    ("bits", "state", "loaded"),
    [(0b00, LoadState.EMPTY, False), (0b01, LoadState.HALF, True),
     (0b10, LoadState.RESERVED, None), (0b11, LoadState.FULL, True)],
)  # fmt: skip
def test_standard_load_bits(bits: int, state: LoadState, loaded: bool | None) -> None:
    r = report(status=0b10 | bits << 8)
    assert r.load_state is state
    assert sensor_states(r, STANDARD) == (loaded, None, None)


def test_configured_model_mapping() -> None:
    mapping = SensorMapping.from_config(
        "ZT-example",
        {"loaded": "status:27", "body_lifted": "io:3", "cover_closed": "!item:0xE1:0"},
    )
    r = report(status=1 << 27, extras=((0x2A, b"\x00\x08"), (0xE1, b"\x00")))
    assert sensor_states(r, mapping) == (True, True, True)
    r = report(status=0, extras=((0x2A, b"\x00\x00"), (0xE1, b"\x01")))
    assert sensor_states(r, mapping) == (False, False, False)
    assert sensor_states(report(), mapping) == (False, None, None)  # items absent


@pytest.mark.parametrize("spec", ["bogus:1", "status", "item:0xE1", "status:x"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        SignalSource.parse(spec)


def test_unknown_signal_name() -> None:
    with pytest.raises(ValueError):
        SensorMapping.from_config("m", {"lifted": "status:1"})


def test_alarm_source_and_disabled_load() -> None:
    mapping = SensorMapping.from_config("m", {"loaded": None, "body_lifted": "alarm:20"})
    assert sensor_states(report(alarm=1 << 20), mapping) == (None, True, None)


def test_fix_fields_build_a_fix() -> None:
    r = report(status=0b11 | 0b11 << 8, extras=((0x31, b"\x09"),))
    fields = location_to_fix_fields(r)
    assert fields is not None
    fix = Fix(vehicle_id=1, terminal_id=2, received_at=WHEN, source="jt808", **fields)  # type: ignore[arg-type]
    assert (fix.lon, fix.lat, fix.fix_time, fix.satellites) == (113.9, 22.5, WHEN, 9)
    assert fix.valid and fix.ignition and fix.loaded
    assert fix.body_lifted is None and fix.cover_closed is None


def test_fix_time_with_device_in_utc() -> None:
    r = report()
    fields = location_to_fix_fields(r, utc_offset=timedelta(0))
    assert fields is not None and fields["fix_time"] == WHEN + timedelta(hours=8)


def test_unusable_time_gives_no_fix() -> None:
    from dataclasses import replace

    assert location_to_fix_fields(replace(report(), time_bcd=bytes(6), fix_time=None)) is None
