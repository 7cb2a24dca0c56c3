"""Edge rule, queries, and live updates."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tracker.geo import M_PER_DEG
from tracker.geofence import GeofenceIndex, Remove, Upsert, fence_from_geojson

SQUARE = [[9.0, 45.0], [9.01, 45.0], [9.01, 45.01], [9.0, 45.01], [9.0, 45.0]]
HOLE = [[9.004, 45.004], [9.006, 45.004], [9.006, 45.006], [9.004, 45.006], [9.004, 45.004]]


def square_with_hole(fence_id: str = "s") -> GeofenceIndex:
    return GeofenceIndex(
        [fence_from_geojson(fence_id, {"type": "Polygon", "coordinates": [SQUARE, HOLE]})]
    )


@pytest.mark.parametrize(
    ("lon", "lat", "inside"),
    [
        (9.0, 45.0, True),  # a vertex
        (9.01, 45.005, True),  # on the east edge
        (9.004, 45.005, True),  # on the hole's edge: still the polygon's boundary
        (9.005, 45.005, False),  # in the hole
        (9.002, 45.002, True),
        (9.0100001, 45.005, False),
    ],
)
def test_points_on_edges_count_as_inside(lon: float, lat: float, inside: bool) -> None:
    index = square_with_hole()
    expected = [("s", "polygon")] if inside else []
    assert list(index.containing(lon, lat)) == expected
    assert index.containing_many(np.array([lon]), np.array([lat])).keys_of(0) == expected


def test_corridor_distance_and_membership_in_metres() -> None:
    line = {"type": "LineString", "coordinates": [[0.0, 0.0], [0.0, 0.1]]}
    index = GeofenceIndex([fence_from_geojson("c", line, half_width_m=50.0)])
    lon_50m = 50.0 / M_PER_DEG
    assert index.corridor_distance_m("c", lon_50m, 0.05) == pytest.approx(
        50.0, abs=1e-3
    )  # cos(lat0) of the frame
    assert index.containing(lon_50m * 0.999, 0.05) == (("c", "corridor"),)
    assert index.containing(lon_50m * 1.001, 0.05) == ()
    with pytest.raises(KeyError):
        index.corridor_distance_m("nope", 0.0, 0.0)


def test_segment_between_sparse_fixes_sees_a_small_fence() -> None:
    index = GeofenceIndex(
        [
            fence_from_geojson(
                "tiny", {"type": "Point", "coordinates": [9.05, 45.0]}, radius_m=5.0
            ),
            fence_from_geojson("s", {"type": "Polygon", "coordinates": [SQUARE]}),
        ]
    )
    assert sorted(index.segment_events(9.0, 45.0 - 1e-3, 9.1, 45.0 - 1e-3)) == []
    assert sorted(index.segment_events(8.99, 45.0, 9.1, 45.0)) == [
        ("s", "cross"),
        ("tiny", "cross"),
    ]
    assert index.segment_events(8.99, 45.005, 9.005, 45.005) == [("s", "enter")]
    assert index.segment_events(9.005, 45.005, 8.99, 45.005) == [("s", "exit")]
    assert index.segment_events(9.002, 45.002, 9.003, 45.003) == []


def test_upsert_replace_remove() -> None:
    index = square_with_hole()
    index.upsert(
        fence_from_geojson("s", {"type": "Point", "coordinates": [9.005, 45.005]}, radius_m=20.0)
    )
    assert index.containing(9.005, 45.005) == (("s", "circle"),)
    assert index.containing(9.002, 45.002) == ()
    index.remove("s")
    assert index.containing(9.005, 45.005) == ()
    assert len(index) == 0
    index.remove("s")  # removing twice is fine


def test_lookups_never_see_half_an_update() -> None:
    """Swapping fence a for fence b in one apply: every lookup sees exactly one of them."""
    a = fence_from_geojson("a", {"type": "Polygon", "coordinates": [SQUARE]})
    b = fence_from_geojson("b", {"type": "Point", "coordinates": [9.005, 45.005]}, radius_m=300.0)
    index = GeofenceIndex([a])
    stop, seen = threading.Event(), set()

    def reader() -> None:
        while not stop.is_set():
            seen.add(tuple(sorted(fid for fid, _ in index.containing(9.005, 45.005))))

    thread = threading.Thread(target=reader)
    thread.start()
    for _ in range(20):
        index.apply([Remove("a"), Upsert(b)])
        index.apply([Remove("b"), Upsert(a)])
    stop.set()
    thread.join()
    assert seen <= {("a",), ("b",)}
    assert len(seen) == 2


def test_batch_answers_follow_live_updates() -> None:
    """The batch table is patched for the changed buckets only, and agrees with single lookups."""
    index = square_with_hole()
    lons, lats = np.array([9.002, 9.005, 9.025]), np.array([45.002, 45.005, 45.02])
    assert [index.containing_many(lons, lats).keys_of(i) for i in range(3)] == [
        [("s", "polygon")],
        [],
        [],
    ]
    far = {"type": "Polygon", "coordinates": [[[9.015, 45.015], [9.03, 45.015], [9.03, 45.03],
                                               [9.015, 45.015]]]}  # fmt: skip
    index.apply([Remove("s"), Upsert(fence_from_geojson("t", far))])
    index.upsert(fence_from_geojson("c", {"type": "Point", "coordinates": [9.005, 45.005]},
                                    radius_m=50.0))  # fmt: skip
    batch = index.containing_many(lons, lats)
    for i in range(3):
        assert batch.keys_of(i) == list(index.containing(lons[i], lats[i]))
    assert [batch.keys_of(i) for i in range(3)] == [[], [("c", "circle")], [("t", "polygon")]]


def test_point_skip_kinds_hold_fences_without_returning_them() -> None:
    """The engine's index: corridors are held (distances, segment events) but no point lookup
    returns them, also after live updates, while other kinds are answered as usual."""
    line = {"type": "LineString", "coordinates": [[9.0, 45.005], [9.02, 45.005]]}
    corridor = fence_from_geojson("c", line, half_width_m=50.0)
    square = fence_from_geojson("s", {"type": "Polygon", "coordinates": [SQUARE]})
    index = GeofenceIndex([corridor, square], point_skip_kinds=frozenset({"corridor"}))
    assert index.containing(9.005, 45.005) == (("s", "polygon"),)
    assert index.containing(9.015, 45.005) == ()
    lons, lats = np.array([9.005, 9.015]), np.array([45.005, 45.005])
    batch = index.containing_many(lons, lats)
    assert (batch.keys_of(0), batch.keys_of(1)) == ([("s", "polygon")], [])
    assert len(index) == 2 and index.get("c") is corridor
    assert index.corridor_distance_m("c", 9.015, 45.005) == pytest.approx(0.0, abs=1e-6)
    assert ("c", "enter") in index.segment_events(9.015, 45.01, 9.015, 45.005)
    wider = fence_from_geojson("c", line, half_width_m=80.0)
    index.apply([Upsert(wider), Remove("s")])
    assert index.containing(9.005, 45.005) == ()
    assert index.get("c") is wider and index.get("s") is None
    index.upsert(square)
    assert index.containing(9.005, 45.005) == (("s", "polygon"),)
