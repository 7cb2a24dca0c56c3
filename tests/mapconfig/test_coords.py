"""WGS-84 <-> GCJ-02 <-> BD-09 (tracker.coords): published reference points, round trips."""

from __future__ import annotations

import itertools

import pytest

from tracker import coords
from tracker.coords import SYSTEMS, convert

# Published test vectors (the gcoord library's unit tests, 123 E 45 N), to their 5 decimals.
REFERENCE = [
    ("wgs84", "gcj02", (123.0, 45.0), (123.00607541, 45.00197815)),
    ("wgs84", "bd09", (123.0, 45.0), (123.0124491, 45.0083293)),
    ("gcj02", "wgs84", (123.0, 45.0), (122.99395597, 44.99804071)),
    ("gcj02", "bd09", (123.0, 45.0), (123.00636499, 45.00636899)),
    ("bd09", "gcj02", (123.0, 45.0), (122.99363304, 44.99365430)),
    ("bd09", "wgs84", (123.0, 45.0), (122.98762210, 44.99171540)),
]

# Cities across China, and points outside it
POINTS = [
    (104.06, 30.66),  # Chengdu
    (116.397, 39.909),  # Beijing
    (121.47, 31.23),  # Shanghai
    (114.06, 22.54),  # Shenzhen
    (87.62, 43.83),  # Urumqi
    (126.63, 45.75),  # Harbin
    (109.5, 18.25),  # Sanya
    (7.42, 43.735),  # Monaco: no GCJ-02 offset
    (-74.0, 40.7),  # New York
]


@pytest.mark.parametrize(("source", "target", "point", "expected"), REFERENCE)
def test_published_reference_points(
    source: coords.System,
    target: coords.System,
    point: tuple[float, float],
    expected: tuple[float, float],
) -> None:
    lon, lat = convert(*point, source, target)
    assert abs(lon - expected[0]) < 5e-6 and abs(lat - expected[1]) < 5e-6


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize(("source", "target"), list(itertools.permutations(SYSTEMS, 2)))
def test_round_trips_within_a_centimetre(
    point: tuple[float, float], source: coords.System, target: coords.System
) -> None:
    there = convert(*point, source, target)
    back = convert(*there, target, source)
    assert abs(back[0] - point[0]) < 1e-7 and abs(back[1] - point[1]) < 1e-7  # ~1 cm


def test_offsets_are_the_known_size_in_china_and_none_outside() -> None:
    lon, lat = coords.wgs84_to_gcj02(104.06, 30.66)
    # the GCJ-02 offset in Chengdu is a few hundred metres: 0.002-0.003 degrees each way
    assert 0.001 < lon - 104.06 < 0.004 and -0.004 < lat - 30.66 < 0.0
    assert coords.wgs84_to_gcj02(7.42, 43.735) == (7.42, 43.735)
    assert coords.gcj02_to_wgs84(7.42, 43.735) == (7.42, 43.735)
    bd = coords.gcj02_to_bd09(7.42, 43.735)  # Baidu's offset applies everywhere
    assert abs(bd[0] - 7.42 - 0.0065) < 0.001 and abs(bd[1] - 43.735 - 0.006) < 0.001


def test_gcj02_and_bd09_compose() -> None:
    for lon, lat in POINTS:
        via = coords.gcj02_to_bd09(*coords.wgs84_to_gcj02(lon, lat))
        assert coords.wgs84_to_bd09(lon, lat) == via
        assert convert(*via, "bd09", "gcj02") == coords.bd09_to_gcj02(*via)
