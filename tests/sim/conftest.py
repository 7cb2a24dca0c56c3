"""Fixtures for the simulator tests: the Monaco extract, fetched once into the data folder.

Map data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tracker.roads.network import LanduseArea, RoadNetwork, load_landuse
from tracker.sim.data import DataUnavailableError, ensure_monaco_pbf
from tracker.sim.places import Place, demo_places

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def monaco_pbf() -> Path:
    data_dir = Path(os.environ.get("TRACKER_DATA_DIR", REPO / ".data"))
    try:
        return ensure_monaco_pbf(data_dir)
    except DataUnavailableError as exc:
        pytest.skip(f"Monaco extract unavailable (no package index reachable?): {exc}")


@pytest.fixture(scope="session")
def monaco(monaco_pbf: Path) -> RoadNetwork:
    return RoadNetwork.from_pbf(monaco_pbf)


@pytest.fixture(scope="session")
def monaco_landuse(monaco_pbf: Path) -> list[LanduseArea]:
    return load_landuse(monaco_pbf)


@pytest.fixture(scope="session")
def monaco_places(
    monaco: RoadNetwork, monaco_landuse: list[LanduseArea]
) -> tuple[list[Place], Place]:
    return demo_places(monaco, monaco_landuse)
