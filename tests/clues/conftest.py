"""Clue fixtures: a client whose clue limits are small enough to reach in a test, a vehicle
with its public code, and photos made by Pillow (one with EXIF carrying a GPS position)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from clue_media import jpeg_with_exif, png_with_text
from httpx import ASGITransport, AsyncClient

from tracker.app import create_app, lifespan
from tracker.settings import ClueSettings, Settings

LIMITS = ClueSettings(
    reports_per_source=3, reports_per_code=5, lookups_per_source=6, max_photos=2,
    photo_bytes=64 * 1024, text_chars=200, contact_chars=40, body_bytes=256 * 1024,
)  # fmt: skip


@pytest.fixture
async def clue_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(settings.model_copy(update={"clues": LIMITS}))
    async with lifespan(app):
        transport = ASGITransport(app=app, client=("203.0.113.7", 4711))
        async with AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


@pytest.fixture
def vehicle_code(fleet: Any, db: psycopg.Connection[Any]) -> tuple[int, str]:
    vehicle_id, _ = fleet.truck("粤B-12345", "Haul & Sons")
    row = db.execute(
        "SELECT code FROM vehicle_codes WHERE vehicle_id = %s", (vehicle_id,)
    ).fetchone()
    assert row is not None
    return vehicle_id, str(row[0])


@pytest.fixture
def photos() -> dict[str, bytes]:
    return {"jpeg": jpeg_with_exif(), "png": png_with_text()}
