"""Encoders: rows in, bytes out, one batch at a time (pure; no I/O but XLSX's own temp file).

Every encoder has ``head()``, ``encode(rows)`` and ``finish()``; text formats return their bytes
as they go, XLSX writes to a temporary file (xlsxwriter's ``constant_memory`` mode: a row is
flushed as soon as the next one starts) and ``finish()`` returns that file's path to stream.
Data times are ISO 8601 UTC (``Z``); the tables' times and the track CSV's local column are the
city's wall-clock time. CSV starts with a UTF-8 BOM (Excel then reads Chinese), and a text cell
starting with ``= + - @`` is prefixed with ``'`` so a spreadsheet never runs it as a formula.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import orjson
import xlsxwriter

from tracker.exports.datasets import Column

BOM = "\ufeff".encode()
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "gpx": "application/gpx+xml",
    "kml": "application/vnd.google-earth.kml+xml",
    "geojson": "application/geo+json",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
Row = Sequence[Any]


class Encoder(Protocol):
    def head(self) -> bytes: ...
    def encode(self, rows: Sequence[Row]) -> bytes: ...
    def finish(self) -> bytes | Path: ...


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_text(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime(LOCAL_FORMAT)


def _safe_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _converter(column: Column, zone: ZoneInfo) -> Callable[[Any], Any] | None:
    """How a column's values become CSV text; None: as they are (numbers; None is empty)."""
    if column.kind == "time":
        if column.key == "time_utc":
            return lambda v: None if v is None else iso_utc(v)
        # isoformat is several times faster than strftime; seconds are what people read
        return lambda v: None if v is None else v.astimezone(zone).isoformat(" ")[:19]
    if column.kind == "bool":
        return lambda v: None if v is None else ("true" if v else "false")
    if column.kind == "json":
        return lambda v: None if v is None else _safe_text(orjson.dumps(v).decode())
    if column.kind == "text":
        return lambda v: None if v is None else _safe_text(str(v))
    return None


def headers(columns: Sequence[Column], language: str) -> list[str]:
    return [c.zh if language == "zh" else c.key for c in columns]


class CsvEncoder:
    def __init__(self, columns: Sequence[Column], language: str, zone: ZoneInfo) -> None:
        self.columns, self.language = tuple(columns), language
        self.convert = [(i, f) for i, c in enumerate(columns) if (f := _converter(c, zone))]

    def head(self) -> bytes:
        return BOM + self._lines([headers(self.columns, self.language)])

    def encode(self, rows: Sequence[Row]) -> bytes:
        return b"".join(self._part(rows[i : i + 1000]) for i in range(0, len(rows), 1000))

    def _part(self, rows: Sequence[Row]) -> bytes:
        convert = self.convert
        out = []
        for row in rows:
            cells = list(row)
            for i, f in convert:
                cells[i] = f(cells[i])
            out.append(cells)
        return self._lines(out)

    def finish(self) -> bytes:
        return b""

    @staticmethod
    def _lines(rows: Any) -> bytes:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(rows)
        return out.getvalue().encode()


