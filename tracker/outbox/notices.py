"""Producers that are found by looking, not by a write: run by the ``outbox-notices``
maintenance task.

- ``permit.expiring``: an approved permit whose last day is within ``permit_expiring_days``
  (city local date), once per permit and last day (the event's ``dedupe_key``).
- ``company.credit_changed``: a company whose credit grade (tracker.blacklist.service) differs
  from the one last told (``outbox_credit_grades``); a company's first grade is stored without
  an event. The grade row and the event commit together.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from tracker.blacklist import repo as credit_repo
from tracker.blacklist.service import credit_score, grade
from tracker.outbox.events import OutboxEvent, emit
from tracker.outbox.templates import CITY_ZONE

AConn = psycopg.AsyncConnection[Any]


async def permits_expiring(conn: AConn, now: datetime, days: int) -> int:
    """Emit permit.expiring for approved permits ending within ``days``; returns how many new."""
    today = now.astimezone(CITY_ZONE).date()
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """SELECT id, company_id, valid_to FROM permits
            WHERE state = 'approved' AND valid_to >= %s AND valid_to <= %s ORDER BY id""",
        (today, today + timedelta(days=days)),
    )
    emitted = 0
    async with conn.transaction():
        for row in await cur.fetchall():
            event = OutboxEvent(
                "permit.expiring",
                now,
                {
                    "permit_id": row["id"],
                    "valid_to": row["valid_to"].isoformat(),
                    "days_left": (row["valid_to"] - today).days,
                },
                company_id=row["company_id"],
                dedupe_key=f"permit.expiring:{row['id']}:{row['valid_to'].isoformat()}",
            )
            emitted += await emit(conn, event) is not None
    return emitted


async def credit_grades(conn: AConn, now: datetime) -> int:
    """Emit company.credit_changed for each company whose grade moved; returns how many.

    Companies are taken ``FOR NO KEY UPDATE SKIP LOCKED``: a second process running the round
    skips them, and the foreign-key checks of rows inserted meanwhile (a company's new vehicle,
    user or permit take ``KEY SHARE``) are not blocked. ``FOR UPDATE`` blocked every such insert
    for the whole round."""
    changed = 0
    async with conn.transaction():
        cfg = await credit_repo.settings(conn)
        cur = await conn.execute(
            """SELECT c.id, g.grade FROM companies c
                 LEFT JOIN outbox_credit_grades g ON g.company_id = c.id
                WHERE c.active ORDER BY c.id FOR NO KEY UPDATE OF c SKIP LOCKED"""
        )
        for company_id, told in await cur.fetchall():
            rec = await credit_repo.company_record(conn, company_id, cfg["window_days"])
            if rec is None:
                continue
            score = credit_score(
                int(rec["points"]), int(rec["active_vehicles"]), int(rec["listings"]), cfg
            )
            now_grade = grade(score)
            if told == now_grade:
                continue
            await conn.execute(
                """INSERT INTO outbox_credit_grades (company_id, grade, at) VALUES (%s, %s, %s)
                   ON CONFLICT (company_id)
                   DO UPDATE SET grade = EXCLUDED.grade, at = EXCLUDED.at""",
                (company_id, now_grade, now),
            )
            if told is None:
                continue
            payload = {
                "company": rec["name"],
                "old_grade": told,
                "grade": now_grade,
                "score": score,
            }
            await emit(
                conn, OutboxEvent("company.credit_changed", now, payload, company_id=company_id)
            )
            changed += 1
    return changed


async def notices_round(pool: AsyncConnectionPool[Any], now: datetime, days: int) -> dict[str, int]:
    async with pool.connection() as conn:
        expiring = await permits_expiring(conn, now, days)
        credit = await credit_grades(conn, now)
    return {"permit.expiring": expiring, "company.credit_changed": credit}
