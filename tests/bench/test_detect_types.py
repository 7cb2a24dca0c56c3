"""Labelled ground truth for every incident type (``tracker.bench.detect_types``)."""

from __future__ import annotations

import random

import pytest

from tracker.bench import detect as bench_detect
from tracker.bench import detect_types
from tracker.sim.data import DataUnavailableError
from tracker.sim.scenario import truck_specs
from tracker.trips.core import INCIDENT_TYPES

HOURS = 4.0


@pytest.fixture(scope="module")
def world() -> bench_detect.World:
    try:
        return bench_detect.load_world()
    except DataUnavailableError as exc:  # pragma: no cover - offline without the extract
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def typed(world: bench_detect.World) -> detect_types.TypesWorld:
    return detect_types.types_world(world, bench_detect.DAY_START, bench_detect.UTC_OFFSET_MIN)


def _day(
    world: bench_detect.World, typed: detect_types.TypesWorld | None, seed: int = 5
) -> list[tuple[str | None, bench_detect.TruckRun]]:
    rng = random.Random(seed)
    specs = truck_specs(world, len(detect_types.KINDS) * detect_types.TRUCKS_PER_KIND, HOURS, rng)
    kinds = detect_types.plan([s.vehicle_id for s in specs], seed)
    out = []
    for spec in specs:
        kind = kinds.get(spec.vehicle_id) if typed is not None else None
        run = bench_detect.generate_truck(
            world, spec, HOURS, rng.getrandbits(64), "normal", typed, kind
        )
        out.append((kind, run))
    return out


def test_every_kind_planned_twice_from_its_own_stream() -> None:
    kinds = detect_types.plan(list(range(1, 41)), 7)
    assert sorted(kinds.values()) == sorted(detect_types.KINDS * detect_types.TRUCKS_PER_KIND)
    assert kinds == detect_types.plan(list(range(1, 41)), 7)
    assert kinds != detect_types.plan(list(range(1, 41)), 8)


def test_every_incident_type_is_labelled(
    world: bench_detect.World, typed: detect_types.TypesWorld
) -> None:
    runs = _day(world, typed)
    labelled = {lb.type for _, run in runs for lb in run.labels}
    assert set(detect_types.KINDS) <= labelled
    for kind, run in runs:
        for lb in run.labels:
            assert lb.type in INCIDENT_TYPES
            assert lb.start_s <= lb.detectable_s and lb.start_s <= lb.end_s
            if lb.type in detect_types.KINDS and lb.type != "no_go_zone":
                assert lb.type == kind  # the context types only on their trucks
        if kind == "no_permit":
            assert run.ctx.permits == ()
            assert not {lb.type for lb in run.labels} & set(detect_types.NEEDS_PERMIT)
        if kind == "uncovered":
            fixes = [f for _, fs in run.batches for f in fs]
            assert run.ctx.sensors.has_cover and {f.cover_closed for f in fixes} == {True, False}


def test_other_trucks_keep_their_day(
    world: bench_detect.World, typed: detect_types.TypesWorld
) -> None:
    """A truck with no kind drives, reports and is labelled as without the extra types (but
    for no-go zone labels, should its road cross the zone)."""
    plain = _day(world, None)
    for (kind, run), (_, before) in zip(_day(world, typed), plain, strict=True):
        if kind is not None:
            continue
        fixes = [(f.fix_time, f.lon, f.lat) for _, fs in run.batches for f in fs]
        assert fixes == [(f.fix_time, f.lon, f.lat) for _, fs in before.batches for f in fs]
        assert [lb for lb in run.labels if lb.type != "no_go_zone"] == before.labels
