"""The engine's batch write: one ``save_events`` call leaves the rows that saving the same
events one by one leaves, though it merges each incident's events into one row."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from trips_world import Drive, haul_to_yard, incidents, load_at_site, run

from tracker.trips.core.events import (
    Event,
    IncidentClosed,
    IncidentRetracted,
    TripCompleted,
    TripStarted,
)
from tracker.trips.worker import repo

INCIDENT_COLUMNS = (
    "incident_id, type, vehicle_id, company_id, permit_id, trip_id, severity, opened_at, "
    "detected_at, ended_at, late, lon, lat, detail, evidence"
)
TRIP_COLUMNS = "trip_id, permit_id, origin_id, yard_id, loading_at, completed_at, volume_m3"


def a_day() -> list[Event]:
    """Two hauls: a 20 min stop on the way (dumping, escalated, closed) and a long detour."""
    d = load_at_site(Drive()).to(3000, 0, 40).stop(1200).to(5000, 0, 40)
    d = haul_to_yard(d).to(0, 0, 40)
    d = load_at_site(d).to(4000, 0, 40).to(4000, 1500, 30).stop(900, 20).to(4000, 0, 30)
    _, events = run(haul_to_yard(d).fixes)
    return events


async def _save(url: str, batches: list[list[Event]]) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for batch in batches:
            async with conn.transaction():
                await repo.save_events(conn, batch, {})


def _rows(db: psycopg.Connection[Any]) -> tuple[list[Any], list[Any]]:
    found = db.execute(f"SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY incident_id")
    trips = db.execute(f"SELECT {TRIP_COLUMNS} FROM trips ORDER BY trip_id")
    return found.fetchall(), trips.fetchall()


@pytest.mark.parametrize("staged", [False, True])
def test_one_batch_writes_what_event_by_event_writes(
    database_url: str,
    clean: None,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    staged: bool,
) -> None:
    """``staged``: the batch goes through the staging tables (``COPY`` then one upsert)."""
    events = a_day()
    kinds = incidents(events)
    per_incident: dict[str, int] = {}
    for ev in events:
        if hasattr(ev, "incident"):
            per_incident[ev.incident.incident_id] = per_incident.get(ev.incident.incident_id, 0) + 1
    assert max(per_incident.values()) >= 3, kinds  # opened, updated, closed in one batch
    assert any(isinstance(e, TripStarted) for e in events)
    assert any(isinstance(e, TripCompleted) for e in events)
    asyncio.run(_save(database_url, [[ev] for ev in events]))
    one_by_one = _rows(db)
    db.execute("TRUNCATE incidents, trips")
    monkeypatch.setattr(repo, "STAGE_MIN_ROWS", 1 if staged else 10**6)
    asyncio.run(_save(database_url, [events]))
    assert _rows(db) == one_by_one
    assert len(one_by_one[0]) == len(per_incident)


def test_checkpoints_round_trip_through_the_staging_table(
    database_url: str, clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repo, "STAGE_MIN_ROWS", 1)
    states = {}
    for vehicle_id, drive in ((1, load_at_site(Drive())), (2, Drive().to(3000, 0, 40))):
        state, _ = run(drive.fixes)
        state.vehicle_id = vehicle_id
        states[vehicle_id] = state

    async def save_twice_then_load() -> tuple[dict[int, Any], str | None]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            for position in ("1-0", "2-0"):  # the second batch updates every row
                async with conn.transaction():
                    checkpoints = [repo.Checkpoint(v, s, position) for v, s in states.items()]
                    await repo.save_checkpoints(conn, 3, position, checkpoints)
            return await repo.load_states(conn, 3), await repo.load_position(conn, 3)

    loaded, position = asyncio.run(save_twice_then_load())
    assert position == "2-0"
    assert {v: s.to_dict() for v, s in loaded.items()} == {
        v: s.to_dict() for v, s in states.items()
    }


def test_a_retraction_marks_the_stored_incident_and_keeps_its_detail(
    database_url: str, clean: None, db: psycopg.Connection[Any]
) -> None:
    events = a_day()
    closed = next(e for e in events if isinstance(e, IncidentClosed))
    asyncio.run(_save(database_url, [events]))
    before = db.execute(
        "SELECT detail FROM incidents WHERE incident_id = %s", (closed.incident.incident_id,)
    ).fetchone()
    assert before is not None and "retracted" not in before[0]
    later = closed.time + timedelta(minutes=5)
    retraction = IncidentRetracted(later, True, closed.incident.incident_id, 1)
    asyncio.run(_save(database_url, [[retraction]]))
    after = db.execute(
        "SELECT detail FROM incidents WHERE incident_id = %s", (closed.incident.incident_id,)
    ).fetchone()
    assert after is not None
    assert after[0] == {**before[0], "retracted": True, "retracted_at": _z(later)}


def _z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")
