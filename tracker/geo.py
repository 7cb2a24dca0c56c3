"""Geodesy, once for the whole product: the mean Earth sphere, great-circle and small-distance
helpers in metres. Coordinates are ``lon, lat`` in degrees."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), metres
M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0  # metres per degree of latitude


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dlmb = math.radians(lon2 - lon1)
    x = math.sin(dlmb) * math.cos(phi2)
    y = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlmb)
    return math.degrees(math.atan2(x, y)) % 360.0


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
