"""Small-distance geometry in metres (equirectangular; exact enough below a few km)."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance between two WGS-84 points in metres (equirectangular approximation; for long
    legs it overestimates slightly, which only matters for the tamper check's 150 km/h)."""
    cos_lat = math.cos(math.radians((lat1 + lat2) / 2.0))
    dx = (lon2 - lon1) * cos_lat * M_PER_DEG
    dy = (lat2 - lat1) * M_PER_DEG
    return math.hypot(dx, dy)


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    """The point ``east_m``/``north_m`` metres away from ``lon, lat``."""
    dlat = north_m / M_PER_DEG
    dlon = east_m / (M_PER_DEG * math.cos(math.radians(lat)))
    return lon + dlon, lat + dlat
