"""0x0200 location report and 0x0704 batch / blind-area upload.

A report keeps the alarm and status words and every additional item raw, and carries the
decoded values in platform units (WGS-84 ``lon, lat`` with the hemisphere from status bits
2/3, metres, km/h, degrees, aware UTC). Standard additional items are decoded through a
table keyed by item id; an item with an unexpected length stays raw only, since vendors
reuse ids with other layouts.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import ClassVar, Self

from tracker.ingest.jt808.fields import BEIJING_OFFSET, bcd_time_to_utc, utc_to_bcd_time
from tracker.ingest.jt808.header import Version

_BASIC = struct.Struct(">IIIIhHH6s")
BASIC_SIZE = _BASIC.size  # 28
STATUS_ACC = 1 << 0
STATUS_LOCATED = 1 << 1
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3
LOAD_SHIFT = 8


class LoadState(IntEnum):
    """Status bits 8-9: the one standard carrier of the load state."""

    EMPTY = 0b00
    HALF = 0b01
    RESERVED = 0b10
    FULL = 0b11


@dataclass(frozen=True, slots=True)
class AreaAlarm:
    """Item 0x11 (overspeed; ``direction`` None) or 0x12 (area/route in-out)."""

    location_type: int  # 0 none, 1 circle, 2 rectangle, 3 polygon, 4 route
    area_id: int | None
    direction: int | None = None  # 0 in, 1 out


@dataclass(frozen=True, slots=True)
class RouteTime:
    """Item 0x13: route segment driving time too short (0) / too long (1)."""

    segment_id: int
    driving_time_s: int
    result: int


@dataclass(slots=True)
class LocationExtras:
    """Standard additional items, decoded; ``None`` when absent (or malformed)."""

    mileage_km: float | None = None  # 0x01
    fuel_l: float | None = None  # 0x02
    recorder_speed_kmh: float | None = None  # 0x03
    alarm_event_id: int | None = None  # 0x04
    overspeed: AreaAlarm | None = None  # 0x11
    area_alarm: AreaAlarm | None = None  # 0x12
    route_time: RouteTime | None = None  # 0x13
    vehicle_signals: int | None = None  # 0x25
    io_status: int | None = None  # 0x2A
    analog: tuple[int, int] | None = None  # 0x2B (AD0, AD1)
    rssi: int | None = None  # 0x30
    satellites: int | None = None  # 0x31


def _uint(value: bytes) -> int:
    return int.from_bytes(value, "big")


def _tenths(value: bytes) -> float:
    return _uint(value) / 10


def _overspeed(value: bytes) -> AreaAlarm:
    return AreaAlarm(value[0], _uint(value[1:5]) if len(value) == 5 else None)


def _area(value: bytes) -> AreaAlarm:
    return AreaAlarm(value[0], _uint(value[1:5]), value[5])


def _route(value: bytes) -> RouteTime:
    return RouteTime(_uint(value[0:4]), _uint(value[4:6]), value[6])


def _analog(value: bytes) -> tuple[int, int]:
    word = _uint(value)
    return word & 0xFFFF, word >> 16


# id -> (attribute of LocationExtras, allowed lengths, decoder)
ITEM_DECODERS: dict[int, tuple[str, tuple[int, ...], Callable[[bytes], object]]] = {
    0x01: ("mileage_km", (4,), _tenths),
    0x02: ("fuel_l", (2,), _tenths),
    0x03: ("recorder_speed_kmh", (2,), _tenths),
    0x04: ("alarm_event_id", (2,), _uint),
    0x11: ("overspeed", (1, 5), _overspeed),
    0x12: ("area_alarm", (6,), _area),
    0x13: ("route_time", (7,), _route),
    0x25: ("vehicle_signals", (4,), _uint),
    0x2A: ("io_status", (2,), _uint),
    0x2B: ("analog", (4,), _analog),
    0x30: ("rssi", (1,), _uint),
    0x31: ("satellites", (1,), _uint),
}


def split_items(data: bytes) -> tuple[tuple[tuple[int, bytes], ...], bytes]:
    """Walk the TLV list by its length bytes: (items, truncated remainder)."""
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 2 <= len(data):
        item_id, length = data[pos], data[pos + 1]
        if pos + 2 + length > len(data):
            break
        items.append((item_id, bytes(data[pos + 2 : pos + 2 + length])))
        pos += 2 + length
    return tuple(items), bytes(data[pos:])


def decode_items(items: tuple[tuple[int, bytes], ...]) -> LocationExtras:
    extras = LocationExtras()
    for item_id, value in items:
        entry = ITEM_DECODERS.get(item_id)
        if entry is not None and len(value) in entry[1]:
            setattr(extras, entry[0], entry[2](value))
    return extras


@dataclass(frozen=True, slots=True)
class LocationReport:
    """0x0200 body (also each item of 0x0704)."""

    MSG_ID: ClassVar[int] = 0x0200
    alarm_bits: int
    status_bits: int
    lon: float
    lat: float
    altitude_m: int
    speed_kmh: float
    heading_deg: int
    time_bcd: bytes  # as sent, in the terminal's zone
    fix_time: datetime | None  # aware UTC assuming GMT+8; None if the time is unusable
    extras: tuple[tuple[int, bytes], ...] = ()
    decoded: LocationExtras = field(default_factory=LocationExtras, compare=False)
    trailing: bytes = b""  # a truncated last item, kept for re-decoding

    @property
    def valid(self) -> bool:
        return bool(self.status_bits & STATUS_LOCATED)

    @property
    def ignition(self) -> bool:
        return bool(self.status_bits & STATUS_ACC)

    @property
    def load_state(self) -> LoadState:
        return LoadState((self.status_bits >> LOAD_SHIFT) & 0b11)

    def fix_time_at(self, utc_offset: timedelta) -> datetime | None:
        """Fix time for a terminal configured with another zone than GMT+8."""
        return bcd_time_to_utc(self.time_bcd, utc_offset)

    @classmethod
    def decode(cls, body: bytes, version: Version) -> Self:
        alarm, status, lat_raw, lon_raw, alt, speed, heading, when = _BASIC.unpack_from(body)
        lat = -lat_raw / 1e6 if status & STATUS_SOUTH else lat_raw / 1e6
        lon = -lon_raw / 1e6 if status & STATUS_WEST else lon_raw / 1e6
        items, trailing = split_items(body[BASIC_SIZE:])
        return cls(
            alarm, status, lon, lat, alt, speed / 10, heading, when,
            bcd_time_to_utc(when), items, decode_items(items), trailing,
        )  # fmt: skip

    def encode(self, version: Version = Version.V2013) -> bytes:
        basic = _BASIC.pack(
            self.alarm_bits,
            self.status_bits,
            round(abs(self.lat) * 1e6),
            round(abs(self.lon) * 1e6),
            self.altitude_m,
            round(self.speed_kmh * 10),
            self.heading_deg,
            self.time_bcd,
        )
        items = b"".join(bytes((i, len(v))) + v for i, v in self.extras)
        return basic + items + self.trailing


def make_location(
    *,
    lon: float,
    lat: float,
    fix_time: datetime,
    speed_kmh: float = 0.0,
    heading_deg: int = 0,
    altitude_m: int = 0,
    alarm_bits: int = 0,
    status_bits: int = STATUS_LOCATED,
    extras: tuple[tuple[int, bytes], ...] = (),
    utc_offset: timedelta = BEIJING_OFFSET,
) -> LocationReport:
    """Build a report from platform values (simulator, tests): hemisphere bits from signs."""
    status = status_bits & ~(STATUS_SOUTH | STATUS_WEST)
    status |= STATUS_SOUTH if lat < 0 else 0
    status |= STATUS_WEST if lon < 0 else 0
    when = utc_to_bcd_time(fix_time, utc_offset)
    return LocationReport(
        alarm_bits, status, round(lon, 6), round(lat, 6), altitude_m, round(speed_kmh, 1),
        heading_deg, when, bcd_time_to_utc(when, utc_offset), extras, decode_items(extras),
    )  # fmt: skip


class BatchKind(IntEnum):
    NORMAL = 0
    BLIND_AREA = 1  # re-upload of reports stored while offline


@dataclass(frozen=True, slots=True)
class LocationBatch:
    """0x0704: count WORD, kind BYTE, then length-prefixed 0x0200 bodies."""

    MSG_ID: ClassVar[int] = 0x0704
    kind: int
    reports: tuple[LocationReport, ...]
    skipped: int = 0  # items shorter than a basic location block

    @classmethod
    def decode(cls, body: bytes, version: Version) -> Self:
        count, kind = struct.unpack_from(">HB", body)
        pos, skipped = 3, 0
        reports: list[LocationReport] = []
        for _ in range(count):
            (length,) = struct.unpack_from(">H", body, pos)
            item = body[pos + 2 : pos + 2 + length]
            if len(item) < length:
                raise ValueError("batch item runs past the end of the body")
            pos += 2 + length
            if length < BASIC_SIZE:
                skipped += 1
                continue
            reports.append(LocationReport.decode(item, version))
        return cls(kind, tuple(reports), skipped)

    def encode(self, version: Version = Version.V2013) -> bytes:
        parts = [struct.pack(">HB", len(self.reports), self.kind)]
        for report in self.reports:
            item = report.encode(version)
            parts.append(struct.pack(">H", len(item)) + item)
        return b"".join(parts)
