"""The one place where a case must reach a person: the notice to the party (告知), the decision,
its delivery (送达) and an overdue escalation to the unit.

For now a notice is recorded in ``case_notices`` in the caller's transaction: the party reads
its notices in the company portal, a unit's escalations in its queue. When the outbox lands,
this function also writes the outbox row (same transaction) and nothing else changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import psycopg

from tracker.cases import repo

AConn = psycopg.AsyncConnection[Any]
NoticeKind = Literal["notice", "decision", "delivery", "escalation"]


async def notify(
    conn: AConn, case: dict[str, Any], kind: NoticeKind, at: datetime, body: dict[str, Any]
) -> int:
    """Record that ``case``'s party (or, for an escalation, its unit) must be told ``body``."""
    return await repo.add_notice(conn, case, kind, at, {"case_id": case["id"], **body})
