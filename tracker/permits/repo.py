"""Permits: the SQL, in one place. Callers hold the transaction."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from tracker.accounts.repo import jsonb
from tracker.blacklist import repo as blacklist_repo
from tracker.blacklist.service import credit_score, grade
from tracker.errors import BadRequest
from tracker.permits import logic
from tracker.permits.models import PermitIn

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
APPROVAL_LOCK = 0x7065726D  # "perm": approvals run one at a time (capacity, overlaps)

# state as read: an approved permit past its last day is expired, whatever the row says yet
_SELECT = """
SELECT p.id, p.company_id, p.valid_from, p.valid_to, p.windows, p.quota_m3, p.note, p.reason,
       p.created_at, p.updated_at, p.state AS stored_state,
       CASE WHEN p.state = 'approved' AND p.valid_to < city_today() THEN 'expired'
            ELSE p.state END AS state,
       ARRAY(SELECT vehicle_id FROM permit_vehicles WHERE permit_id = p.id ORDER BY 1)
           AS vehicle_ids,
       ARRAY(SELECT site_id FROM permit_sites WHERE permit_id = p.id ORDER BY 1) AS site_ids,
       ARRAY(SELECT yard_id FROM permit_yards WHERE permit_id = p.id ORDER BY 1) AS yard_ids,
       COALESCE((SELECT json_agg(json_build_object('id', c.id, 'geometry', c.geometry,
                                                   'half_width_m', c.half_width_m,
                                                   'fence_id', c.fence_id) ORDER BY c.id)
                   FROM permit_corridors c WHERE c.permit_id = p.id), '[]') AS corridors
  FROM permits p
"""


async def check_references(conn: AConn, body: PermitIn) -> None:
    """400 naming the field when an id refers to nothing, or a truck to another company."""
    for table, noun, ids, field in (
        ("companies", "company", [body.company_id], "company_id"),
        ("vehicles", "vehicle", body.vehicle_ids, "vehicle_ids"),
        ("sites", "site", body.site_ids, "site_ids"),
        ("yards", "yard", body.yard_ids, "yard_ids"),
    ):
        query = sql.SQL("SELECT id FROM {} WHERE id = ANY(%s)").format(sql.Identifier(table))
        found = {int(r[0]) for r in await (await conn.execute(query, (ids,))).fetchall()}
        missing = sorted(set(ids) - found)
        if missing:
            raise BadRequest(f"no {noun} {', '.join(map(str, missing))}", field=field)
    cur = await conn.execute(
        "SELECT plate FROM vehicles WHERE id = ANY(%s) AND company_id <> %s ORDER BY plate",
        (body.vehicle_ids, body.company_id),
    )
    others = [r[0] for r in await cur.fetchall()]
    if others:
        raise BadRequest(f"not trucks of this company: {', '.join(others)}", field="vehicle_ids")


async def insert(conn: AConn, body: PermitIn) -> int:
    cur = await conn.execute(
        """INSERT INTO permits (company_id, valid_from, valid_to, windows, quota_m3, note)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (*_columns(body),),
    )
    row = await cur.fetchone()
    assert row is not None
    await _insert_parts(conn, int(row[0]), body)
    return int(row[0])


async def replace(conn: AConn, permit_id: int, body: PermitIn) -> None:
    await conn.execute(
        """UPDATE permits SET company_id = %s, valid_from = %s, valid_to = %s, windows = %s,
                  quota_m3 = %s, note = %s, state = 'draft', reason = NULL, updated_at = now()
            WHERE id = %s""",
        (*_columns(body), permit_id),
    )
    for table in ("permit_vehicles", "permit_sites", "permit_yards", "permit_corridors"):
        await conn.execute(
            sql.SQL("DELETE FROM {} WHERE permit_id = %s").format(sql.Identifier(table)),
            (permit_id,),
        )
    await _insert_parts(conn, permit_id, body)


def _columns(body: PermitIn) -> tuple[Any, ...]:
    windows = [w.model_dump() for w in body.windows]
    return body.company_id, body.valid_from, body.valid_to, jsonb(windows), body.quota_m3, body.note


async def _insert_parts(conn: AConn, permit_id: int, body: PermitIn) -> None:
    async with conn.cursor() as cur:
        for table, column, ids in (
            ("permit_vehicles", "vehicle_id", body.vehicle_ids),
            ("permit_sites", "site_id", body.site_ids),
            ("permit_yards", "yard_id", body.yard_ids),
        ):
            query = sql.SQL("INSERT INTO {} (permit_id, {}) VALUES (%s, %s)").format(
                sql.Identifier(table), sql.Identifier(column)
            )
            await cur.executemany(query, [(permit_id, i) for i in sorted(set(ids))])
        await cur.executemany(
            "INSERT INTO permit_corridors (permit_id, geometry, half_width_m) VALUES (%s, %s, %s)",
            [(permit_id, jsonb(c.geometry), c.half_width_m) for c in body.corridors],
        )


async def load(
    conn: AConn,
    *,
    permit_id: int | None = None,
    company_id: int | None = None,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
    lock: bool = False,
) -> list[Row]:
    if lock and permit_id is not None:
        await conn.execute("SELECT 1 FROM permits WHERE id = %s FOR UPDATE", (permit_id,))
    query = f"""SELECT * FROM ({_SELECT}) q
     WHERE (%(id)s::bigint IS NULL OR id = %(id)s)
       AND (%(company)s::bigint IS NULL OR company_id = %(company)s)
       AND (%(state)s::text IS NULL OR state = %(state)s)
     ORDER BY id LIMIT %(limit)s OFFSET %(offset)s"""
    params = {
        "id": permit_id,
        "company": company_id,
        "state": state,
        "limit": limit,
        "offset": offset,
    }
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def set_state(conn: AConn, permit_id: int, state: str, reason: str | None) -> None:
    await conn.execute(
        "UPDATE permits SET state = %s, reason = %s, updated_at = now() WHERE id = %s",
        (state, reason, permit_id),
    )


