"""The labelled scenario generator is deterministic and labels what it injects."""

from __future__ import annotations

import random

import pytest

from tracker.bench import detect as bench_detect
from tracker.sim.data import DataUnavailableError
from tracker.sim.scenario import truck_specs
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
