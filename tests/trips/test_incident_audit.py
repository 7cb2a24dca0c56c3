"""An officer's move of an incident is audited with the incident's id (``entity_key``)."""

from __future__ import annotations

from typing import Any

import psycopg
from httpx import AsyncClient


async def test_incident_audit_rows_name_the_incident(
    client: AsyncClient, staff: dict[str, str], db: psycopg.Connection[Any], accounts: Any
) -> None:
    incident_id = "7:dumping:1700000000000000"
    db.execute(
        "INSERT INTO incidents (incident_id, type, vehicle_id, opened_at, detected_at)"
        " VALUES (%s, 'dumping', 7, now() - interval '1 hour', now() - interval '1 hour')",
        (incident_id,),
    )
    officer = accounts.headers("enforcement_officer")
    moved = await client.post(
        f"/api/v1/incidents/{incident_id}/confirm", json={"note": "seen"}, headers=officer
    )
    assert moved.status_code == 200, moved.text
    rows = db.execute(
        "SELECT entity_key FROM audit_log WHERE entity = 'incident' AND action = 'incident.confirm'"
    ).fetchall()
    assert rows == [(incident_id,)]
    found = await client.get(
        "/api/v1/audit", params={"entity": "incident", "entity_key": incident_id}, headers=staff
    )
    assert [(e["action"], e["entity_key"]) for e in found.json()] == [
        ("incident.confirm", incident_id)
    ]
    other = await client.get(
        "/api/v1/audit", params={"entity": "incident", "entity_key": "8:x:1"}, headers=staff
    )
    assert other.json() == []