class XlsxEncoder:
    """A sheet written row by row to a temporary file; times as local date-time cells."""

    def __init__(
        self, columns: Sequence[Column], language: str, zone: ZoneInfo, title: str
    ) -> None:
        self.columns, self.language, self.zone = tuple(columns), language, zone
        fd, name = tempfile.mkstemp(prefix="tracker-export-", suffix=".xlsx")
        os.close(fd)
        self.path = Path(name)
        self.book = xlsxwriter.Workbook(
            name, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
        )
        self.sheet = self.book.add_worksheet(title[:31])
        self.time_format = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.row = 0

    def head(self) -> bytes:
        self.sheet.write_row(0, 0, headers(self.columns, self.language))
        self.row = 1
        return b""

    def encode(self, rows: Sequence[Row]) -> bytes:
        for row in rows:
            for col, (value, column) in enumerate(zip(row, self.columns, strict=True)):
                self._write(col, value, column)
            self.row += 1
        return b""

    def _write(self, col: int, value: Any, column: Column) -> None:
        if value is None:
            return
        if column.kind == "time":
            local = value.astimezone(self.zone).replace(tzinfo=None)
            self.sheet.write_datetime(self.row, col, local, self.time_format)
        elif column.kind == "bool":
            self.sheet.write_boolean(self.row, col, bool(value))
        elif column.kind in ("int", "float"):
            self.sheet.write_number(self.row, col, value)
        elif column.kind == "json":
            self.sheet.write_string(self.row, col, orjson.dumps(value).decode())
        else:
            self.sheet.write_string(self.row, col, str(value))

    def finish(self) -> Path:
        self.book.close()
        return self.path

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class GeoJsonEncoder:
    """A FeatureCollection of Point features (lon, lat), the fix's values as properties."""

    def __init__(self, columns: Sequence[Column], title: str) -> None:
        self.keys = [c.key for c in columns]
        self.title = title
        self.first = True

    def head(self) -> bytes:
        return b'{"type":"FeatureCollection","name":%b,"features":[' % orjson.dumps(self.title)

    def encode(self, rows: Sequence[Row]) -> bytes:
        # a thousand features per dumps: a bytes object per feature would each keep orjson's
        # 4 KiB buffer, and a whole batch of dicts at once costs more than the rows themselves
        parts = [self._features(rows[i : i + 1000]) for i in range(0, len(rows), 1000)]
        if not parts:
            return b""
        lead = b"" if self.first else b","
        self.first = False
        return lead + b",".join(parts)

    def _features(self, rows: Sequence[Row]) -> bytes:
        features = []
        for row in rows:
            props = dict(zip(self.keys, row, strict=True))
            lon, lat = props.pop("lon"), props.pop("lat")
            props["time"] = iso_utc(props.pop("time_utc"))
            del props["time_local"]
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": props,
                }
            )
        return orjson.dumps(features)[1:-1]

    def finish(self) -> bytes:
        return b"]}"


class GpxEncoder:
    """GPX 1.1: one track, one segment, a trkpt (lat, lon attributes) with its UTC time."""

    def __init__(self, title: str) -> None:
        self.title = title

    def head(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<gpx version="1.1" creator="muck-tracker" xmlns="http://www.topografix.com/GPX/1/1">'
            f"<trk><name>{escape(self.title)}</name><trkseg>\n"
        ).encode()

    def encode(self, rows: Sequence[Row]) -> bytes:
        return "".join(
            f'<trkpt lat="{r[3]!r}" lon="{r[2]!r}"><time>{iso_utc(r[0])}</time></trkpt>\n'
            for r in rows
        ).encode()

    def finish(self) -> bytes:
        return b"</trkseg></trk></gpx>\n"


class KmlEncoder:
    """KML 2.2: a Document with one time-stamped Point Placemark per fix (lon,lat)."""

    def __init__(self, title: str) -> None:
        self.title = title

    def head(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
            f"<name>{escape(self.title)}</name>\n"
        ).encode()

    def encode(self, rows: Sequence[Row]) -> bytes:
        return "".join(
            f"<Placemark><TimeStamp><when>{iso_utc(r[0])}</when></TimeStamp>"
            f"<Point><coordinates>{r[2]!r},{r[3]!r}</coordinates></Point></Placemark>\n"
            for r in rows
        ).encode()

    def finish(self) -> bytes:
        return b"</Document></kml>\n"


def encoder(
    fmt: str, columns: Sequence[Column], language: str, zone: ZoneInfo, title: str
) -> Encoder:
    if fmt == "csv":
        return CsvEncoder(columns, language, zone)
    if fmt == "xlsx":
        return XlsxEncoder(columns, language, zone, title)
    if fmt == "geojson":
        return GeoJsonEncoder(columns, title)
    if fmt == "gpx":
        return GpxEncoder(title)
    if fmt == "kml":
        return KmlEncoder(title)
    raise ValueError(f"unknown format {fmt!r}")
