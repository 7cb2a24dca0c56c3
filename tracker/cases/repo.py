"""Cases: the SQL, in one place. Every read of a case goes through :func:`scope_sql`, so an
account sees (and so can act on) only the cases of its unit, its area or its company."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tracker.accounts.models import BOOTSTRAP, Principal, Role
from tracker.accounts.repo import jsonb
from tracker.cases.machine import PARTY_VISIBLE
from tracker.evidence.chain import GENESIS, link

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
CASE_COLS = (
    "c.id, c.subtype, c.state, c.source, c.source_ref, c.company_id, c.vehicle_id, c.lon, c.lat,"
    " c.district_id, c.area_id, c.unit_id, c.facts, c.penalty_cny::float8 AS penalty_cny,"
    " c.hearing_requested, c.opened_at, c.state_at, c.due_at, c.party_due_at, c.escalated_at,"
    " c.reopened, c.closed_at, c.events"
)
_AREA_TREE = """c.area_id IN (WITH RECURSIVE t AS (
        SELECT id FROM jurisdictions WHERE id = %(scope_area)s
        UNION ALL SELECT j.id FROM jurisdictions j JOIN t ON j.parent_id = t.id)
    SELECT id FROM t)"""
_CITY_WIDE = frozenset({Role.admin, Role.enforcement_officer, Role.viewer})


def scope_sql(who: Principal) -> tuple[str, Row]:
    """The WHERE condition (on alias ``c``) of the cases ``who`` may see."""
    if who == BOOTSTRAP or who.role == Role.admin:
        return "TRUE", {}
    if who.role == Role.company_user:
        return (
            "c.company_id = %(scope_company)s AND c.state = ANY(%(scope_states)s)",
            {"scope_company": who.company_id, "scope_states": sorted(PARTY_VISIBLE)},
        )
    if who.unit_id is not None:
        return "c.unit_id = %(scope_unit)s", {"scope_unit": who.unit_id}
    if who.area_id is not None:
        return _AREA_TREE, {"scope_area": who.area_id}
    # city-level officers and viewers see the city; a department or grid account needs a scope
    return ("TRUE", {}) if who.role in _CITY_WIDE else ("FALSE", {})


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def subtype(conn: AConn, code: str) -> Row | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT code, category, name_zh, name_en, penalty_min_cny::float8 AS penalty_min_cny,
                      penalty_max_cny::float8 AS penalty_max_cny, legal_basis, unit_kind,
                      incident_types
                 FROM case_subtypes WHERE code = %s""",
            (code,),
        )
        return await cur.fetchone()


async def insert_case(conn: AConn, values: Row, event: Row) -> int | None:
    """A new case with its first event; None when its source already has one."""
    cur = await conn.execute(
        """INSERT INTO cases (subtype, source, source_ref, company_id, vehicle_id, lon, lat,
                              district_id, area_id, unit_id, facts, opened_at, state_at, due_at,
                              last_hash)
           VALUES (%(subtype)s, %(source)s, %(source_ref)s, %(company_id)s, %(vehicle_id)s,
                   %(lon)s, %(lat)s, %(district_id)s, %(area_id)s, %(unit_id)s, %(facts)s,
                   %(opened_at)s, %(opened_at)s, %(due_at)s, %(genesis)s)
           ON CONFLICT (source, source_ref) WHERE source_ref IS NOT NULL DO NOTHING
           RETURNING id""",
        {**values, "genesis": GENESIS},
    )
    row = await cur.fetchone()
    if row is None:
        return None
    case_id = int(row[0])
    await append_event(conn, case_id, {**event, "case_id": case_id})
    return case_id


