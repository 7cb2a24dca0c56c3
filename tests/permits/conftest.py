"""Fixtures for permit tests (the world itself is in permit_world.py)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from permit_world import World, make_world


@pytest.fixture
async def world(client: AsyncClient, staff: dict[str, str]) -> World:
    return await make_world(client, staff)
