"""The outbox's SQL: fan-out, per-subscription claims, delivery state, subscriptions.

Order: a subscription's deliveries are numbered (``outbox_deliveries.id``) by one fan-out at a
time (an advisory transaction lock), in event order, and delivered in that order by one
deliverer at a time (a session advisory lock per subscription, taken with ``try``: a second
deliverer skips it, like ``FOR UPDATE SKIP LOCKED``, and a killed one's lock goes with its
connection). Times that decide retries come from the caller (``now``), so tests drive the clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]

FANOUT_LOCK = 0x6F757462  # "outb"
SUBSCRIPTION_LOCK = 0x6F757473  # "outs": (class, subscription id)

_MATCH = """
    s.active
    AND (cardinality(s.event_types) = 0 OR e.type = ANY (s.event_types))
    AND (s.kind <> 'company' OR e.company_id = s.company_id)
    AND (cardinality(s.scope_company_ids) = 0 OR e.company_id = ANY (s.scope_company_ids))
    AND (cardinality(s.scope_vehicle_ids) = 0 OR e.vehicle_id = ANY (s.scope_vehicle_ids))
    AND (cardinality(s.scope_yard_ids) = 0 OR e.yard_id = ANY (s.scope_yard_ids))
    AND (cardinality(s.scope_districts) = 0 OR e.district = ANY (s.scope_districts))
"""


async def fan_out(conn: AConn, now: datetime, limit: int) -> tuple[int, int] | None:
    """Turn up to ``limit`` unfanned events into deliveries, in event order; (events,
    deliveries), or None when another deliverer is fanning out right now."""
    async with conn.transaction():
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (FANOUT_LOCK,))
        got = await cur.fetchone()
        if not got or not got[0]:
            return None
        cur = await conn.execute(
            f"""WITH ev AS (
                    SELECT id, type, company_id, vehicle_id, yard_id, district
                      FROM outbox_events WHERE fanned_at IS NULL ORDER BY id LIMIT %s
                ), ins AS (
                    INSERT INTO outbox_deliveries (subscription_id, event_id, created_at)
                    SELECT s.id, e.id, %s FROM ev e JOIN outbox_subscriptions s ON {_MATCH}
                     ORDER BY e.id, s.id
                    ON CONFLICT (subscription_id, event_id) DO NOTHING
                    RETURNING 1
                ), upd AS (
                    UPDATE outbox_events o SET fanned_at = %s FROM ev
                     WHERE o.id = ev.id RETURNING 1
                )
                SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM ins)""",
            (limit, now, now),
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


async def due_subscriptions(conn: AConn, now: datetime, limit: int) -> list[int]:
    """Subscriptions with a pending delivery due at ``now`` (oldest first)."""
    cur = await conn.execute(
        """SELECT subscription_id FROM outbox_deliveries
            WHERE state = 'pending' AND next_attempt_at <= %s
            GROUP BY subscription_id ORDER BY min(id) LIMIT %s""",
        (now, limit),
    )
    return [int(r[0]) for r in await cur.fetchall()]


async def try_claim(conn: AConn, subscription_id: int) -> bool:
    cur = await conn.execute(
        "SELECT pg_try_advisory_lock(%s, %s)", (SUBSCRIPTION_LOCK, subscription_id)
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def release(conn: AConn, subscription_id: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock(%s, %s)", (SUBSCRIPTION_LOCK, subscription_id))


async def subscription(conn: AConn, subscription_id: int) -> Row | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT * FROM outbox_subscriptions WHERE id = %s", (subscription_id,))
    return await cur.fetchone()


async def pending(conn: AConn, subscription_id: int, limit: int) -> list[Row]:
    """The subscription's pending deliveries in order, with their events."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """SELECT d.id AS delivery_id, d.attempts, d.next_attempt_at, d.created_at,
                  d.first_failed_at, e.id AS event_id, e.type, e.occurred_at,
                  e.created_at AS emitted_at, e.company_id, e.vehicle_id, e.yard_id,
                  e.district, e.payload
             FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event_id
            WHERE d.subscription_id = %s AND d.state = 'pending'
            ORDER BY d.id LIMIT %s""",
        (subscription_id, limit),
    )
    return await cur.fetchall()


async def templates(conn: AConn, locale: str) -> dict[str, tuple[str, str]]:
    cur = await conn.execute(
        "SELECT event_type, title, body FROM outbox_templates WHERE locale = %s", (locale,)
    )
    return {str(t): (str(a), str(b)) for t, a, b in await cur.fetchall()}


async def mark_delivered(conn: AConn, ids: list[int], now: datetime, status: int | None) -> None:
    await conn.execute(
        """UPDATE outbox_deliveries
              SET state = 'delivered', delivered_at = %s, attempts = attempts + 1,
                  last_status = %s
            WHERE id = ANY (%s) AND state = 'pending'""",
        (now, status, ids),
    )


async def mark_dead(
    conn: AConn, ids: list[int], now: datetime, status: int | None, reason: str
) -> None:
    await conn.execute(
        """UPDATE outbox_deliveries
              SET state = 'dead', dead_at = %s, attempts = attempts + 1, last_status = %s,
                  last_error = %s, first_failed_at = COALESCE(first_failed_at, %s)
            WHERE id = ANY (%s) AND state = 'pending'""",
        (now, status, reason[:1000], now, ids),
    )


async def mark_retry(
    conn: AConn,
    subscription_id: int,
    ids: list[int],
    now: datetime,
    retry_at: datetime,
    status: int | None,
    reason: str,
) -> None:
    """The head failed: count the attempt on it, and hold the whole subscription until
    ``retry_at`` (per-subscription order: nothing behind it goes first)."""
    await conn.execute(
        """UPDATE outbox_deliveries
              SET attempts = attempts + 1, last_status = %s, last_error = %s,
                  first_failed_at = COALESCE(first_failed_at, %s)
            WHERE id = ANY (%s) AND state = 'pending'""",
        (status, reason[:1000], now, ids),
    )
    await conn.execute(
        """UPDATE outbox_deliveries SET next_attempt_at = %s
            WHERE subscription_id = %s AND state = 'pending'""",
        (retry_at, subscription_id),
    )
