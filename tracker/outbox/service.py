"""Subscriptions, delivery state, dead letters and templates: what the API does, scoped and
audited. Admins see and manage everything; a company user only its own company's
subscriptions (kind ``company``, scope its own trucks) and its own company's events."""

from __future__ import annotations

import ipaddress
import urllib.parse
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tracker.accounts import repo as audit
from tracker.accounts.models import Principal, Role
from tracker.errors import BadRequest, Conflict, Forbidden, NotFound
from tracker.outbox.channels import idempotency_key
from tracker.outbox.models import SubscriptionIn, TemplateIn, target_problem
from tracker.outbox.templates import DEFAULTS
from tracker.wire import OUTBOX_EVENT_TYPES

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
_COLUMNS = (
    "name", "kind", "company_id", "channel", "target", "secret", "event_types",
    "scope_company_ids", "scope_vehicle_ids", "scope_yard_ids", "scope_districts", "batch_max",
    "active",
)  # fmt: skip


def _company_of(who: Principal) -> int | None:
    return who.company_id if who.role == Role.company_user else None


def _check_manager(who: Principal) -> None:
    if who.role not in {Role.admin, Role.company_user}:
        raise Forbidden("only admins and company users manage subscriptions", field="authorization")


def _internal(channel: str, target: str) -> bool:
    """A loopback, private or link-local host named by an HTTP target (literal or localhost)."""
    if channel not in {"webhook", "wecom", "dingtalk"}:
        return False
    host = (urllib.parse.urlsplit(target).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified


def _plain(row: Row) -> Row:
    out = {k: v for k, v in row.items() if k != "secret"}
    out["has_secret"] = bool(row.get("secret"))
    return out


async def _rows(conn: AConn, query: str, params: Any) -> list[Row]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return await cur.fetchall()


async def _counts(conn: AConn, column: str, ids: list[int]) -> dict[int, dict[str, int]]:
    rows = await _rows(
        conn,
        f"""SELECT {column} AS key, state, count(*) AS n FROM outbox_deliveries
             WHERE {column} = ANY (%s) GROUP BY 1, 2""",
        (ids,),
    )
    out: dict[int, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["key"], {})[r["state"]] = int(r["n"])
    return out


async def subscriptions(conn: AConn, who: Principal) -> list[Row]:
    _check_manager(who)
    company = _company_of(who)
    rows = await _rows(
        conn,
        """SELECT * FROM outbox_subscriptions
            WHERE %(c)s::bigint IS NULL OR company_id = %(c)s ORDER BY id""",
        {"c": company},
    )
    counts = await _counts(conn, "subscription_id", [r["id"] for r in rows])
    return [{**_plain(r), "deliveries": counts.get(r["id"], {})} for r in rows]


async def _visible(conn: AConn, sub_id: int, who: Principal, lock: bool = False) -> Row:
    _check_manager(who)
    rows = await _rows(
        conn,
        "SELECT * FROM outbox_subscriptions WHERE id = %s" + (" FOR UPDATE" if lock else ""),
        (sub_id,),
    )
    company = _company_of(who)
    if not rows or (company is not None and rows[0]["company_id"] != company):
        raise NotFound(f"no subscription {sub_id}", field="subscription_id")
    return rows[0]


def _values(body: SubscriptionIn, who: Principal) -> Row:
    problem = target_problem(body.channel, body.target)
    if problem is not None:
        raise BadRequest(problem, field="target")
    values = body.model_dump()
    company = _company_of(who)
    if company is not None and _internal(body.channel, body.target):
        # the platform would POST into its own network on a company's behalf
        raise BadRequest("company subscriptions may not target internal addresses", field="target")
    if company is not None:  # a company hears its own trucks, through its own subscriptions
        if body.kind != "company" or body.company_id not in (None, company):
            raise Forbidden("company users subscribe their own company only", field="kind")
        values["company_id"] = company
    elif body.kind == "company" and body.company_id is None:
        raise BadRequest("a company subscription names its company", field="company_id")
    elif body.kind != "company" and body.company_id is not None:
        raise BadRequest("company_id is for kind company only", field="company_id")
    return values


async def _district_codes(conn: AConn, given: list[str]) -> list[str]:
    """The scope's districts as codes (events carry the code): each named by its code or
    its name; an unknown one is a 400."""
    if not given:
        return []
    rows = await _rows(
        conn,
        """SELECT code, name FROM jurisdictions
            WHERE level = 'district' AND (code = ANY (%(d)s) OR name = ANY (%(d)s))""",
        {"d": given},
    )
    by_code = {r["code"]: r["code"] for r in rows}
    by_name = {r["name"]: r["code"] for r in rows}
    out: list[str] = []
    for d in given:
        code = by_code.get(d) or by_name.get(d)
        if code is None:
            raise BadRequest(
                f"no district {d!r} (a district's code or name)", field="scope_districts"
            )
        if code not in out:
            out.append(code)
    return out


async def create(conn: AConn, body: SubscriptionIn, who: Principal) -> Row:
    _check_manager(who)
    values = _values(body, who)
    async with conn.transaction():
        values["scope_districts"] = await _district_codes(conn, body.scope_districts)
        if values["company_id"] is not None:
            cur = await conn.execute(
                "SELECT 1 FROM companies WHERE id = %s", (values["company_id"],)
            )
            if await cur.fetchone() is None:
                raise NotFound(f"no company {values['company_id']}", field="company_id")
        marks = ", ".join(f"%({c})s" for c in _COLUMNS)
        rows = await _rows(
            conn,
            f"""INSERT INTO outbox_subscriptions ({", ".join(_COLUMNS)}, created_by)
                VALUES ({marks}, %(created_by)s) RETURNING *""",
            {**values, "created_by": who.username},
        )
        row = _plain(rows[0])
        await audit.record(conn, who, "create", "outbox_subscription", row["id"], None, row)
    return row


async def update(conn: AConn, sub_id: int, body: SubscriptionIn, who: Principal) -> Row:
    values = _values(body, who)
    async with conn.transaction():
        before = await _visible(conn, sub_id, who, lock=True)
        values["scope_districts"] = await _district_codes(conn, body.scope_districts)
        if body.secret is None:
            values["secret"] = before["secret"]  # unchanged unless given
        sets = ", ".join(f"{c} = %({c})s" for c in _COLUMNS)
        rows = await _rows(
            conn,
            f"""UPDATE outbox_subscriptions SET {sets}, updated_at = now()
                 WHERE id = %(id)s RETURNING *""",
            {**values, "id": sub_id},
        )
        after = _plain(rows[0])
        await audit.record(
            conn, who, "update", "outbox_subscription", sub_id, _plain(before), after
        )
    return after


async def delete(conn: AConn, sub_id: int, who: Principal) -> None:
    async with conn.transaction():
        before = await _visible(conn, sub_id, who, lock=True)
        await conn.execute("DELETE FROM outbox_subscriptions WHERE id = %s", (sub_id,))
        await audit.record(conn, who, "delete", "outbox_subscription", sub_id, _plain(before))


_DELIVERY = """SELECT d.id, d.subscription_id, s.name AS subscription, d.event_id,
                      e.type AS event_type, e.occurred_at, d.state, d.attempts,
                      CASE WHEN d.state = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
                      d.last_status, d.last_error, d.delivered_at, d.dead_at, d.replays
                 FROM outbox_deliveries d
                 JOIN outbox_events e ON e.id = d.event_id
                 JOIN outbox_subscriptions s ON s.id = d.subscription_id"""


def _delivery(row: Row) -> Row:
    if row.get("next_attempt_at") is not None and row["next_attempt_at"].year < 1971:
        row["next_attempt_at"] = None  # due now
    return {**row, "idempotency_key": idempotency_key(row["subscription_id"], row["event_id"])}


async def deliveries(
    conn: AConn,
    who: Principal,
    *,
    subscription_id: int | None = None,
    event_id: int | None = None,
    state: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[Row]:
    """Delivery state per subscriber (``subscription_id``) or per event (``event_id``), or the
    dead letters (``state`` dead), newest first."""
    if subscription_id is not None:
        await _visible(conn, subscription_id, who)
    elif who.role != Role.admin and (who.role != Role.company_user or event_id is None):
        raise Forbidden("admins only", field="authorization")
    rows = await _rows(
        conn,
        _DELIVERY
        + """ WHERE (%(s)s::bigint IS NULL OR d.subscription_id = %(s)s)
                AND (%(e)s::bigint IS NULL OR d.event_id = %(e)s)
                AND (%(st)s::text IS NULL OR d.state = %(st)s)
                AND (%(c)s::bigint IS NULL OR s.company_id = %(c)s)
                AND (%(b)s::bigint IS NULL OR d.id < %(b)s)
              ORDER BY d.id DESC LIMIT %(n)s""",
        {
            "s": subscription_id, "e": event_id, "st": state, "c": _company_of(who),
            "b": before_id, "n": limit,
        },
    )  # fmt: skip
    return [_delivery(r) for r in rows]


async def events(
    conn: AConn, who: Principal, event_type: str | None, before_id: int | None, limit: int
) -> list[Row]:
    """Events newest first with their deliveries' states; company users: their company's."""
    if who.role not in {Role.admin, Role.company_user}:
        raise Forbidden("admins and company users only", field="authorization")
    rows = await _rows(
        conn,
        """SELECT id, type, occurred_at, created_at, company_id, vehicle_id, yard_id, district,
                  payload, fanned_at FROM outbox_events
            WHERE (%(t)s::text IS NULL OR type = %(t)s)
              AND (%(c)s::bigint IS NULL OR company_id = %(c)s)
              AND (%(b)s::bigint IS NULL OR id < %(b)s)
            ORDER BY id DESC LIMIT %(n)s""",
        {"t": event_type, "c": _company_of(who), "b": before_id, "n": limit},
    )
    counts = await _counts(conn, "event_id", [r["id"] for r in rows])
    return [{**r, "deliveries": counts.get(r["id"], {})} for r in rows]


async def replay(conn: AConn, delivery_id: int, who: Principal, now: datetime) -> Row:
    """Put a dead letter back in its subscription's queue (a fresh retry period), audited."""
    async with conn.transaction():
        rows = await _rows(conn, _DELIVERY + " WHERE d.id = %s FOR UPDATE OF d", (delivery_id,))
        if not rows:
            raise NotFound(f"no delivery {delivery_id}", field="delivery_id")
        if rows[0]["state"] != "dead":
            raise Conflict(f"delivery {delivery_id} is {rows[0]['state']}, not dead", field="state")
        await conn.execute(
            """UPDATE outbox_deliveries
                  SET state = 'pending', next_attempt_at = 'epoch', attempts = 0,
                      first_failed_at = NULL, dead_at = NULL, created_at = %s,
                      replays = replays + 1
                WHERE id = %s""",
            (now, delivery_id),
        )
        after = await _rows(conn, _DELIVERY + " WHERE d.id = %s", (delivery_id,))
        await audit.record(
            conn, who, "replay", "outbox_delivery", delivery_id,
            _jsonable(rows[0]), _jsonable(after[0]),
        )  # fmt: skip
    return _delivery(after[0])


def _jsonable(row: Row) -> Row:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


async def templates(conn: AConn, locale: str) -> list[Row]:
    custom = {
        r["event_type"]: r
        for r in await _rows(conn, "SELECT * FROM outbox_templates WHERE locale = %s", (locale,))
    }
    out = []
    for kind in OUTBOX_EVENT_TYPES:
        title, body = DEFAULTS.get(locale, {}).get(kind, (kind, kind))
        if kind in custom:
            title, body = custom[kind]["title"], custom[kind]["body"]
        out.append({"event_type": kind, "locale": locale, "title": title, "body": body,
                    "custom": kind in custom})  # fmt: skip
    return out


async def set_template(conn: AConn, event_type: str, body: TemplateIn, who: Principal) -> Row:
    if event_type not in OUTBOX_EVENT_TYPES:
        raise NotFound(f"no event type {event_type}", field="event_type")
    async with conn.transaction():
        before = await _rows(
            conn,
            "SELECT title, body FROM outbox_templates WHERE event_type = %s AND locale = %s",
            (event_type, body.locale),
        )
        await conn.execute(
            """INSERT INTO outbox_templates (event_type, locale, title, body, updated_by)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (event_type, locale) DO UPDATE
                   SET title = EXCLUDED.title, body = EXCLUDED.body,
                       updated_by = EXCLUDED.updated_by, updated_at = now()""",
            (event_type, body.locale, body.title, body.body, who.username),
        )
        after = {"event_type": event_type, **body.model_dump()}
        await audit.record(
            conn, who, "update", "outbox_template", f"{event_type}/{body.locale}",
            before[0] if before else None, after,
        )  # fmt: skip
    return {**after, "custom": True}
