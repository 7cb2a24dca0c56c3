"""Where a verified clue becomes a case: ONE function, which the coordinator points at the
cases package's ``open_case`` when both branches meet.

Until then no case table exists: ``open_case`` answers None, and the clue stays ``to_case``
with the request recorded (``case_request``: who asked, when, the note) for the cases side to
pick up. It runs inside the transaction that moves the clue, so a case and its clue's state
commit together."""

from __future__ import annotations

from typing import Any

import psycopg

from tracker.accounts.models import Principal

AConn = psycopg.AsyncConnection[Any]


async def open_case(conn: AConn, clue: dict[str, Any], who: Principal) -> int | None:
    """Open a case from ``clue`` (a row of tracker.clues.repo.get); the case id, or None while
    the platform has no cases."""
    del conn, clue, who
    return None
