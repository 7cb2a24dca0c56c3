"""Fixtures for case tests (the world itself is in case_world.py)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from case_world import World, make_world
from httpx import AsyncClient


@pytest.fixture
async def world(client: AsyncClient, db: psycopg.Connection[Any], staff: dict[str, str]) -> World:
    db.execute(
        "TRUNCATE case_notices, case_events, cases, units, jurisdictions RESTART IDENTITY CASCADE"
    )
    return await make_world(client, db, staff)
