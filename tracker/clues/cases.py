"""Where a verified clue becomes a case: the cases package's ``open_case`` (source ``clue``,
the clue's id as its reference, so converting twice finds the first case), in the transaction
that moves the clue, so the case and the clue's state commit together.

The case's subtype is the officer's choice, else the one the clue's kind maps to
(:data:`SUBTYPE_OF_KIND`); a kind with no subtype (``overload``, ``other``) needs the officer to
name one (400 naming ``subtype``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from tracker.accounts.models import Principal
from tracker.cases import service as cases
from tracker.cases.machine import Deadlines
from tracker.errors import BadRequest

AConn = psycopg.AsyncConnection[Any]

# a clue's kind -> the default taxonomy's subtype (tracker/cases/taxonomy_default.json)
SUBTYPE_OF_KIND: dict[str, str] = {
    "dumping": "dumping_at_will",
    "spilling": "spilling",
    "uncovered": "spilling",
    "route": "route_deviation",
    "speeding": "speeding",
    "muddy_wheels": "site_dust",
}


async def open_case(
    conn: AConn,
    clue: dict[str, Any],
    who: Principal,
    *,
    subtype: str | None,
    now: datetime,
    deadlines: Deadlines,
) -> int:
    """Open (or find) the case of ``clue`` (a row of tracker.clues.repo.get); its id."""
    chosen = subtype or SUBTYPE_OF_KIND.get(str(clue["kind"]))
    if chosen is None:
        raise BadRequest(f"a {clue['kind']} clue needs the case's subtype chosen", field="subtype")
    facts = f"群众/网格线索 #{clue['id']}：{clue.get('description') or clue['kind']}"
    row = await cases.open_case(
        conn, source="clue", subtype=chosen, who=who, now=now, d=deadlines, facts=facts,
        lon=clue.get("lon"), lat=clue.get("lat"), company_id=clue.get("company_id"),
        vehicle_id=clue.get("vehicle_id"), source_ref=str(clue["id"]),
    )  # fmt: skip
    return int(row["id"])
