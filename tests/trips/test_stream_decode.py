"""The engine's positional decoding of stream rows agrees with the named one."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import orjson

from tracker.ingest.stream import STREAM_FIELDS, decode_rows, stream_row
from tracker.trips.core.engine import fix_from_row, fix_from_values
from tracker.wire import Fix


def test_positional_and_named_decoding_give_the_same_fix() -> None:
    fix = Fix(
        vehicle_id=42,
        terminal_id=7,
        fix_time=datetime(2026, 11, 23, 8, 0, 1, 250_000, tzinfo=UTC),
        received_at=datetime(2026, 11, 23, 8, 0, 9, 500_000, tzinfo=UTC),
        lon=7.4246,
        lat=43.7384,
        speed_kmh=31.5,
        heading_deg=271.0,
        altitude_m=12.5,
        satellites=9,
        hdop=0.9,
        valid=False,
        ignition=True,
        loaded=True,
        body_lifted=False,
        cover_closed=True,
        alarm_bits=0x20,
        flags=8,
        source="jt808",
    )
    row = stream_row(fix)
    assert len(row) == len(STREAM_FIELDS)
    payload = orjson.dumps([row])
    by_position = fix_from_values(orjson.loads(payload)[0])
    by_name = fix_from_row(decode_rows(payload)[0])
    assert by_position == by_name
    # every field the stream carries comes back (the terminal and extras are not carried)
    assert by_position == dataclasses.replace(fix, terminal_id=0, extra=None)