async def set_corridor_fence(conn: AConn, corridor_id: int, fence_id: int) -> None:
    await conn.execute(
        "UPDATE permit_corridors SET fence_id = %s WHERE id = %s", (fence_id, corridor_id)
    )


async def expired_ids(conn: AConn) -> list[int]:
    cur = await conn.execute(
        "SELECT id FROM permits WHERE state = 'approved' AND valid_to < city_today() "
        "ORDER BY id FOR UPDATE SKIP LOCKED"
    )
    return [int(r[0]) for r in await cur.fetchall()]


async def facts(conn: AConn, permit: Row, today: date) -> logic.PermitFacts:
    """Everything the approval checks look at, read in the caller's transaction."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, plate, company_id, active, EXISTS (SELECT 1 FROM blacklisted_vehicles b "
            "WHERE b.vehicle_id = vehicles.id) AS blacklisted FROM vehicles "
            "WHERE id = ANY(%s) ORDER BY id",
            (permit["vehicle_ids"],),
        )
        vehicles = [logic.VehicleFact(**r) for r in await cur.fetchall()]
        await cur.execute(
            "SELECT s.id, s.name, f.geometry, s.active FROM sites s "
            "JOIN fences f ON f.id = s.fence_id WHERE s.id = ANY(%s) ORDER BY s.id",
            (permit["site_ids"],),
        )
        sites = [logic.PlaceFact(**r) for r in await cur.fetchall()]
        yards = await _yard_facts(cur, permit)
        overlaps = await _overlaps(cur, permit)
    return logic.PermitFacts(
        company_id=permit["company_id"],
        valid_from=permit["valid_from"],
        valid_to=permit["valid_to"],
        windows=[(w["start"], w["end"]) for w in permit["windows"]],
        quota_m3=float(permit["quota_m3"]),
        today=today,
        vehicles=vehicles,
        sites=sites,
        yards=yards,
        corridors=[
            logic.CorridorFact(c["geometry"], float(c["half_width_m"])) for c in permit["corridors"]
        ],
        zones=await active_zones(conn),
        overlaps=overlaps,
        company_grade=await company_grade(conn, permit["company_id"]),
    )


async def company_grade(conn: AConn, company_id: int) -> str | None:
    """The company's credit grade now (tracker.blacklist's score and grades)."""
    cfg = await blacklist_repo.settings(conn)
    rec = await blacklist_repo.company_record(conn, company_id, cfg["window_days"])
    if rec is None:
        return None
    points, vehicles = int(rec["points"]), int(rec["active_vehicles"])
    return grade(credit_score(points, vehicles, int(rec["listings"]), cfg))


async def _yard_facts(cur: Any, permit: Row) -> list[logic.YardFact]:
    # Committed volume: each approved, unexpired permit's quota split evenly over its yards.
    # The yard's present fill comes from the capacity ledger (yard_fill_m3).
    await cur.execute(
        """SELECT y.id, y.name, f.geometry, y.active, y.capacity_m3::float8 AS capacity_m3,
                  COALESCE((SELECT sum(p.quota_m3 / (SELECT count(*) FROM permit_yards k
                                                      WHERE k.permit_id = p.id))
                              FROM permits p JOIN permit_yards py ON py.permit_id = p.id
                             WHERE py.yard_id = y.id AND p.id <> %(permit)s
                               AND p.state = 'approved' AND p.valid_to >= city_today()), 0
                  )::float8 AS committed_m3, yard_fill_m3(y.id)::float8 AS fill_m3
             FROM yards y JOIN fences f ON f.id = y.fence_id
            WHERE y.id = ANY(%(yards)s) ORDER BY y.id""",
        {"permit": permit["id"], "yards": permit["yard_ids"]},
    )
    return [logic.YardFact(**r) for r in await cur.fetchall()]


async def _overlaps(cur: Any, permit: Row) -> list[tuple[int, int]]:
    await cur.execute(
        """SELECT pv.vehicle_id, p.id AS permit_id
             FROM permit_vehicles pv JOIN permits p ON p.id = pv.permit_id
            WHERE pv.vehicle_id = ANY(%(vehicles)s) AND p.id <> %(permit)s
              AND p.state = 'approved' AND p.valid_to >= city_today()
              AND p.valid_from <= %(to)s AND p.valid_to >= %(from)s
            ORDER BY 1, 2""",
        {
            "vehicles": permit["vehicle_ids"],
            "permit": permit["id"],
            "from": permit["valid_from"],
            "to": permit["valid_to"],
        },
    )
    return [(int(r["vehicle_id"]), int(r["permit_id"])) for r in await cur.fetchall()]


async def place_geometry(conn: AConn, table: str, place_id: int) -> dict[str, Any] | None:
    """The polygon of an active site or yard."""
    query = sql.SQL(
        "SELECT f.geometry FROM {} p JOIN fences f ON f.id = p.fence_id "
        "WHERE p.id = %s AND p.active"
    ).format(sql.Identifier(table))
    row = await (await conn.execute(query, (place_id,))).fetchone()
    return None if row is None else dict(row[0])


async def active_zones(conn: AConn) -> list[logic.ZoneFact]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT z.id, z.name, f.geometry, z.schedule FROM zones z "
            "JOIN fences f ON f.id = z.fence_id WHERE z.active ORDER BY z.id"
        )
        return [logic.ZoneFact(**r) for r in await cur.fetchall()]
