"""The assessment (考核) of units and districts, the record of companies, and the public list of
sanctions. Figures come from the cases and their chained events (each move's event carries the
deadline it had and whether it kept it, and the seconds spent in the stage it left)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from tracker.accounts.models import Principal
from tracker.blacklist import repo as credit_repo
from tracker.blacklist.service import credit_score, grade
from tracker.cases.machine import OPEN_STATES
from tracker.cases.repo import scope_sql

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]

_GROUP = """
WITH c AS (SELECT c.* FROM cases c WHERE {scope}),
ev AS (SELECT c.{key} AS key, e.action, e.event ->> 'from' AS stage,
              (e.event ->> 'on_time')::boolean AS on_time,
              (e.event ->> 'stage_s')::float8 AS stage_s
         FROM case_events e JOIN c ON c.id = e.case_id)
SELECT g.key, g.cases, g.closed, g.dismissed, g.reopened, g.overdue, s.by_state, t.moves_due,
       t.moves_on_time, t.notified, t.answered, m.stage_mean_s
  FROM (SELECT {key} AS key, count(*) AS cases,
               count(*) FILTER (WHERE state = 'closed') AS closed,
               count(*) FILTER (WHERE state = 'dismissed') AS dismissed,
               count(*) FILTER (WHERE reopened > 0) AS reopened,
               count(*) FILTER (WHERE due_at < %(now)s AND state = ANY(%(open)s)) AS overdue
          FROM c GROUP BY {key}) g
  LEFT JOIN (SELECT key, jsonb_object_agg(state, n) AS by_state
               FROM (SELECT {key} AS key, state, count(*) AS n FROM c GROUP BY 1, 2) x
              GROUP BY key) s ON s.key IS NOT DISTINCT FROM g.key
  LEFT JOIN (SELECT key, count(on_time) AS moves_due,
                    count(*) FILTER (WHERE on_time) AS moves_on_time,
                    count(*) FILTER (WHERE action = 'notify') AS notified,
                    count(*) FILTER (WHERE action IN ('state', 'accept')) AS answered
               FROM ev GROUP BY key) t ON t.key IS NOT DISTINCT FROM g.key
  LEFT JOIN (SELECT key, jsonb_object_agg(stage, mean_s) AS stage_mean_s
               FROM (SELECT key, stage, round(avg(stage_s)::numeric, 1) AS mean_s FROM ev
                      WHERE stage IS NOT NULL AND stage_s IS NOT NULL GROUP BY 1, 2) y
              GROUP BY key) m ON m.key IS NOT DISTINCT FROM g.key
 ORDER BY g.key NULLS LAST"""


def _rates(row: Row) -> Row:
    ended = row["closed"] + row["dismissed"]
    return {
        **row,
        "on_time_rate": _ratio(row["moves_on_time"], row["moves_due"]),
        "closure_rate": _ratio(row["closed"], row["cases"] - row["dismissed"]),
        "reopen_rate": _ratio(row["reopened"], max(ended, row["reopened"])),
        "feedback_rate": _ratio(row["answered"], row["notified"]),
    }


def _ratio(part: int | None, whole: int | None) -> float | None:
    return None if not whole else round((part or 0) / whole, 4)


async def _grouped(conn: AConn, who: Principal, key: str, now: datetime) -> list[Row]:
    where, params = scope_sql(who)
    query = sql.SQL(_GROUP).format(scope=sql.SQL(where), key=sql.Identifier(key))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {**params, "now": now, "open": sorted(OPEN_STATES)})
        return [_rates(r) for r in await cur.fetchall()]


async def _names(conn: AConn, table: str) -> dict[int, str]:
    cur = await conn.execute(sql.SQL("SELECT id, name FROM {}").format(sql.Identifier(table)))
    return {int(r[0]): str(r[1]) for r in await cur.fetchall()}


async def assess(conn: AConn, who: Principal, now: datetime) -> Row:
    units, areas = await _names(conn, "units"), await _names(conn, "jurisdictions")
    by_unit = [
        {**r, "name": units.get(r["key"])} for r in await _grouped(conn, who, "unit_id", now)
    ]
    by_district = [
        {**r, "name": areas.get(r["key"])} for r in await _grouped(conn, who, "district_id", now)
    ]
    return {"units": by_unit, "districts": by_district, "companies": await companies(conn, who)}


async def companies(conn: AConn, who: Principal, limit: int = 500) -> list[Row]:
    where, params = scope_sql(who)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT c.company_id, count(*) AS cases,
                       count(*) FILTER (WHERE c.decision IS NOT NULL) AS decided,
                       COALESCE(sum(c.penalty_cny) FILTER (WHERE c.decision IS NOT NULL), 0)::float8
                           AS penalties_cny
                  FROM cases c WHERE c.company_id IS NOT NULL AND ({where})
                 GROUP BY c.company_id ORDER BY count(*) DESC LIMIT %(limit)s""",
            {**params, "limit": limit},
        )
        rows = await cur.fetchall()
    out = []
    for r in rows:
        out.append({**r, **await credit(conn, r["company_id"])})
    return out


async def credit(conn: AConn, company_id: int) -> Row:
    """A company's name, credit score and grade (tracker.blacklist's rule)."""
    cfg = await credit_repo.settings(conn)
    rec = await credit_repo.company_record(conn, company_id, cfg["window_days"])
    if rec is None:
        return {"name": None, "score": None, "grade": None}
    score = credit_score(int(rec["points"]), int(rec["active_vehicles"]), int(rec["listings"]), cfg)
    return {"name": rec["name"], "score": score, "grade": grade(score)}


async def sanctions(conn: AConn) -> Row:
    """What may be published: blacklisted vehicles and companies graded D."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT v.plate, co.name AS company, b.since, b.reason
                 FROM blacklisted_vehicles b JOIN vehicles v ON v.id = b.vehicle_id
                 LEFT JOIN companies co ON co.id = v.company_id
                ORDER BY b.since DESC LIMIT 1000"""
        )
        vehicles = await cur.fetchall()
        cfg = await credit_repo.settings(conn)
        rows = await credit_repo.company_records(conn, cfg["window_days"])
    graded = []
    for r in rows:
        score = credit_score(int(r["points"]), int(r["active_vehicles"]), int(r["listings"]), cfg)
        if grade(score) == "D":
            graded.append({"company_id": r["company_id"], "name": r["name"], "score": score,
                           "grade": "D"})  # fmt: skip
    return {"vehicles": vehicles, "companies": graded}
