"""A sighting against its terminal, after the grace period: silent or far is tampering (with
both kinds of evidence), a terminal whose held-back fixes arrive in time is not."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from httpx import AsyncClient
from pypdf import PdfReader
from sighting_world import CP_LAT, CP_LON, NOW, World, sighting

from tracker.evidence.verify import verify_pack
from tracker.geo import offset
from tracker.maintenance import MaintenanceRunner
from tracker.sightings.findings import review_due

SEEN = NOW - timedelta(minutes=2)


def after_grace() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=300 + 601)  # the window's end, then the grace


def fixes(east_m: float, *offsets_s: int) -> list[dict[str, Any]]:
    lon, lat = offset(CP_LON, CP_LAT, east_m, 0.0)
    return [
        {"time": (SEEN + timedelta(seconds=s)).isoformat(), "lon": lon, "lat": lat}
        for s in offsets_s
    ]


async def send_fixes(client: AsyncClient, token: str, batch: list[dict[str, Any]]) -> None:
    sent = await client.post(
        "/api/v1/positions", json={"fixes": batch}, headers={"Authorization": f"Bearer {token}"}
    )
    assert sent.status_code == 200, sent.text
    assert all(r["status"] == "stored" for r in sent.json()["results"]), sent.text


async def review(client: AsyncClient, now: Any) -> int:
    platform = client.app.state.platform  # type: ignore[attr-defined]
    async with platform.pool.connection() as conn:
        return await review_due(conn, now, platform.settings)


async def seen_truck(client: AsyncClient, db: psycopg.Connection[Any]) -> tuple[World, int, str]:
    w = await World(client, db).build()
    vehicle_id, company_id, token = w.truck("桂A12345")
    w.permit(vehicle_id, company_id)
    return w, vehicle_id, token


async def test_a_silent_terminal_is_tampering_once_the_grace_period_is_over(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w, vehicle_id, _ = await seen_truck(client, db)
    await w.post(w.camera_a, sighting("桂A12345", w.checkpoint_id, time=SEEN.isoformat()))
    assert await review(client, NOW + timedelta(seconds=600)) == 0  # within the grace period
    assert w.incidents() == []
    assert await review(client, after_grace()) == 1
    assert await review(client, after_grace()) == 0  # reviewed once
    [incident] = w.incidents()
    assert incident["type"] == "terminal_tampering" and incident["vehicle_id"] == vehicle_id
    assert incident["detail"]["reason"] == "sighting_contradiction"
    assert incident["detail"]["kind"] == "silent"
    assert incident["detail"]["terminal_fixes"] == []
    assert incident["detail"]["sighting"]["plate"] == "桂A12345"


async def test_a_terminal_far_from_the_checkpoint_is_tampering_with_both_evidences(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w, _, token = await seen_truck(client, db)
    await send_fixes(client, token, fixes(8000, -60, -30, 0, 30))
    await w.post(w.camera_a, sighting("桂A12345", w.checkpoint_id, time=SEEN.isoformat()))
    assert await review(client, after_grace()) == 1
    [incident] = w.incidents()
    assert incident["detail"]["kind"] == "far"
    assert incident["detail"]["distance_m"] > 7900
    assert len(incident["detail"]["terminal_fixes"]) == 4
    sources = [f["properties"]["source"] for f in incident["evidence"]["features"]]
    assert sources == ["sighting", "terminal", "terminal", "terminal", "terminal"]
    listed = await client.get(
        "/api/v1/sightings",
        params={"plate": "桂A12345"},
        headers={"Authorization": "Bearer test-staff"},
    )
    [seen] = listed.json()
    assert seen["reviewed_at"] is not None and seen["findings"][0]["kind"] == "far"


async def test_a_terminal_at_the_checkpoint_raises_nothing(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w, _, token = await seen_truck(client, db)
    await send_fixes(client, token, fixes(150, -40, -10, 20))
    await w.post(w.camera_a, sighting("桂A12345", w.checkpoint_id, time=SEEN.isoformat()))
    assert await review(client, after_grace()) == 1
    assert w.incidents() == []


async def test_held_back_fixes_arriving_in_the_grace_period_leave_no_false_alarm(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w, _, token = await seen_truck(client, db)
    await w.post(w.camera_a, sighting("桂A12345", w.checkpoint_id, time=SEEN.isoformat()))
    # silent when the camera reported; nothing is raised before the grace period ends
    assert await review(client, NOW + timedelta(seconds=30)) == 0
    await send_fixes(client, token, fixes(100, -90, -60, -30, 0, 30))  # the late batch
    assert await review(client, after_grace()) == 1
    assert w.incidents() == []


async def test_the_maintenance_round_reviews_due_sightings(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w, _, _ = await seen_truck(client, db)
    platform = client.app.state.platform  # type: ignore[attr-defined]
    platform.settings.sightings.grace_s = 0.0
    past_window = (NOW - timedelta(minutes=10)).isoformat()  # its window is over: due now
    await w.post(w.camera_a, sighting("桂A12345", w.checkpoint_id, time=past_window))
    runner = MaintenanceRunner(
        platform.settings, platform.pool, platform.redis, ["sighting-review"]
    )
    assert await runner.run_once() == {"sighting-review": 1}
    assert [i["type"] for i in w.incidents()] == ["terminal_tampering"]


async def test_the_evidence_pack_shows_the_sighting_and_the_terminal(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w, _, token = await seen_truck(client, db)
    await send_fixes(client, token, fixes(8000, -60, -30, 0, 30))
    await w.post(w.camera_a, sighting("桂A12345", w.checkpoint_id, time=SEEN.isoformat()))
    await w.post(w.camera_a, sighting("桂B54321", w.checkpoint_id))  # unregistered
    await review(client, after_grace())
    staff = {"Authorization": "Bearer test-staff"}
    for incident in w.incidents():
        resp = await client.get(f"/api/v1/incidents/{incident['incident_id']}/pack", headers=staff)
        assert resp.status_code == 200, resp.text
        assert verify_pack(resp.content).ok
        with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
            geo = orjson.loads(zf.read("evidence.geojson"))
            pages = PdfReader(io.BytesIO(zf.read("case.pdf"))).pages
            text = "".join(p.extract_text() for p in pages)
        sources = [f["properties"].get("source") for f in geo["features"]]
        assert "卡点抓拍" in text and "大沙田卡点" in text, text
        if incident["type"] == "terminal_tampering":
            assert sources.count("sighting") == 1 and sources.count("terminal") == 4
            assert "桂A12345" in text and "超出合理距离" in text
        else:
            assert incident["type"] == "unregistered_vehicle"
            assert sources == ["sighting"] and "桂B54321" in text


async def test_an_engine_incidents_pack_shows_the_sightings_meanwhile(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w, vehicle_id, _ = await seen_truck(client, db)
    db.execute(
        "INSERT INTO incidents (incident_id, type, vehicle_id, opened_at, detected_at, lon, lat) "
        "VALUES ('engine-1', 'terminal_offline', %s, %s, %s, %s, %s)",
        (vehicle_id, SEEN - timedelta(minutes=5), SEEN, CP_LON, CP_LAT),
    )
    await w.post(w.camera_a, sighting("桂A12345", w.checkpoint_id, time=SEEN.isoformat()))
    staff = {"Authorization": "Bearer test-staff"}
    resp = await client.get("/api/v1/incidents/engine-1/pack", headers=staff)
    assert resp.status_code == 200, resp.text
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        geo = orjson.loads(zf.read("evidence.geojson"))
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(zf.read("case.pdf"))).pages)
    assert "同一时段卡点抓拍" in text and "大沙田卡点" in text, text
    seen = [f for f in geo["features"] if f["properties"].get("source") == "sighting"]
    assert len(seen) == 1 and seen[0]["geometry"]["coordinates"] == [CP_LON, CP_LAT]
