"""``tracker engine``'s process setup: shard lists and the collector's tuning."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Iterator

import pytest

from tracker.trips.worker.run import GC_THRESHOLDS, parse_shards, tune_gc


def test_shard_lists() -> None:
    assert parse_shards("all", 4) == (0, 1, 2, 3)
    assert parse_shards("0-2,5", 8) == (0, 1, 2, 5)
    assert parse_shards("3", 8) == (3,)
    for bad in ("8", "0-9", "-1"):
        with pytest.raises((argparse.ArgumentTypeError, ValueError)):
            parse_shards(bad, 8)


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_tune_gc_freezes_what_start_up_built_and_collects_less_often() -> None:
    built = [{"state": i} for i in range(1000)]
    frozen_before = gc.get_freeze_count()
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() >= frozen_before + len(built)
