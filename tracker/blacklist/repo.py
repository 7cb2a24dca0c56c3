"""The blacklist's SQL: listings, points, history, policy and appeals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]

_LISTING = """
SELECT l.id, l.vehicle_id, v.plate, v.company_id, l.source, l.reason, l.listed_by, l.listed_at,
       l.expires_at, (l.lifted_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > now()))
           AS active,
       l.lifted_at, l.lifted_by, l.lifted_how, l.lifted_reason
  FROM blacklist_listings l JOIN vehicles v ON v.id = l.vehicle_id
"""


async def _all(conn: AConn, query: str, params: Any = None) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def _one(conn: AConn, query: str, params: Any = None) -> Row | None:
    rows = await _all(conn, query, params)
    return rows[0] if rows else None


async def listings(
    conn: AConn, vehicle_id: int | None, company_id: int | None, active_only: bool, limit: int
) -> list[Row]:
    return await _all(
        conn,
        _LISTING
        + """ WHERE (%(v)s::bigint IS NULL OR l.vehicle_id = %(v)s)
                AND (%(c)s::bigint IS NULL OR v.company_id = %(c)s)
                AND (NOT %(active)s OR (l.lifted_at IS NULL
                                        AND (l.expires_at IS NULL OR l.expires_at > now())))
              ORDER BY l.listed_at DESC, l.id DESC LIMIT %(limit)s""",
        {"v": vehicle_id, "c": company_id, "active": active_only, "limit": limit},
    )


async def listing(conn: AConn, listing_id: int, *, lock: bool = False) -> Row | None:
    tail = " WHERE l.id = %s" + (" FOR UPDATE OF l" if lock else "")
    return await _one(conn, _LISTING + tail, (listing_id,))


async def active_listing(conn: AConn, vehicle_id: int) -> Row | None:
    return await _one(
        conn,
        _LISTING + " WHERE l.id = (SELECT listing_id FROM blacklisted_vehicles "
        "WHERE vehicle_id = %s LIMIT 1)",
        (vehicle_id,),
    )


async def vehicle(conn: AConn, vehicle_id: int) -> Row | None:
    return await _one(
        conn, "SELECT id, plate, company_id, active FROM vehicles WHERE id = %s", (vehicle_id,)
    )


async def lift_expired(conn: AConn, vehicle_id: int | None = None) -> int:
    cur = await conn.execute("SELECT blacklist_lift_expired(%s)", (vehicle_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def insert_listing(
    conn: AConn, vehicle_id: int, reason: str, by: str, expires_at: datetime | None
) -> int:
    cur = await conn.execute(
        """INSERT INTO blacklist_listings (vehicle_id, source, reason, listed_by, expires_at)
           VALUES (%s, 'manual', %s, %s, %s) RETURNING id""",
        (vehicle_id, reason, by, expires_at),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def lift(conn: AConn, listing_id: int, by: str, how: str, reason: str) -> None:
    await conn.execute(
        """UPDATE blacklist_listings
              SET lifted_at = now(), lifted_by = %s, lifted_how = %s, lifted_reason = %s
            WHERE id = %s""",
        (by, how, reason, listing_id),
    )


async def add_history(
    conn: AConn,
    vehicle_id: int,
    actor: str,
    action: str,
    *,
    listing_id: int | None = None,
    appeal_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO blacklist_history (vehicle_id, actor, action, listing_id, appeal_id,
                                          detail)
           VALUES (%s, %s, %s, %s, %s, %s)""",
        (vehicle_id, actor, action, listing_id, appeal_id, Jsonb(detail or {})),
    )


async def history(
    conn: AConn, vehicle_id: int | None, company_id: int | None, limit: int
) -> list[Row]:
    return await _all(
        conn,
        """SELECT h.id, h.vehicle_id, v.plate, h.at, h.actor, h.action, h.listing_id,
                  h.appeal_id, h.detail
             FROM blacklist_history h JOIN vehicles v ON v.id = h.vehicle_id
            WHERE (%(v)s::bigint IS NULL OR h.vehicle_id = %(v)s)
              AND (%(c)s::bigint IS NULL OR v.company_id = %(c)s)
            ORDER BY h.at DESC, h.id DESC LIMIT %(limit)s""",
        {"v": vehicle_id, "c": company_id, "limit": limit},
    )


async def settings(conn: AConn) -> Row:
    row = await _one(conn, "SELECT * FROM credit_settings")
    assert row is not None
    row.pop("id", None)
    return row


async def points_policy(conn: AConn) -> dict[str, int]:
    rows = await _all(conn, "SELECT incident_type, points FROM credit_points_policy ORDER BY 1")
    return {r["incident_type"]: int(r["points"]) for r in rows}


async def update_settings(conn: AConn, changes: dict[str, Any]) -> None:
    for column, value in changes.items():  # column names come from the model, not the caller
        await conn.execute(
            sql.SQL("UPDATE credit_settings SET {} = %s").format(sql.Identifier(column)),
            (value,),
        )


