"""Periodic case rounds (tracker.maintenance): overdue escalation, and opening cases for the
engine's incidents of the types the city chose.

Escalation: a case still open past its stage's deadline is flagged once per stage (the next move
clears the flag), its event chained, an audit row written (actor ``system``) and its unit told
through tracker.cases.notify. Rows are taken ``FOR UPDATE SKIP LOCKED``: two processes running
the round at once escalate each case once. ``now`` is a parameter: tests move the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

from tracker.accounts import repo as audit
from tracker.accounts.models import BOOTSTRAP, SYSTEM, Principal
from tracker.cases import repo, service, taxonomy
from tracker.cases.machine import OPEN_STATES, Deadlines
from tracker.cases.notify import notify

AConn = psycopg.AsyncConnection[Any]


async def escalate_overdue(conn: AConn, now: datetime, limit: int = 500) -> list[int]:
    """Escalate up to ``limit`` overdue cases; their ids."""
    done: list[int] = []
    async with conn.transaction():
        cur = await conn.execute(
            """SELECT id FROM cases
                WHERE due_at < %s AND escalated_at IS NULL AND state = ANY(%s)
                ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED""",
            (now, sorted(OPEN_STATES), limit),
        )
        for (case_id,) in await cur.fetchall():
            case = await repo.load(conn, int(case_id), BOOTSTRAP)
            assert case is not None
            await repo.update(conn, case["id"], {"escalated_at": now})
            overdue_s = (now - case["due_at"]).total_seconds()
            event = {
                "action": "escalate", "at": repo.iso(now),
                "actor": {"username": "system", "user_id": None, "role": "admin"},
                "from": case["state"], "to": case["state"],
                "detail": {"due_at": repo.iso(case["due_at"]), "overdue_s": round(overdue_s, 3)},
            }  # fmt: skip
            await repo.append_event(conn, case["id"], event)
            after = {"state": case["state"], "escalated_at": now, "due_at": case["due_at"]}
            await audit.record(conn, SYSTEM, "case.escalate", "case", case["id"], None, after)
            await notify(conn, case, "escalation", now, event["detail"])
            done.append(case["id"])
    return done


async def open_for_incidents(
    conn: AConn, types: Sequence[str], now: datetime, d: Deadlines, limit: int = 500
) -> list[int]:
    """Open a case for each incident of ``types`` without one (idempotent by source)."""
    if not types:
        return []
    cur = await conn.execute(
        """SELECT i.incident_id, i.type, i.vehicle_id, i.company_id, i.lon, i.lat
             FROM incidents i
            WHERE i.type = ANY(%s) AND i.status IN ('open', 'confirmed')
              AND NOT EXISTS (SELECT 1 FROM cases c
                               WHERE c.source = 'incident' AND c.source_ref = i.incident_id)
            ORDER BY i.detected_at LIMIT %s""",
        (list(types), limit),
    )
    opened = []
    for incident_id, itype, vehicle_id, company_id, lon, lat in await cur.fetchall():
        row = await open_for_incident(conn, incident_id, itype, vehicle_id, company_id, lon, lat,
                                      SYSTEM, now, d)  # fmt: skip
        if row is not None:
            opened.append(int(row["id"]))
    return opened


async def open_for_incident(
    conn: AConn, incident_id: str, incident_type: str, vehicle_id: int | None,
    company_id: int | None, lon: float | None, lat: float | None, who: Principal,
    now: datetime, d: Deadlines,
) -> dict[str, Any] | None:  # fmt: skip
    """The case of an engine incident (None when no subtype takes its type)."""
    code = await taxonomy.subtype_for_incident(conn, incident_type)
    if code is None:
        return None
    # the registry may no longer hold the incident's vehicle or company: the case keeps the
    # incident as its evidence and opens without them rather than failing the confirmation
    cur = await conn.execute(
        "SELECT (SELECT id FROM vehicles WHERE id = %s), (SELECT id FROM companies WHERE id = %s)",
        (vehicle_id, company_id),
    )
    known = await cur.fetchone()
    assert known is not None
    vehicle_id, company_id = known
    return await service.open_case(
        conn, source="incident", source_ref=incident_id, subtype=code, who=who, now=now, d=d,
        facts=f"引擎告警 {incident_type}（事件 {incident_id}）", lon=lon, lat=lat,
        company_id=company_id, vehicle_id=vehicle_id,
    )  # fmt: skip
