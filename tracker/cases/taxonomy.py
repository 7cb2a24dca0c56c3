"""The case taxonomy (categories and subtypes with penalty ranges and legal bases), as data:
the default for construction-waste transport ships as ``taxonomy_default.json``; a city loads
its own (CLI ``tracker cases taxonomy FILE``, ``PUT /api/v1/cases/taxonomy``). Loading adds or
updates by code; subtypes that cases use are never deleted."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tracker.accounts import repo as audit
from tracker.accounts.models import SYSTEM, Principal
from tracker.cases.models import TaxonomyIn
from tracker.errors import BadRequest

AConn = psycopg.AsyncConnection[Any]


def default_taxonomy() -> TaxonomyIn:
    text = resources.files("tracker.cases").joinpath("taxonomy_default.json").read_text("utf-8")
    return TaxonomyIn.model_validate(json.loads(text))


async def load_taxonomy(conn: AConn, body: TaxonomyIn, who: Principal) -> dict[str, int]:
    categories = {c.code for c in body.categories}
    for i, s in enumerate(body.subtypes):
        if s.category not in categories:
            raise BadRequest(f"unknown category {s.category}", field=f"subtypes.{i}.category")
        if s.penalty_max_cny < s.penalty_min_cny:
            raise BadRequest("penalty_max_cny below penalty_min_cny", field=f"subtypes.{i}")
    async with conn.transaction():
        for c in body.categories:
            await conn.execute(
                """INSERT INTO case_categories (code, name_zh, name_en) VALUES (%s, %s, %s)
                   ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh,
                                                    name_en = EXCLUDED.name_en""",
                (c.code, c.name_zh, c.name_en),
            )
        for s in body.subtypes:
            await conn.execute(
                """INSERT INTO case_subtypes (code, category, name_zh, name_en, penalty_min_cny,
                                              penalty_max_cny, legal_basis, unit_kind,
                                              incident_types)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (code) DO UPDATE SET category = EXCLUDED.category,
                       name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
                       penalty_min_cny = EXCLUDED.penalty_min_cny,
                       penalty_max_cny = EXCLUDED.penalty_max_cny,
                       legal_basis = EXCLUDED.legal_basis, unit_kind = EXCLUDED.unit_kind,
                       incident_types = EXCLUDED.incident_types""",
                (s.code, s.category, s.name_zh, s.name_en, s.penalty_min_cny, s.penalty_max_cny,
                 s.legal_basis, s.unit_kind, s.incident_types),
            )  # fmt: skip
        counts = {"categories": len(body.categories), "subtypes": len(body.subtypes)}
        await audit.record(conn, who, "load", "case_taxonomy", None, None, counts)
    return counts


async def ensure_default(conn: AConn) -> bool:
    """Load the default taxonomy when the platform has none yet (its first start), so an
    officer's confirmation opens a case from day one; a city's own taxonomy is never touched.
    True when it was loaded now."""
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM case_subtypes)")
    row = await cur.fetchone()
    if row is not None and row[0]:
        return False
    await load_taxonomy(conn, default_taxonomy(), SYSTEM)
    return True


async def taxonomy(conn: AConn) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT code, name_zh, name_en FROM case_categories ORDER BY code")
        cats = await cur.fetchall()
        await cur.execute(
            """SELECT code, category, name_zh, name_en, penalty_min_cny::float8 AS penalty_min_cny,
                      penalty_max_cny::float8 AS penalty_max_cny, legal_basis, unit_kind,
                      incident_types FROM case_subtypes ORDER BY category, code"""
        )
        return {"categories": cats, "subtypes": await cur.fetchall()}


async def subtype_for_incident(conn: AConn, incident_type: str) -> str | None:
    cur = await conn.execute(
        "SELECT code FROM case_subtypes WHERE %s = ANY(incident_types) ORDER BY code LIMIT 1",
        (incident_type,),
    )
    row = await cur.fetchone()
    return None if row is None else str(row[0])
