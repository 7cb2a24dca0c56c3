from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import Point

from tracker.roads.network import RoadNetwork, haversine_m
from tracker.sim.fleet import Fleet
from tracker.sim.places import Place
from tracker.sim.terminal import FixDict, OutgoingBatch, TerminalConfig

START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
Places = tuple[list[Place], Place]


def run(
    network: RoadNetwork,
    places: Places,
    *,
    hours: float = 3.0,
    seed: int = 7,
    n_trucks: int = 4,
    terminal: TerminalConfig | None = None,
    step_s: float = 600.0,
) -> tuple[Fleet, list[OutgoingBatch]]:
    sites, yard = places
    fleet = Fleet(
        network,
        sites,
        yard,
        n_trucks,
        random.Random(seed),
        START,
        terminal=terminal,
        record_truth=True,
    )
    batches: list[OutgoingBatch] = []
    t = START
    while t < START + timedelta(hours=hours):
        t = min(t + timedelta(seconds=step_s), START + timedelta(hours=hours))
        batches.extend(fleet.advance(t))
    return fleet, batches


def fixes_of(batches: list[OutgoingBatch], truck: int) -> list[FixDict]:
    return [f for b in batches if b.truck == truck for f in b.fixes]


def parse(fix: FixDict) -> datetime:
    return datetime.fromisoformat(str(fix["time"]))


def test_wire_format(monaco: RoadNetwork, monaco_places: Places) -> None:
    _, batches = run(monaco, monaco_places, hours=0.5)
    fix = batches[0].fixes[0]
    assert set(fix) == {
        "time", "lon", "lat", "speed_kmh", "heading_deg", "altitude_m", "satellites", "hdop",
        "valid", "ignition", "loaded", "body_lifted", "cover_closed",
    }  # fmt: skip
    assert str(fix["time"]).endswith("Z")
    assert parse(fix).tzinfo is not None
    assert all(b.send_time >= parse(f) for b in batches for f in b.fixes)
    assert [b.send_time for b in batches] == sorted(b.send_time for b in batches)


def test_clean_fixes_are_in_order_at_10_to_30_s(monaco: RoadNetwork, monaco_places: Places) -> None:
    _, batches = run(monaco, monaco_places, terminal=TerminalConfig.clean())
    for truck in range(4):
        times = [parse(f) for f in fixes_of(batches, truck)]
        gaps_s = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert len(times) > 300
        assert all(10 <= g <= 30 for g in gaps_s)


def test_noise_is_within_bounds(monaco: RoadNetwork, monaco_places: Places) -> None:
    fleet, batches = run(monaco, monaco_places, terminal=TerminalConfig.clean())
    errors_m = []
    for b in batches:
        for f in b.fixes:
            truth = fleet.truth(b.truck, str(f["time"]))
            assert truth is not None
            errors_m.append(haversine_m(*truth, float(f["lon"]), float(f["lat"])))  # type: ignore[arg-type]
    assert max(errors_m) <= 2.5 * 15.0 + 0.1
    rms_m = math.sqrt(sum(e * e for e in errors_m) / len(errors_m))
    assert 5.0 <= rms_m <= 15.0


def test_loaded_flips_at_the_site_and_the_yard(monaco: RoadNetwork, monaco_places: Places) -> None:
    sites, yard = monaco_places
    fleet, batches = run(monaco, monaco_places, terminal=TerminalConfig.clean(), hours=4.0)
    near_m = 100.0

    def distance_m(place: Place, lon: float, lat: float) -> float:
        nearest = place.polygon.exterior.interpolate(
            place.polygon.exterior.project(Point(lon, lat))
        )
        return (
            0.0
            if place.polygon.contains(Point(lon, lat))
            else haversine_m(lon, lat, nearest.x, nearest.y)
        )

    loads = unloads = lifts = 0
    for truck in range(4):
        fixes = fixes_of(batches, truck)
        for prev, fix in itertools.pairwise(fixes):
            lon, lat = float(fix["lon"]), float(fix["lat"])  # type: ignore[arg-type]
            # The last fix before a flip was taken while standing at the place.
            was_lon, was_lat = float(prev["lon"]), float(prev["lat"])  # type: ignore[arg-type]
            if fix["body_lifted"]:
                lifts += 1
                assert fix["loaded"] and not fix["cover_closed"]
                assert distance_m(yard, lon, lat) < near_m
            if not prev["loaded"] and fix["loaded"]:
                loads += 1
                assert min(distance_m(s, was_lon, was_lat) for s in sites) < near_m
            if prev["loaded"] and not fix["loaded"]:
                unloads += 1
                assert distance_m(yard, was_lon, was_lat) < near_m
            assert fix["cover_closed"] == (fix["loaded"] and not fix["body_lifted"])
    assert loads >= 8 and unloads >= 8 and lifts >= 8
    assert sum(t.motion.trips for t in fleet.trucks) >= 8


def test_noise_features_appear(monaco: RoadNetwork, monaco_places: Places) -> None:
    terminal = replace(TerminalConfig(), gap_prob=0.01, duplicate_prob=0.02, late_prob=0.02)
    _, batches = run(monaco, monaco_places, terminal=terminal)
    assert any(b.late for b in batches)
    duplicates = out_of_order = long_gaps = 0
    for truck in range(4):
        times = [parse(f) for f in fixes_of(batches, truck)]
        duplicates += len(times) - len(set(times))
        out_of_order += sum(1 for a, b in itertools.pairwise(times) if b < a)
        unique = sorted(set(times))
        long_gaps += sum(1 for a, b in itertools.pairwise(unique) if (b - a).total_seconds() >= 60)
    assert duplicates > 0 and out_of_order > 0 and long_gaps > 0
    for truck in range(4):  # apart from late batches and resent fixes, in time order
        mine = [b for b in batches if b.truck == truck]
        late = {parse(f) for b in mine if b.late for f in b.fixes}
        sent = [parse(f) for b in mine for f in b.fixes if parse(f) not in late]
        first_seen = list(dict.fromkeys(sent))
        assert first_seen == sorted(first_seen)


def test_same_seed_same_output_regardless_of_slicing(
    monaco: RoadNetwork, monaco_places: Places
) -> None:
    _, first = run(monaco, monaco_places, hours=1.0, seed=3, step_s=600.0)
    _, second = run(monaco, monaco_places, hours=1.0, seed=3, step_s=37.0)
    _, other = run(monaco, monaco_places, hours=1.0, seed=4)
    assert first == second
    assert first != other


def test_naive_start_time_is_refused(monaco: RoadNetwork, monaco_places: Places) -> None:
    sites, yard = monaco_places
    with pytest.raises(ValueError, match="timezone"):
        Fleet(monaco, sites, yard, 1, random.Random(1), datetime(2026, 1, 1))
