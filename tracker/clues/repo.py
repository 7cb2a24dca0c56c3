"""Clues in SQL: one place for every query of the clue tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tracker.clues.photos import Photo

AConn = psycopg.AsyncConnection[Any]

_COLS = (
    "c.id, c.source, c.vehicle_id, c.company_id, COALESCE(v.plate, c.plate) AS plate, c.kind,"
    " c.description, c.lon, c.lat, c.accuracy_m, c.observed_at, c.contact, c.reporter_id,"
    " c.status, c.verified_by, c.verified_at, c.verify_note, c.close_reason, c.case_id,"
    " c.case_request, c.created_at, c.updated_at,"
    " (SELECT COALESCE(jsonb_agg(jsonb_build_object('n', p.n, 'media_type', p.media_type,"
    "   'bytes', octet_length(p.data), 'sha256', p.sha256) ORDER BY p.n), '[]'::jsonb)"
    "   FROM clue_photos p WHERE p.clue_id = c.id) AS photos"
)
_FROM = "FROM clues c LEFT JOIN vehicles v ON v.id = c.vehicle_id"


async def vehicle_by_code(conn: AConn, code: str) -> tuple[int, int] | None:
    """The active vehicle of a public code and its company."""
    cur = await conn.execute(
        """SELECT v.id, v.company_id FROM vehicle_codes k JOIN vehicles v ON v.id = k.vehicle_id
            WHERE k.code = %s AND v.active""",
        (code,),
    )
    row = await cur.fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


async def vehicle(conn: AConn, vehicle_id: int | None, plate: str | None) -> tuple[int, int] | None:
    """A vehicle by id, else by plate, and its company."""
    if vehicle_id is not None:
        cur = await conn.execute("SELECT id, company_id FROM vehicles WHERE id = %s", (vehicle_id,))
    else:
        cur = await conn.execute(
            "SELECT id, company_id FROM vehicles WHERE plate = %s AND active", (plate,)
        )
    row = await cur.fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


async def insert(conn: AConn, clue: dict[str, Any], photos: Sequence[Photo]) -> int:
    """A new clue with its photos; its id."""
    columns = list(clue)
    query = (
        f"INSERT INTO clues ({', '.join(columns)}) "
        f"VALUES ({', '.join('%s' for _ in columns)}) RETURNING id"
    )
    cur = await conn.execute(query.encode(), [clue[c] for c in columns])
    row = await cur.fetchone()
    assert row is not None
    clue_id = int(row[0])
    if photos:
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO clue_photos (clue_id, n, media_type, data, sha256)"
                " VALUES (%s, %s, %s, %s, encode(sha256(%s), 'hex'))",
                [(clue_id, n, p.media_type, p.data, p.data) for n, p in enumerate(photos)],
            )
    return clue_id


async def get(conn: AConn, clue_id: int) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLS} {_FROM} WHERE c.id = %s".encode(), (clue_id,))
        return await cur.fetchone()


async def listing(
    conn: AConn, status: str | None, vehicle_id: int | None, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Clues, newest first, paged by id (``before_id``)."""
    clauses = ["true"]
    params: list[Any] = []
    for clause, value in (
        ("c.status = %s", status),
        ("c.vehicle_id = %s", vehicle_id),
        ("c.id < %s", before_id),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    query = f"SELECT {_COLS} {_FROM} WHERE {' AND '.join(clauses)} ORDER BY c.id DESC LIMIT %s"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query.encode(), [*params, limit])
        return await cur.fetchall()


async def by_receipt(conn: AConn, receipt_hash: bytes) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT status, kind, created_at AS reported_at, updated_at FROM clues"
            " WHERE receipt_hash = %s",
            (receipt_hash,),
        )
        return await cur.fetchone()


async def move(
    conn: AConn, clue_id: int, frm: Sequence[str], to: str, sets: dict[str, Any]
) -> bool:
    """Move a clue from one of ``frm`` to ``to``, setting ``sets``; False when it was not in
    such a state (or does not exist)."""
    assignments = ", ".join(f"{column} = %s" for column in sets)
    values = [Jsonb(v) if isinstance(v, dict) else v for v in sets.values()]
    query = (
        f"UPDATE clues SET status = %s, updated_at = now(){', ' if sets else ''}{assignments}"
        " WHERE id = %s AND status = ANY(%s)"
    )
    cur = await conn.execute(query.encode(), [to, *values, clue_id, list(frm)])
    return cur.rowcount == 1


async def photo(conn: AConn, clue_id: int, n: int) -> tuple[str, bytes] | None:
    cur = await conn.execute(
        "SELECT media_type, data FROM clue_photos WHERE clue_id = %s AND n = %s", (clue_id, n)
    )
    row = await cur.fetchone()
    return None if row is None else (str(row[0]), bytes(row[1]))


async def forget_personal_data(
    conn: AConn, addr_before: datetime, contact_before: datetime
) -> dict[str, list[int]]:
    """Drop what identifies a public reporter once it is no longer needed (PIPL: kept only as
    long as its purpose needs it): the source address, kept for abuse review, of reports made
    before ``addr_before``; the contact of reports settled (became a case or closed) before
    ``contact_before``. Returns the clue ids touched, by field."""
    addr = await conn.execute(
        "UPDATE clues SET source_addr = NULL WHERE source_addr IS NOT NULL AND created_at < %s"
        " RETURNING id",
        (addr_before,),
    )
    addr_ids = [int(r[0]) for r in await addr.fetchall()]
    contact = await conn.execute(
        "UPDATE clues SET contact = NULL WHERE contact IS NOT NULL AND source = 'public'"
        " AND status IN ('to_case', 'closed') AND updated_at < %s RETURNING id",
        (contact_before,),
    )
    contact_ids = [int(r[0]) for r in await contact.fetchall()]
    return {"source_addr": sorted(addr_ids), "contact": sorted(contact_ids)}
