"""The capacity ledger's SQL (asyncio side; the reconciliation has its own, synchronous)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
# serialises alert checks (and the reconciliation's repair) across processes
CAPACITY_LOCK = 0x79617264  # "yard"

_YARDS = """
SELECT y.id AS yard_id, y.name, y.capacity_m3::float8 AS capacity_m3,
       yard_fill_m3(y.id)::float8 AS fill_m3,
       COALESCE((SELECT sum(l.volume_m3) FROM yard_ledger l
                  WHERE l.yard_id = y.id AND l.kind = 'trip'
                    AND l.at > now() - make_interval(days => %(days)s)), 0)::float8 AS inflow_m3,
       -- the inflow window: the last N days, or since the yard was registered if later
       LEAST(%(days)s::float8,
             GREATEST(1.0, extract(epoch FROM now() - y.created_at) / 86400.0)) AS window_days
  FROM yards y
 WHERE (%(yard)s::bigint IS NULL OR y.id = %(yard)s)
 ORDER BY y.id
"""


async def yards(conn: AConn, inflow_days: int, yard_id: int | None = None) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_YARDS, {"days": inflow_days, "yard": yard_id})
        return await cur.fetchall()


async def history(conn: AConn, yard_id: int, days: int) -> list[Row]:
    """The fill at the end of each of the last ``days`` UTC days (today: now), from one pass
    over the yard's ledger summed by day."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """WITH per_day AS (
                   SELECT date_trunc('day', at) AS day, sum(volume_m3) AS m3
                     FROM yard_ledger WHERE yard_id = %(yard)s GROUP BY 1
               ), ends AS (
                   SELECT LEAST(d + interval '1 day', now()) AS at
                     FROM generate_series(date_trunc('day', now())
                                              - (%(days)s - 1) * interval '1 day',
                                          date_trunc('day', now()), interval '1 day') d
               )
               SELECT e.at,
                      COALESCE((SELECT sum(p.m3) FROM per_day p WHERE p.day < e.at), 0)::float8
                          AS fill_m3
                 FROM ends e ORDER BY e.at""",
            {"yard": yard_id, "days": days},
        )
        return await cur.fetchall()


async def insert_adjustment(
    conn: AConn, yard_id: int, kind: str, volume_m3: float, reason: str, actor: str, at: datetime
) -> Row:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """INSERT INTO yard_ledger (yard_id, kind, volume_m3, reason, actor, at)
               VALUES (%s, %s, round(%s::numeric, 3), %s, %s, %s)
               RETURNING id, yard_id, kind, trip_id, volume_m3::float8 AS volume_m3,
                         volume_source, reason, actor, at, created_at""",
            (yard_id, kind, volume_m3, reason, actor, at),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def ledger(conn: AConn, yard_id: int, limit: int, offset: int) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT id, yard_id, kind, trip_id, volume_m3::float8 AS volume_m3, volume_source,
                      reason, actor, at, created_at
                 FROM yard_ledger WHERE yard_id = %s
                ORDER BY at DESC, id DESC LIMIT %s OFFSET %s""",
            (yard_id, limit, offset),
        )
        return await cur.fetchall()


async def yard_exists(conn: AConn, yard_id: int) -> bool:
    cur = await conn.execute("SELECT 1 FROM yards WHERE id = %s", (yard_id,))
    return await cur.fetchone() is not None


async def fold(conn: AConn) -> int:
    cur = await conn.execute("SELECT yard_fill_fold()")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def alert_states(conn: AConn) -> list[Row]:
    """Every yard's fill and the alert level it stood at (rows locked for the caller)."""
    await conn.execute(
        "INSERT INTO yard_fill (yard_id) SELECT id FROM yards ON CONFLICT (yard_id) DO NOTHING"
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT f.yard_id, f.alert_level, y.capacity_m3::float8 AS capacity_m3,
                      yard_fill_m3(f.yard_id)::float8 AS fill_m3
                 FROM yard_fill f JOIN yards y ON y.id = f.yard_id
                ORDER BY f.yard_id FOR UPDATE OF f"""
        )
        return await cur.fetchall()


async def record_alert(conn: AConn, yard_id: int, level: int, fill_pct: float) -> None:
    await conn.execute(
        "INSERT INTO yard_alerts (yard_id, level, fill_pct) VALUES (%s, %s, %s)",
        (yard_id, level, fill_pct),
    )


async def set_alert_level(conn: AConn, yard_id: int, level: int) -> None:
    await conn.execute(
        "UPDATE yard_fill SET alert_level = %s, updated_at = now() WHERE yard_id = %s",
        (level, yard_id),
    )


async def unpublished_alerts(conn: AConn) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT a.id, a.yard_id, a.level, a.fill_pct, a.at
                 FROM yard_alerts a WHERE a.published_at IS NULL
                ORDER BY a.id FOR UPDATE SKIP LOCKED"""
        )
        return await cur.fetchall()


async def mark_published(conn: AConn, ids: list[int]) -> None:
    await conn.execute("UPDATE yard_alerts SET published_at = now() WHERE id = ANY(%s)", (ids,))