async def append_event(conn: AConn, case_id: int, event: Row) -> str:
    """Chain ``event`` after the case's last one (the case row is locked by the caller or new).
    ``event`` holds JSON values only, its time an ISO UTC string."""
    cur = await conn.execute(
        "UPDATE cases SET events = events + 1 WHERE id = %s RETURNING events, last_hash",
        (case_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    seq, prev = int(row[0]), str(row[1])
    full = {**event, "case_id": case_id, "seq": seq}
    digest = link(prev, full)
    await conn.execute(
        "INSERT INTO case_events (case_id, seq, at, action, event, hash) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (case_id, seq, full["at"], full["action"], jsonb(full), digest),
    )
    await conn.execute("UPDATE cases SET last_hash = %s WHERE id = %s", (digest, case_id))
    return digest


async def hearing_pending(conn: AConn, case: Row) -> bool:
    """The party asked for a hearing in its latest statement and none is recorded after it."""
    if not case["hearing_requested"]:
        return False
    cur = await conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM case_events WHERE case_id = %(id)s AND action = 'hear'"
        " AND seq > (SELECT coalesce(max(seq), 0) FROM case_events"
        "            WHERE case_id = %(id)s AND action = 'state'))",
        {"id": case["id"]},
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def load(conn: AConn, case_id: int, who: Principal, *, lock: bool = False) -> Row | None:
    where, params = scope_sql(who)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {CASE_COLS}, c.decision FROM cases c WHERE c.id = %(id)s AND ({where})"
            + (" FOR UPDATE" if lock else ""),
            {**params, "id": case_id},
        )
        return await cur.fetchone()


async def update(conn: AConn, case_id: int, changes: Row) -> None:
    allowed = {
        "state", "state_at", "due_at", "party_due_at", "escalated_at", "penalty_cny", "unit_id",
        "hearing_requested", "decision", "reopened", "closed_at",
    }  # fmt: skip
    assert set(changes) <= allowed
    sets = ", ".join(f"{k} = %({k})s" for k in changes)
    params = {k: jsonb(v) if k == "decision" and v is not None else v for k, v in changes.items()}
    await conn.execute(f"UPDATE cases SET {sets} WHERE id = %(id)s", {**params, "id": case_id})


async def events(conn: AConn, case_id: int) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT seq, at, action, event, hash FROM case_events WHERE case_id = %s ORDER BY seq",
            (case_id,),
        )
        return await cur.fetchall()


async def queue(
    conn: AConn,
    who: Principal,
    *,
    unit_id: int | None,
    state: str | None,
    subtype: str | None,
    overdue_at: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Row]:
    """A page of cases, newest first, keyset-paged on (opened_at, id)."""
    where, params = scope_sql(who)
    conds = [f"({where})"]
    if unit_id is not None:
        conds.append("c.unit_id = %(unit_id)s")
    if state is not None:
        conds.append("c.state = %(state)s")
    if subtype is not None:
        conds.append("c.subtype = %(subtype)s")
    if overdue_at is not None:
        conds.append("c.due_at < %(overdue_at)s")
    if after is not None:
        conds.append("(c.opened_at, c.id) < (%(after_at)s, %(after_id)s)")
    params.update(
        unit_id=unit_id, state=state, subtype=subtype, overdue_at=overdue_at, limit=limit,
        after_at=after[0] if after else None, after_id=after[1] if after else None,
    )  # fmt: skip
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {CASE_COLS}, s.name_zh AS subtype_zh, s.name_en AS subtype_en,
                       u.name AS unit_name, co.name AS company_name, v.plate
                  FROM cases c JOIN case_subtypes s ON s.code = c.subtype
                  LEFT JOIN units u ON u.id = c.unit_id
                  LEFT JOIN companies co ON co.id = c.company_id
                  LEFT JOIN vehicles v ON v.id = c.vehicle_id
                 WHERE {" AND ".join(conds)}
                 ORDER BY c.opened_at DESC, c.id DESC LIMIT %(limit)s""",
            params,
        )
        return await cur.fetchall()


async def add_notice(conn: AConn, case: Row, kind: str, at: datetime, body: Row) -> int:
    cur = await conn.execute(
        """INSERT INTO case_notices (case_id, kind, company_id, unit_id, at, body)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (case["id"], kind, case.get("company_id"), case.get("unit_id"), at, jsonb(body)),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def notices(
    conn: AConn, *, case_id: int | None = None, company_id: int | None = None, limit: int = 100
) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT id, case_id, kind, company_id, unit_id, at, body, read_at FROM case_notices
                WHERE (%(case)s::bigint IS NULL OR case_id = %(case)s)
                  AND (%(company)s::bigint IS NULL OR company_id = %(company)s)
                  AND (kind <> 'escalation' OR %(company)s::bigint IS NULL)
                ORDER BY at DESC, id DESC LIMIT %(limit)s""",
            {"case": case_id, "company": company_id, "limit": limit},
        )
        return await cur.fetchall()


async def party(conn: AConn, company_id: int | None) -> Row | None:
    if company_id is None:
        return None
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, name, e_delivery_consent_at FROM companies WHERE id = %s", (company_id,)
        )
        return await cur.fetchone()
