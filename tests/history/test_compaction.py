"""Finished days of pings get a compact index; their tracks stay the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient

from tracker.history.compaction import compact_finished_chunks


async def test_finished_day_is_compacted_and_reads_the_same(
    client: AsyncClient, fleet: Any, db: Any, database_url: str, staff: dict[str, str]
) -> None:
    vid, token = fleet.truck("C-001")
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    fixes = [
        {"time": (day + timedelta(minutes=i)).isoformat(), "lon": 7.42 + i * 1e-5, "lat": 43.73}
        for i in range(300)
    ]
    resp = await client.post(
        "/api/v1/positions", json={"fixes": fixes}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.json()["accepted"] == 300
    params = {"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat()}
    url = f"/api/v1/vehicles/{vid}/track"
    before = (await client.get(url, params=params, headers=staff)).json()
    chunk = db.execute(
        "SELECT format('%%I.%%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'pings' AND range_start = %s",
        (day,),
    ).fetchone()[0]
    assert chunk in compact_finished_chunks(database_url)
    assert chunk not in compact_finished_chunks(database_url), "compacted once"
    assert db.execute("SELECT count(*) FROM pings_compacted WHERE chunk = %s", (chunk,)).fetchone()
    after = (await client.get(url, params=params, headers=staff)).json()
    assert after == before and after["count"] == 300
