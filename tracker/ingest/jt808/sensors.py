"""Muck-truck sensor signals (loaded, body lifted, cover closed) and the ``Fix`` fields.

Where lift and cover travel differs by city and terminal model, so a per-model
:class:`SensorMapping` names the source of each signal. Sources are written as short strings
so they can live in configuration:

- ``"load_bits"``: status bits 8-9 (00 empty; 01 half and 11 full count as loaded);
- ``"status:N"`` / ``"alarm:N"``: bit N of the status / alarm word;
- ``"io:N"``: bit N of additional item 0x2A (IO status);
- ``"item:0xID:N"``: bit N of a vendor item read as a big-endian integer;
- a leading ``"!"`` inverts the signal (e.g. a "cover open" bit gives ``"!status:N"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tracker.ingest.jt808.fields import BEIJING_OFFSET
from tracker.ingest.jt808.location import LoadState, LocationReport

_KINDS = ("load_bits", "status", "alarm", "io", "item")


@dataclass(frozen=True, slots=True)
class SignalSource:
    kind: str
    bit: int = 0
    item_id: int | None = None
    inverted: bool = False

    @classmethod
    def parse(cls, spec: str) -> SignalSource:
        text = spec.strip()
        inverted = text.startswith("!")
        parts = text.lstrip("!").split(":")
        kind = parts[0]
        if kind not in _KINDS:
            raise ValueError(f"unknown signal source {spec!r}")
        if kind == "load_bits":
            return cls(kind, inverted=inverted)
        if kind == "item":
            if len(parts) != 3:
                raise ValueError(f"item source needs 'item:ID:BIT', got {spec!r}")
            return cls(kind, int(parts[2]), int(parts[1], 0), inverted)
        if len(parts) != 2:
            raise ValueError(f"{kind} source needs '{kind}:BIT', got {spec!r}")
        return cls(kind, int(parts[1]), None, inverted)

    def read(self, report: LocationReport) -> bool | None:
        """The signal in ``report``, or ``None`` when the report does not carry it."""
        value = self._raw(report)
        if value is None:
            return None
        return value != self.inverted

    def _raw(self, report: LocationReport) -> bool | None:
        if self.kind == "load_bits":
            state = report.load_state
            return None if state is LoadState.RESERVED else state is not LoadState.EMPTY
        if self.kind == "status":
            return bool(report.status_bits >> self.bit & 1)
        if self.kind == "alarm":
            return bool(report.alarm_bits >> self.bit & 1)
        item_id = 0x2A if self.kind == "io" else self.item_id
        for ident, value in report.extras:
            if ident == item_id:
                return bool(int.from_bytes(value, "big") >> self.bit & 1)
        return None


LOAD_BITS = SignalSource("load_bits")


@dataclass(frozen=True, slots=True)
class SensorMapping:
    """Which signal means what for one terminal model (``None``: the model lacks it)."""

    model: str
    loaded: SignalSource | None = LOAD_BITS
    body_lifted: SignalSource | None = None
    cover_closed: SignalSource | None = None

    @classmethod
    def from_config(cls, model: str, signals: dict[str, str | None]) -> SensorMapping:
        """Build from ``{"loaded": "load_bits", "body_lifted": "status:29", ...}``."""
        unknown = set(signals) - {"loaded", "body_lifted", "cover_closed"}
        if unknown:
            raise ValueError(f"unknown signals {sorted(unknown)}")

        def source(name: str, default: SignalSource | None) -> SignalSource | None:
            if name not in signals:
                return default
            spec = signals[name]
            return SignalSource.parse(spec) if spec else None

        return cls(
            model,
            source("loaded", LOAD_BITS),
            source("body_lifted", None),
            source("cover_closed", None),
        )


STANDARD = SensorMapping("standard")


def sensor_states(
    report: LocationReport, mapping: SensorMapping = STANDARD
) -> tuple[bool | None, bool | None, bool | None]:
    """(loaded, body_lifted, cover_closed) from ``report`` as ``mapping`` says."""

    def read(source: SignalSource | None) -> bool | None:
        return None if source is None else source.read(report)

    return read(mapping.loaded), read(mapping.body_lifted), read(mapping.cover_closed)


def location_to_fix_fields(
    report: LocationReport,
    mapping: SensorMapping = STANDARD,
    utc_offset: timedelta = BEIJING_OFFSET,
) -> dict[str, object] | None:
    """Keyword fields of :class:`tracker.wire.Fix` (the caller adds vehicle,
    terminal, received_at and source). ``None`` when the report's time is unusable: drop the
    fix, keep the frame (and still acknowledge it)."""
    fix_time: datetime | None = (
        report.fix_time if utc_offset == BEIJING_OFFSET else report.fix_time_at(utc_offset)
    )
    if fix_time is None:
        return None
    loaded, body_lifted, cover_closed = sensor_states(report, mapping)
    return {
        "lon": report.lon,
        "lat": report.lat,
        "speed_kmh": report.speed_kmh,
        "heading_deg": float(report.heading_deg),
        "altitude_m": float(report.altitude_m),
        "fix_time": fix_time,
        "valid": report.valid,
        "ignition": report.ignition,
        "alarm_bits": report.alarm_bits,
        "satellites": report.decoded.satellites,
        "loaded": loaded,
        "body_lifted": body_lifted,
        "cover_closed": cover_closed,
    }
