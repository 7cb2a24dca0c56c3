"""Location reports to pipeline items: a :class:`Fix` (``source="jt808"``) or its field errors.

The codec decodes any 28 bytes into a report, so the values are checked here the way the HTTP
front end checks JSON: coordinates and times out of range are refused with errors that name the
field. Alarm and status words and the additional items stay raw in ``extra`` for re-decoding.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tracker.ingest.jt808.location import LocationReport
from tracker.ingest.jt808.sensors import STANDARD, SensorMapping, location_to_fix_fields
from tracker.ingest.validate import FieldErrors
from tracker.wire import Fix

DEFAULT_MODEL = "default"
MAX_SPEED_KMH = 300.0


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


def _errors(fields: dict[str, object]) -> FieldErrors:
    errors: FieldErrors = []
    lon, lat, speed = fields["lon"], fields["lat"], fields["speed_kmh"]
    assert isinstance(lon, float) and isinstance(lat, float) and isinstance(speed, float)
    if not -180.0 <= lon <= 180.0:
        errors.append({"field": "lon", "message": "must be between -180 and 180"})
    if not -90.0 <= lat <= 90.0:
        errors.append({"field": "lat", "message": "must be between -90 and 90"})
    if speed > MAX_SPEED_KMH:
        fields["speed_kmh"] = None  # an implausible speed is dropped, the position kept
    heading = fields["heading_deg"]
    if isinstance(heading, float) and not 0.0 <= heading < 360.0:
        fields["heading_deg"] = None
    return errors


def _extra(report: LocationReport) -> dict[str, object]:
    extra: dict[str, object] = {"status_bits": report.status_bits}
    if report.extras:
        extra["items"] = {f"{ident:#04x}": value.hex() for ident, value in report.extras}
    if report.trailing:
        extra["trailing"] = report.trailing.hex()
    return extra


def report_to_item(
    report: LocationReport,
    *,
    vehicle_id: int,
    terminal_id: int,
    received_at: datetime,
    mapping: SensorMapping,
    utc_offset: timedelta,
) -> Fix | FieldErrors:
    fields = location_to_fix_fields(report, mapping, utc_offset)
    if fields is None:
        return [{"field": "time", "message": "not a valid BCD date and time"}]
    errors = _errors(fields)
    if errors:
        return errors
    fields["extra"] = _extra(report)
    return Fix(
        vehicle_id=vehicle_id,
        terminal_id=terminal_id,
        received_at=received_at,
        source="jt808",
        **fields,  # type: ignore[arg-type]
    )
