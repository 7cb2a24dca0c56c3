"""The one place where a case must reach a person: the notice to the party (告知), the decision,
its delivery (送达) and an overdue escalation to the unit.

A notice is recorded in ``case_notices`` in the caller's transaction (the party reads its
notices in the company portal, a unit's escalations in its queue) and goes into the outbox in
the same transaction (``case.notice``, ``case.decision``, ``case.delivery``,
``case.escalation``): the company's subscriptions hear it by webhook, SMS, e-mail or robot,
retried until delivered, never before the case's change commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import psycopg

from tracker.cases import repo
from tracker.outbox.events import OutboxEvent, emit

AConn = psycopg.AsyncConnection[Any]
NoticeKind = Literal["notice", "decision", "delivery", "escalation"]


async def notify(
    conn: AConn, case: dict[str, Any], kind: NoticeKind, at: datetime, body: dict[str, Any]
) -> int:
    """Record that ``case``'s party (or, for an escalation, its unit) must be told ``body``."""
    payload = {"case_id": case["id"], **body}
    notice_id = await repo.add_notice(conn, case, kind, at, payload)
    await emit(
        conn,
        OutboxEvent(
            f"case.{kind}", at, payload, company_id=case.get("company_id"),
            vehicle_id=case.get("vehicle_id"), dedupe_key=f"case-notice-{notice_id}",
        ),
    )  # fmt: skip
    return notice_id
