"""The labelled scenario generator is deterministic and labels what it injects."""

from __future__ import annotations

import itertools
import math
import random

import pytest
import shapely

from tracker.bench import detect as bench_detect
from tracker.sim.data import DataUnavailableError
from tracker.sim.motion import DrivingConfig
from tracker.sim.places import Place
from tracker.sim.scenario import (
    HARD_WEIGHTS,
    NEAR_GATE_M,
    PLACE_MARGIN_M,
    ScenarioMotion,
    truck_specs,
)
from tracker.trips.core import INCIDENT_TYPES


@pytest.fixture(scope="module")
def world() -> bench_detect.World:
    try:
        return bench_detect.load_world()
    except DataUnavailableError as exc:  # pragma: no cover - offline without the extract
        pytest.skip(str(exc))


def _day(world: bench_detect.World) -> list[bench_detect.TruckRun]:
    rng = random.Random(3)
    specs = truck_specs(world, 3, 2.0, rng)
    return [bench_detect.generate_truck(world, s, 2.0, rng.getrandbits(64)) for s in specs]


def test_generator_is_deterministic(world: bench_detect.World) -> None:
    a, b = _day(world), _day(world)
    assert [r.labels for r in a] == [r.labels for r in b]
    fixes_a = [(f.fix_time, f.lon, f.lat) for r in a for _, fs in r.batches for f in fs]
    fixes_b = [(f.fix_time, f.lon, f.lat) for r in b for _, fs in r.batches for f in fs]
    assert fixes_a == fixes_b and fixes_a


def test_labels_are_well_formed(world: bench_detect.World) -> None:
    runs = _day(world)
    labels = [lb for r in runs for lb in r.labels]
    assert labels
    for run in runs:
        for lb in run.labels:
            assert lb.vehicle_id == run.spec.vehicle_id
            assert lb.start_s <= lb.detectable_s and lb.start_s <= lb.end_s
            assert lb.type in INCIDENT_TYPES


def test_silences_leave_no_fixes(world: bench_detect.World) -> None:
    for run in _day(world):
        for lb in (x for x in run.labels if x.type == "terminal_offline"):
            times = [
                (f.fix_time - bench_detect.DAY_START).total_seconds()
                for _, fs in run.batches
                for f in fs
            ]
            if lb.kind == "gap":  # a gap between two delivered fixes, labelled from them
                assert not any(lb.start_s < t < lb.end_s for t in times)
                assert lb.end_s - lb.start_s >= 300.0
            else:
                assert not any(lb.start_s <= t <= lb.end_s for t in times)


def _hard_day(world: bench_detect.World, n: int = 20) -> list[bench_detect.TruckRun]:
    rng = random.Random(6)
    specs = truck_specs(world, n, 4.0, rng)
    return [bench_detect.generate_truck(world, s, 4.0, rng.getrandbits(64), "hard") for s in specs]


def test_hard_profile_injects_the_evasions(world: bench_detect.World) -> None:
    runs = _hard_day(world)
    kinds = {lb.kind for r in runs for lb in r.labels}
    assert "terminal_tampering" in kinds  # terminals cut at the site exit
    assert "dumping" in kinds
    for run in runs:
        times = [
            (f.fix_time - bench_detect.DAY_START).total_seconds()
            for _, fs in run.batches
            for f in fs
        ]
        for lb in (x for x in run.labels if x.type == "terminal_tampering"):
            assert not any(lb.start_s <= t <= lb.end_s for t in times)  # silent from the exit
            assert lb.end_s - lb.start_s >= 600.0
        for lb in run.labels:
            assert lb.type in INCIDENT_TYPES
    # About 30 % of the terminals report every 60 s.
    slow = 0
    for run in runs:
        fixes = sorted(f.fix_time for _, fs in run.batches for f in fs)
        steps = sorted((b - a).total_seconds() for a, b in itertools.pairwise(fixes))
        slow += steps[len(steps) // 2] >= 55.0
    assert 2 <= slow <= 12


def test_hard_profile_near_gate_dumps_are_near_the_fence(world: bench_detect.World) -> None:
    for spec in truck_specs(world, 4, 4.0, random.Random(1)):
        motion = ScenarioMotion(world, spec, random.Random(9), DrivingConfig(), HARD_WEIGHTS)
        near = motion._near_gate()
        if near is None:
            continue
        site = spec.site

        def local(lon: float, lat: float, site: Place = site) -> tuple[float, float]:
            k = math.radians(1.0) * 6_371_008.8
            kx = k * math.cos(math.radians(site.dwell_lat))
            return (lon - site.dwell_lon) * kx, (lat - site.dwell_lat) * k

        polygon = shapely.Polygon([local(x, y) for x, y in site.polygon.exterior.coords])
        distance_m = polygon.distance(shapely.Point(local(near.dwell_lon, near.dwell_lat)))
        # 60-150 m from the fence, which is the OSM polygon grown by PLACE_MARGIN_M.
        assert NEAR_GATE_M[0] - 1 <= distance_m - PLACE_MARGIN_M <= NEAR_GATE_M[1] + 1
