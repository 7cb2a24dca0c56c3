"""The public report form's API: limits and bad input (4xx naming the field), photos checked by
magic bytes and stripped of metadata, rate limits (429), and the receipt's status."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from clue_media import b64, jpeg_with_exif
from httpx import AsyncClient
from PIL import Image


def report(**changes: Any) -> dict[str, Any]:
    body = {
        "kind": "spilling",
        "text": "车厢未盖，沿路撒土",
        "lon": 108.366,
        "lat": 22.817,
        "accuracy_m": 12.0,
        "observed_at": (datetime.now(UTC) - timedelta(minutes=10)).isoformat(),
        "contact": "13800000000",
    }
    body.update(changes)
    return body


def url(code: str) -> str:
    return f"/api/v1/public/vehicles/{code}/clues"


async def test_a_report_gives_a_receipt_that_tells_only_the_status(
    clue_client: AsyncClient,
    vehicle_code: tuple[int, str],
    photos: dict[str, bytes],
    db: psycopg.Connection[Any],
) -> None:
    vehicle_id, code = vehicle_code
    body = report(photos=[b64(photos["jpeg"]), b64(photos["png"])])
    resp = await clue_client.post(url(code), json=body)
    assert resp.status_code == 201, resp.text
    receipt = resp.json()["receipt"]
    assert resp.json()["status"] == "new" and "id" not in resp.json()

    status = await clue_client.get(f"/api/v1/public/clues/{receipt}")
    assert status.status_code == 200, status.text
    assert set(status.json()) == {"status", "kind", "reported_at", "updated_at"}
    assert status.json()["status"] == "new" and status.json()["kind"] == "spilling"
    # lower case and without dashes is the same code
    again = await clue_client.get(f"/api/v1/public/clues/{receipt.replace('-', '').lower()}")
    assert again.status_code == 200

    row = db.execute("SELECT vehicle_id, source, source_addr, receipt_hash FROM clues").fetchone()
    assert row is not None and row[0] == vehicle_id and row[1] == "public"
    assert row[2] == "203.0.113.7" and receipt.encode() not in bytes(row[3])
    stored = db.execute("SELECT media_type, data FROM clue_photos ORDER BY n").fetchall()
    assert [m for m, _ in stored] == ["image/jpeg", "image/png"]
    jpeg, png = bytes(stored[0][1]), bytes(stored[1][1])
    assert b"Exif" in photos["jpeg"] and b"SecretCameraMaker" in photos["jpeg"]
    assert b"Exif" not in jpeg and b"SecretCameraMaker" not in jpeg and b"hello" not in jpeg
    assert b"SecretAuthor" in photos["png"] and b"SecretAuthor" not in png
    assert Image.open(io.BytesIO(jpeg)).size == (64, 48)  # still a picture
    Image.open(io.BytesIO(png)).load()
    audit = db.execute("SELECT actor, action FROM audit_log WHERE entity = 'clue'").fetchall()
    assert audit == [("public", "create")]


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"kind": "arson"}, 422, "kind"),
        ({"lon": 181.0}, 422, "lon"),
        ({"lat": None}, 422, "lat"),
        ({"observed_at": "2026-12-07T08:00:00"}, 422, "observed_at"),  # no zone
        ({"observed_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, 400, "observed_at"),
        ({"observed_at": (datetime.now(UTC) - timedelta(days=90)).isoformat()}, 400, "observed_at"),
        ({"text": "很" * 201}, 400, "text"),
        ({"text": "x" * 2001}, 422, "text"),
        ({"contact": "c" * 41}, 400, "contact"),
        ({"photos": ["bm90IGFuIGltYWdl"]}, 400, "photos.0"),  # "not an image"
        ({"photos": ["***"]}, 400, "photos.0"),
        ({"photos": ["R0lGODlhAQABAAAAACw="]}, 400, "photos.0"),  # a GIF: refused
        ({"photos": [b64(b"\xff\xd8\xff\xe0\x00\x10JFIF")]}, 400, "photos.0"),  # cut short
        ({"photos": [b64(jpeg_with_exif())] * 3}, 400, "photos"),
        ({"photos": [b64(jpeg_with_exif((900, 900)) + b"\0" * 70_000)]}, 413, "photos.0"),
        ({"secret": 1}, 422, "secret"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(
    clue_client: AsyncClient,
    vehicle_code: tuple[int, str],
    changes: dict[str, Any],
    status: int,
    field: str,
    db: psycopg.Connection[Any],
) -> None:
    _, code = vehicle_code
    resp = await clue_client.post(url(code), json=report(**changes))
    assert resp.status_code == status, resp.text
    assert resp.json()["field"] == field
    assert db.execute("SELECT count(*) FROM clues").fetchone() == (0,)


async def test_unknown_codes_receipts_and_oversized_bodies(
    clue_client: AsyncClient, vehicle_code: tuple[int, str]
) -> None:
    _, code = vehicle_code
    resp = await clue_client.post(url("0" * 32), json=report())
    assert resp.status_code == 404 and resp.json()["field"] == "code"
    resp = await clue_client.post(url("not-a-code"), json=report())
    assert resp.status_code == 404 and resp.json()["field"] == "code"
    big = report(photos=["A" * 300_000])
    resp = await clue_client.post(url(code), json=big)
    assert resp.status_code == 413 and resp.json()["field"] == "body"
    resp = await clue_client.get("/api/v1/public/clues/ABCD-EFGH-JKMN")
    assert resp.status_code == 404 and resp.json()["field"] == "receipt"
    resp = await clue_client.get("/api/v1/public/clues/ABCD-EFGH-JK1O")  # 1 and O: never used
    assert resp.status_code == 400 and resp.json()["field"] == "receipt"


async def test_reports_are_rate_limited_per_source_and_per_code(
    clue_client: AsyncClient, vehicle_code: tuple[int, str], settings: Any
) -> None:
    _, code = vehicle_code
    for _ in range(3):
        assert (await clue_client.post(url(code), json=report())).status_code == 201
    resp = await clue_client.post(url(code), json=report())
    assert resp.status_code == 429 and resp.json()["field"] == "source"
    assert int(resp.headers["Retry-After"]) > 0
    # other addresses still report, until the vehicle code's own limit (5)
    from httpx import ASGITransport

    app = clue_client._transport.app  # type: ignore[attr-defined]
    for n, expected in ((1, 201), (2, 201), (3, 429)):
        transport = ASGITransport(app=app, client=(f"198.51.100.{n}", 1000))
        async with AsyncClient(transport=transport, base_url="http://test") as other:
            resp = await other.post(url(code), json=report())
        assert resp.status_code == expected, resp.text
    assert resp.json()["field"] == "code"


async def test_receipt_lookups_are_rate_limited(
    clue_client: AsyncClient, vehicle_code: tuple[int, str]
) -> None:
    _, code = vehicle_code
    receipt = (await clue_client.post(url(code), json=report())).json()["receipt"]
    for _ in range(6):
        assert (await clue_client.get(f"/api/v1/public/clues/{receipt}")).status_code == 200
    resp = await clue_client.get(f"/api/v1/public/clues/{receipt}")
    assert resp.status_code == 429 and resp.json()["error"] == "rate_limited"
