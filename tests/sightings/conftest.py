"""Checkpoints, camera systems and sightings start empty in every test of this folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest


@pytest.fixture(autouse=True)
def no_sightings(db: psycopg.Connection[Any], clean: None) -> Iterator[None]:
    db.execute("TRUNCATE sightings, checkpoints, camera_systems RESTART IDENTITY CASCADE")
    yield
