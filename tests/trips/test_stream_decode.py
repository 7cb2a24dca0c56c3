"""The wire's row codec: every field of a fix survives a stream row, and the hand-kept
positional encoder and decoder follow the one column list (``tracker.wire.FIX_COLUMNS``)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tracker.wire import (
    COPY_COLUMNS,
    STREAM_COLUMNS,
    STREAM_FIELDS,
    STREAM_SELECT,
    Column,
    Fix,
    decode_fixes,
    entry_fields,
    epoch_us,
    fix_from_row,
    shard_of,
    stream_row,
    timed_from_row,
)

# Every field differs from its default and from the others, so a swapped position shows.
FIX = Fix(
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
    extra={"mileage_km": 1.5},
)


def stream_value(column: Column, fix: Fix) -> Any:
    """A column's value in a stream row, from the column list alone (the reference)."""
    value = getattr(fix, column.name)
    return epoch_us(value) if column.pg_type == "timestamptz" else value


def test_every_stream_field_survives_encode_and_decode() -> None:
    payload = entry_fields([stream_row(FIX)])["fixes"]
    (back,) = decode_fixes(payload)
    # the stream carries every field but the terminal id and the extras
    assert back == dataclasses.replace(FIX, terminal_id=0, extra=None)
    assert back.fix_time.tzinfo is not None and back.received_at.tzinfo is not None


def test_the_encoder_follows_the_column_list() -> None:
    row = stream_row(FIX)
    assert len(row) == len(STREAM_COLUMNS) == len(STREAM_FIELDS)
    for position, column in enumerate(STREAM_COLUMNS):
        assert row[position] == stream_value(column, FIX), column.name


def test_the_decoder_follows_the_column_list() -> None:
    row = [stream_value(c, FIX) for c in STREAM_COLUMNS]  # built without the encoder
    back = fix_from_row(orjson.loads(orjson.dumps(row)))
    for column in STREAM_COLUMNS:
        assert getattr(back, column.name) == getattr(FIX, column.name), column.name
    t_us, received_us, fix = timed_from_row(row)
    assert (t_us, received_us) == (epoch_us(FIX.fix_time), epoch_us(FIX.received_at))
    assert fix == back


def test_the_column_list_covers_the_fix() -> None:
    names = {f.name for f in dataclasses.fields(Fix)}
    assert set(COPY_COLUMNS) == names | {"h3_cell"}  # the cell is computed on write
    assert {c.name for c in STREAM_COLUMNS} == names - {"terminal_id", "extra"}


def test_the_catch_up_select_reads_the_stream_columns_in_order() -> None:
    expressions = STREAM_SELECT.split(", ")
    assert len(expressions) == len(STREAM_COLUMNS)
    for expression, column in zip(expressions, STREAM_COLUMNS, strict=True):
        assert column.name in expression


@pytest.mark.parametrize("shards", [1, 4, 7])
def test_shard_of_spreads_vehicles_over_every_shard(shards: int) -> None:
    assert {shard_of(v, shards) for v in range(1, 50)} == set(range(shards))
    assert all(shard_of(v, shards) == shard_of(v + shards, shards) for v in range(20))