async def set_points(conn: AConn, incident_type: str, points: int) -> None:
    await conn.execute(
        """INSERT INTO credit_points_policy (incident_type, points) VALUES (%s, %s)
           ON CONFLICT (incident_type) DO UPDATE SET points = EXCLUDED.points""",
        (incident_type, points),
    )


async def vehicle_points(conn: AConn, vehicle_id: int, limit: int) -> list[Row]:
    return await _all(
        conn,
        """SELECT incident_id, incident_type, points, at, voided_at, voided_by
             FROM vehicle_points WHERE vehicle_id = %s ORDER BY at DESC, id DESC LIMIT %s""",
        (vehicle_id, limit),
    )


async def points_in_window(conn: AConn, vehicle_id: int, window_days: int) -> int:
    cur = await conn.execute(
        """SELECT COALESCE(sum(points), 0) FROM vehicle_points
            WHERE vehicle_id = %s AND voided_at IS NULL
              AND at > now() - make_interval(days => %s)""",
        (vehicle_id, window_days),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def void_points(conn: AConn, incident_id: str, by: str) -> Row | None:
    return await _one(
        conn,
        """UPDATE vehicle_points SET voided_at = now(), voided_by = %s
            WHERE incident_id = %s AND voided_at IS NULL
        RETURNING vehicle_id, incident_id, points""",
        (by, incident_id),
    )


_COMPANY_RECORD = """SELECT c.id AS company_id, c.name,
                  (SELECT count(*) FROM vehicles v WHERE v.company_id = c.id AND v.active)
                      AS active_vehicles,
                  (SELECT COALESCE(sum(p.points), 0) FROM vehicle_points p
                     JOIN vehicles v ON v.id = p.vehicle_id
                    WHERE v.company_id = c.id AND p.voided_at IS NULL
                      AND p.at > now() - make_interval(days => %(w)s)) AS points,
                  (SELECT count(*) FROM blacklist_listings l
                     JOIN vehicles v ON v.id = l.vehicle_id
                    WHERE v.company_id = c.id AND (l.lifted_how IS DISTINCT FROM 'appeal')
                      AND l.listed_at > now() - make_interval(days => %(w)s)) AS listings,
                  (SELECT count(*) FROM blacklisted_vehicles b
                     JOIN vehicles v ON v.id = b.vehicle_id WHERE v.company_id = c.id)
                      AS listed_now
             FROM companies c"""


async def company_record(conn: AConn, company_id: int, window_days: int) -> Row | None:
    return await _one(
        conn, _COMPANY_RECORD + " WHERE c.id = %(c)s", {"c": company_id, "w": window_days}
    )


async def company_records(conn: AConn, window_days: int) -> list[Row]:
    """:func:`company_record` of every active company, in one statement (the public list)."""
    return await _all(conn, _COMPANY_RECORD + " WHERE c.active ORDER BY c.id", {"w": window_days})


_APPEAL = """SELECT id, company_id, vehicle_id, listing_id, incident_id, statement, status,
                    filed_by, filed_at, decided_by, decided_at, decision_note FROM appeals"""


async def insert_appeal(
    conn: AConn,
    company_id: int,
    vehicle_id: int,
    listing_id: int | None,
    incident_id: str | None,
    statement: str,
    by: str,
) -> Row:
    row = await _one(
        conn,
        """INSERT INTO appeals (company_id, vehicle_id, listing_id, incident_id, statement,
                                filed_by)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (company_id, vehicle_id, listing_id, incident_id, statement, by),
    )
    assert row is not None
    found = await appeal(conn, int(row["id"]))
    assert found is not None
    return found


async def appeal(conn: AConn, appeal_id: int, *, lock: bool = False) -> Row | None:
    return await _one(
        conn, _APPEAL + " WHERE id = %s" + (" FOR UPDATE" if lock else ""), (appeal_id,)
    )


async def appeals(conn: AConn, company_id: int | None, status: str | None, limit: int) -> list[Row]:
    return await _all(
        conn,
        _APPEAL
        + """ WHERE (%(c)s::bigint IS NULL OR company_id = %(c)s)
                AND (%(s)s::text IS NULL OR status = %(s)s)
              ORDER BY filed_at DESC, id DESC LIMIT %(limit)s""",
        {"c": company_id, "s": status, "limit": limit},
    )


async def pending_appeal(
    conn: AConn, listing_id: int | None, incident_id: str | None
) -> Row | None:
    return await _one(
        conn,
        _APPEAL + " WHERE status = 'pending' AND (listing_id = %s OR incident_id = %s)",
        (listing_id, incident_id),
    )


async def decide_appeal(conn: AConn, appeal_id: int, status: str, by: str, note: str) -> None:
    await conn.execute(
        """UPDATE appeals SET status = %s, decided_by = %s, decided_at = now(),
                              decision_note = %s WHERE id = %s""",
        (status, by, note, appeal_id),
    )


async def incident_points(conn: AConn, incident_id: str) -> Row | None:
    return await _one(
        conn,
        """SELECT p.incident_id, p.vehicle_id, v.company_id, p.points, p.voided_at
             FROM vehicle_points p JOIN vehicles v ON v.id = p.vehicle_id
            WHERE p.incident_id = %s""",
        (incident_id,),
    )
