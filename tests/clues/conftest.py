"""Clue fixtures: a client whose clue limits are small enough to reach in a test, a vehicle
with its public code, and photos made by Pillow (one with EXIF carrying a GPS position)."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from httpx import ASGITransport, AsyncClient
from PIL import Image

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


def jpeg_with_exif(size: tuple[int, int] = (64, 48)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"  # Make
    exif[0x8825] = {2: (22.0, 32.0, 10.0), 1: "N"}  # GPS IFD: a latitude
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, "JPEG", exif=exif, comment=b"hello")
    return out.getvalue()


def png_with_text() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "SecretAuthor")
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 40)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def photos() -> dict[str, bytes]:
    return {"jpeg": jpeg_with_exif(), "png": png_with_text()}
