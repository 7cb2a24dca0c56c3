"""Location reports to fix candidates (``protocol="jt808"``), judged by the one validator.

The codec decodes any 28 bytes into a report; here a report only becomes a candidate in
platform units (an unreadable BCD time is noted, not decided). Ranges and what refuses a fix
are :mod:`tracker.ingest.validate`'s, the same as for HTTP. Alarm and status words and the
additional items stay raw in ``extra`` for re-decoding.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tracker.ingest.candidate import FixCandidate
from tracker.ingest.jt808.location import LocationReport
from tracker.ingest.jt808.sensors import STANDARD, SensorMapping, location_to_fix_fields
from tracker.ingest.validate import Verdict, judge

DEFAULT_MODEL = "default"


class SensorMappings:
    """Per terminal model mapping of the muck-truck signals; ``"default"`` covers the rest."""

    def __init__(self, config: dict[str, dict[str, str | None]]) -> None:
        self._by_model = {
            model: SensorMapping.from_config(model, signals) for model, signals in config.items()
        }
        self.default = self._by_model.get(DEFAULT_MODEL, STANDARD)

    def for_model(self, model: str | None) -> SensorMapping:
        if model is None:
            return self.default
        return self._by_model.get(model, self.default)


def _extra(report: LocationReport) -> dict[str, object]:
    extra: dict[str, object] = {"status_bits": report.status_bits}
    if report.extras:
        extra["items"] = {f"{ident:#04x}": value.hex() for ident, value in report.extras}
    if report.trailing:
        extra["trailing"] = report.trailing.hex()
    return extra


def report_to_candidate(
    report: LocationReport,
    *,
    vehicle_id: int,
    terminal_id: int,
    received_at: datetime,
    mapping: SensorMapping,
    utc_offset: timedelta,
) -> FixCandidate:
    values = location_to_fix_fields(report, mapping, utc_offset)
    if values is None:
        undecoded = {"time": "not a valid BCD date and time"}
        where: dict[str, object] = {"lon": report.lon, "lat": report.lat}
        return FixCandidate("jt808", vehicle_id, terminal_id, received_at, where, undecoded)
    values["extra"] = _extra(report)
    return FixCandidate("jt808", vehicle_id, terminal_id, received_at, values)


def report_to_item(
    report: LocationReport,
    *,
    vehicle_id: int,
    terminal_id: int,
    received_at: datetime,
    mapping: SensorMapping = STANDARD,
    utc_offset: timedelta,
) -> Verdict:
    """The validator's verdict on one report: a Fix (and the values dropped) or errors."""
    candidate = report_to_candidate(
        report, vehicle_id=vehicle_id, terminal_id=terminal_id, received_at=received_at,
        mapping=mapping, utc_offset=utc_offset,
    )  # fmt: skip
    return judge(candidate)
