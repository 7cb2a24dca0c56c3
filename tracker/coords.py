"""Coordinate systems of Chinese web maps: WGS-84 (GPS, Tianditu's CGCS2000 within a metre),
GCJ-02 (the state-mandated offset of AMap, Tencent) and BD-09 (Baidu, a further offset of
GCJ-02). Pure functions on ``(lon, lat)`` degrees; the same formulas are in ``web/coords.js``
(tests/web/test_coords_js.py compares the two on the same points).

Positions are stored and enforced in WGS-84; these conversions are for display on a basemap
and for geometry drawn on one (converted back to WGS-84 before it is stored).

- WGS-84 → GCJ-02 is the published closed form (Krasovsky ellipsoid); outside China's box the
  point is unchanged, as the maps do.
- GCJ-02 → BD-09 is Baidu's published closed form.
- The inverses have no closed form: they are solved by fixed-point iteration on the forward
  function until the forward image is within 1e-10° (about 10 µm) of the given point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

System = Literal["wgs84", "gcj02", "bd09"]
SYSTEMS: tuple[System, ...] = ("wgs84", "gcj02", "bd09")
LonLat = tuple[float, float]

_A = 6378245.0  # Krasovsky 1940 semi-major axis, metres
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-10
_MAX_STEPS = 30


def outside_china(lon: float, lat: float) -> bool:
    """Outside the box in which the maps apply the GCJ-02 offset."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _d_lat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _d_lon(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lon: float, lat: float) -> LonLat:
    if outside_china(lon, lat):
        return lon, lat
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (
        _d_lat(lon - 105.0, lat - 35.0) * 180.0 / (_A * (1 - _EE) / (magic * sqrt_magic) * math.pi)
    )
    d_lon = (
        _d_lon(lon - 105.0, lat - 35.0) * 180.0 / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    )
    return lon + d_lon, lat + d_lat


def gcj02_to_bd09(lon: float, lat: float) -> LonLat:
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _invert(forward: Callable[[float, float], LonLat], lon: float, lat: float) -> LonLat:
    """The point whose ``forward`` image is (lon, lat): fixed-point steps on the offset."""
    x, y = lon, lat
    for _ in range(_MAX_STEPS):
        fx, fy = forward(x, y)
        dx, dy = fx - lon, fy - lat
        if abs(dx) < _TOLERANCE_DEG and abs(dy) < _TOLERANCE_DEG:
            break
        x, y = x - dx, y - dy
    return x, y


def gcj02_to_wgs84(lon: float, lat: float) -> LonLat:
    if outside_china(lon, lat):
        return lon, lat
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> LonLat:
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon: float, lat: float) -> LonLat:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> LonLat:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_FROM_WGS84: dict[System, Callable[[float, float], LonLat]] = {
    "wgs84": lambda lon, lat: (lon, lat),
    "gcj02": wgs84_to_gcj02,
    "bd09": wgs84_to_bd09,
}
_TO_WGS84: dict[System, Callable[[float, float], LonLat]] = {
    "wgs84": lambda lon, lat: (lon, lat),
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}


def convert(lon: float, lat: float, source: System, target: System) -> LonLat:
    """(lon, lat) in ``source`` to ``target`` (through WGS-84 when neither is)."""
    if source == target:
        return lon, lat
    if source == "gcj02" and target == "bd09":
        return gcj02_to_bd09(lon, lat)
    if source == "bd09" and target == "gcj02":
        return bd09_to_gcj02(lon, lat)
    return _FROM_WGS84[target](*_TO_WGS84[source](lon, lat))
