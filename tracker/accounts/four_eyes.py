"""Four eyes: a decision on a record must come from another account than its authors.

The audit log is the truth of who wrote what, so the rule reads it: the *authors* of an entity
are the accounts of its audit rows with one of the given actions (for a permit: ``create``,
``update``, ``submit``). :func:`require_other_account` refuses a decider among them with
:class:`FourEyesViolation` (403, code ``four_eyes``). It holds for every role, admins included.

The one exception is the bootstrap staff token (``TRACKER_STAFF_TOKEN``): it is not an account but
the deployment's set-up secret, and its rows carry no user id to tell two people apart; every use
of it is audited as actor ``bootstrap``. Permit approval uses this rule; penalty decisions are
meant to use it the same way (``entity``, the authoring actions, the deciding action).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from tracker.accounts.models import BOOTSTRAP, Principal
from tracker.errors import Forbidden

AConn = psycopg.AsyncConnection[Any]


class FourEyesViolation(Forbidden):
    code = "four_eyes"


async def authors(conn: AConn, entity: str, entity_id: int, actions: Iterable[str]) -> set[int]:
    """The user ids of the accounts that did one of ``actions`` on the entity."""
    cur = await conn.execute(
        """SELECT DISTINCT user_id FROM audit_log
            WHERE entity = %s AND entity_id = %s AND action = ANY(%s) AND user_id IS NOT NULL""",
        (entity, entity_id, list(actions)),
    )
    return {int(row[0]) for row in await cur.fetchall()}


async def require_other_account(
    conn: AConn,
    who: Principal,
    *,
    entity: str,
    entity_id: int,
    authored_by: Iterable[str],
    decision: str,
) -> None:
    """Refuse ``who`` deciding (``decision``) on an entity it authored (``authored_by``)."""
    if who == BOOTSTRAP or who.user_id is None:
        return
    actions = tuple(authored_by)
    if who.user_id in await authors(conn, entity, entity_id, actions):
        raise FourEyesViolation(
            f"four eyes: the account that did {'/'.join(actions)} on {entity} {entity_id} "
            f"may not {decision} it; another account must",
            field="authorization",
            details=[{"rule": "four_eyes", "entity": entity, "entity_id": entity_id}],
        )
