"""Generic row SQL for the registry tables: insert, update, get, list, by column names.

Identifiers go through ``psycopg.sql.Identifier``; values are always parameters. Rows come back
as dicts so that the audit log can store them as they are.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]


def _table(table: str) -> sql.Identifier:
    return sql.Identifier(table)


async def insert(conn: AConn, table: str, values: Row) -> Row:
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
        _table(table),
        sql.SQL(", ").join(sql.Identifier(k) for k in values),
        sql.SQL(", ").join(sql.Placeholder(k) for k in values),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, values)
        row = await cur.fetchone()
    assert row is not None
    return row


async def get(conn: AConn, table: str, row_id: int, *, lock: bool = False) -> Row | None:
    query = sql.SQL("SELECT * FROM {} WHERE id = %s{}").format(
        _table(table), sql.SQL(" FOR UPDATE" if lock else "")
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (row_id,))
        return await cur.fetchone()


async def update(conn: AConn, table: str, row_id: int, values: Row) -> Row | None:
    query = sql.SQL("UPDATE {} SET {} WHERE id = {} RETURNING *").format(
        _table(table),
        sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values
        ),
        sql.Placeholder("__id"),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {**values, "__id": row_id})
        return await cur.fetchone()


async def select(
    conn: AConn, table: str, *, where: Row | None = None, limit: int = 1000, offset: int = 0
) -> list[Row]:
    """Rows whose columns equal ``where`` (None values are skipped), by id."""
    conds = {k: v for k, v in (where or {}).items() if v is not None}
    clause = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in conds
    )
    query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY id LIMIT {} OFFSET {}").format(
        _table(table),
        clause if conds else sql.SQL("true"),
        sql.Placeholder("__limit"),
        sql.Placeholder("__offset"),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {**conds, "__limit": limit, "__offset": offset})
        return await cur.fetchall()
