"""Issue 6 acceptance: a completed trip moves the yard's fill by the trip's volume exactly once,
also when the engine replays after a restart. Real pipeline: positions through the API, the
stream, ``tracker engine`` as a subprocess, the trigger on ``trips``."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from engine_process import EngineProcess, wait_consumed, wait_published
from httpx import AsyncClient

SITE_LON, YARD_LON, LAT = 7.411, 7.431, 43.731
TODAY = datetime.now(UTC).date()


def box(lon: float, lat: float, size: float = 0.002) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def hauls(start: datetime, trips: int) -> list[dict[str, Any]]:
    """Clean hauls: load at the site, drive the corridor, unload in the yard, drive back."""
    points: list[tuple[float, float]] = []
    for _ in range(trips):
        points += [(SITE_LON, 0.0)] * 15
        points += [(SITE_LON + (YARD_LON - SITE_LON) * i / 16, 36.0) for i in range(1, 17)]
        points += [(YARD_LON, 0.0)] * 15
        points += [(YARD_LON - (YARD_LON - SITE_LON) * i / 8, 36.0) for i in range(1, 9)]
    return [
        {"time": (start + timedelta(seconds=10 * i)).isoformat(), "lon": round(lon, 7),
         "lat": LAT, "speed_kmh": speed}
        for i, (lon, speed) in enumerate(points)
    ]  # fmt: skip


@pytest.fixture
def engine(
    database_url: str, redis_url: str, tmp_path: Path, clean: None
) -> Iterator[EngineProcess]:
    e = EngineProcess(database_url, redis_url, tmp_path / "engine.log")
    yield e
    e.stop(signal.SIGKILL)


async def test_engine_replay_after_restart_books_each_trip_once(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
    rdb: redis.Redis,
    engine: EngineProcess,
) -> None:
    trucks = [fleet.truck(f"R-{i}") for i in range(2)]
    vids = [vid for vid, _ in trucks]
    company_id = db.execute("SELECT company_id FROM vehicles WHERE id = %s", (vids[0],)).fetchone()

    async def post(path: str, body: Any = None) -> Any:
        resp = await client.post(f"/api/v1{path}", json=body, headers=staff)
        assert resp.status_code in (200, 201), resp.text
        return resp.json()

    site = await post("/sites", {"name": "Tower", "kind": "construction",
                                 "geometry": box(7.410, 43.730)})  # fmt: skip
    yard = await post("/yards", {"name": "East", "capacity_m3": 5000,
                                 "geometry": box(7.430, 43.730)})  # fmt: skip
    line = {"type": "LineString", "coordinates": [[SITE_LON, LAT], [YARD_LON, LAT]]}
    permit = await post("/permits", {
        "company_id": company_id[0] if company_id else None, "vehicle_ids": vids,
        "site_ids": [site["id"]], "yard_ids": [yard["id"]],
        "corridors": [{"geometry": line, "half_width_m": 30}],
        "valid_from": (TODAY - timedelta(days=1)).isoformat(),
        "valid_to": (TODAY + timedelta(days=30)).isoformat(),
        "windows": [{"start": "00:00", "end": "23:59"}], "quota_m3": 1000,
    })  # fmt: skip
    await post(f"/permits/{permit['id']}/submit")
    await post(f"/permits/{permit['id']}/approve")

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    posts = 0
    for _, token in trucks:
        fixes = hauls(start, 2)
        for i in range(0, len(fixes), 20):
            resp = await client.post("/api/v1/positions", json={"fixes": fixes[i : i + 20]},
                                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert resp.status_code == 200, resp.text
            posts += 1
    await wait_published(rdb, posts)
    engine.start()
    await wait_consumed(db, rdb, posts, timeout_s=60)
    engine.stop()

    trips = db.execute(
        "SELECT trip_id, volume_m3, updated_at FROM trips WHERE outcome = 'yard' "
        "AND completed_at IS NOT NULL ORDER BY trip_id"
    ).fetchall()
    assert len(trips) == 4, trips  # two hauls per truck
    ledger_sql = "SELECT trip_id, volume_m3::float8, yard_id FROM yard_ledger ORDER BY trip_id"
    ledger = db.execute(ledger_sql).fetchall()
    assert [r[0] for r in ledger] == [t[0] for t in trips]
    assert all(r[1] == 16.0 and r[2] == yard["id"] for r in ledger)  # the rated volume
    fill = db.execute("SELECT yard_fill_m3(%s)::float8", (yard["id"],)).fetchone()
    assert fill == (64.0,)

    # restart with no checkpoints: the engine replays every entry and re-upserts every trip
    db.execute("TRUNCATE engine_checkpoints, engine_shards")
    engine.start()
    await wait_consumed(db, rdb, posts, timeout_s=60)
    engine.stop()
    replayed = db.execute(
        "SELECT trip_id, volume_m3, updated_at FROM trips WHERE outcome = 'yard' ORDER BY trip_id"
    ).fetchall()
    assert [t[:2] for t in replayed] == [t[:2] for t in trips]
    assert all(after[2] > before[2] for after, before in zip(replayed, trips, strict=True))
    assert db.execute(ledger_sql).fetchall() == ledger
    assert db.execute("SELECT yard_fill_m3(%s)::float8", (yard["id"],)).fetchone() == fill
    capacity = (await client.get(f"/api/v1/yards/{yard['id']}/capacity", headers=staff)).json()
    assert capacity["fill_m3"] == 64.0 and capacity["history"][-1]["fill_m3"] == 64.0
