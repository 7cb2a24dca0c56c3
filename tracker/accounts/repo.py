"""Users, API tokens and the audit log: the SQL, in one place.

Passwords are hashed with argon2id (argon2-cffi's defaults); API tokens are 256-bit random
secrets, so a fast hash (sha256) is right for them and lets a request find its token by hash.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb

from tracker.accounts.models import AuditEntry, Principal, Role, UserOut

AConn = psycopg.AsyncConnection[Any]
TOKEN_PREFIX = "mu_"
_hasher = PasswordHasher()
_USER_COLUMNS = "id, username, role, company_id, active, created_at"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def jsonb(value: Any) -> Jsonb:
    """A Jsonb parameter that also takes Decimals, dates and times."""
    return Jsonb(value, dumps=lambda v: orjson.dumps(v, default=_default).decode())


async def create_user(
    conn: AConn, username: str, password: str, role: Role, company_id: int | None
) -> UserOut:
    async with conn.cursor(row_factory=class_row(UserOut)) as cur:
        await cur.execute(
            f"""INSERT INTO users (username, password_hash, role, company_id)
                VALUES (%s, %s, %s, %s) RETURNING {_USER_COLUMNS}""",
            (username, await asyncio.to_thread(hash_password, password), role.value, company_id),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def list_users(conn: AConn) -> list[UserOut]:
    async with conn.cursor(row_factory=class_row(UserOut)) as cur:
        await cur.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY id")
        return await cur.fetchall()


async def set_user_active(conn: AConn, user_id: int, active: bool) -> UserOut | None:
    async with conn.cursor(row_factory=class_row(UserOut)) as cur:
        await cur.execute(
            f"UPDATE users SET active = %s WHERE id = %s RETURNING {_USER_COLUMNS}",
            (active, user_id),
        )
        return await cur.fetchone()


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A login attempt: the principal, or why not (``unknown_user``, ``inactive``,
    ``wrong_password``) and the account's id when there is one."""

    principal: Principal | None
    reason: str | None = None
    user_id: int | None = None


async def login_row(conn: AConn, username: str) -> tuple[Any, ...] | None:
    """What a login needs of an account: id, password hash, role, company, active."""
    cur = await conn.execute(
        "SELECT id, password_hash, role, company_id, active FROM users WHERE username = %s",
        (username,),
    )
    return await cur.fetchone()


async def check_login(row: tuple[Any, ...] | None, username: str, password: str) -> LoginResult:
    """Check a password against :func:`login_row`'s answer. argon2 runs in a worker thread,
    never on the event loop (and with no database connection held)."""
    if row is None or not row[4]:
        # the same cost whether or not the account exists
        await asyncio.to_thread(verify_password, _dummy_hash(), password)
        if row is None:
            return LoginResult(None, "unknown_user")
        return LoginResult(None, "inactive", int(row[0]))
    if not await asyncio.to_thread(verify_password, row[1], password):
        return LoginResult(None, "wrong_password", int(row[0]))
    return LoginResult(Principal(username, Role(row[2]), row[3], int(row[0])), None, int(row[0]))


async def record_login_failure(
    conn: AConn, username: str, user_id: int | None, source: str, reason: str
) -> None:
    """Audit a refused login: which account was tried, from where, and why (never a password).
    The actor is ``anonymous``: nobody proved who they are."""
    await conn.execute(
        """INSERT INTO audit_log (actor, user_id, action, entity, entity_id, entity_key, after)
           VALUES ('anonymous', NULL, 'login_failed', 'user', %s, %s, %s)""",
        (
            user_id,
            None if user_id is None else str(user_id),
            jsonb({"username": username, "source": source, "reason": reason}),
        ),
    )


async def issue_token(conn: AConn, user_id: int, ttl: timedelta) -> tuple[str, datetime]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    cur = await conn.execute(
        """INSERT INTO user_tokens (token_hash, user_id, expires_at)
           VALUES (%s, %s, now() + %s) RETURNING expires_at""",
        (_token_hash(token), user_id, ttl),
    )
    row = await cur.fetchone()
    assert row is not None
    return token, row[0]


async def principal_by_token(conn: AConn, token: str) -> Principal | None:
    cur = await conn.execute(
        """SELECT u.id, u.username, u.role, u.company_id, u.unit_id, u.area_id
             FROM user_tokens t JOIN users u ON u.id = t.user_id
            WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > now()
              AND u.active""",
        (_token_hash(token),),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Principal(row[1], Role(row[2]), row[3], int(row[0]), row[4], row[5])


async def revoke_token(conn: AConn, token: str) -> bool:
    cur = await conn.execute(
        "UPDATE user_tokens SET revoked_at = now() WHERE token_hash = %s AND revoked_at IS NULL",
        (_token_hash(token),),
    )
    return cur.rowcount == 1


async def revoke_user_tokens(conn: AConn, user_id: int) -> int:
    cur = await conn.execute(
        "UPDATE user_tokens SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
        (user_id,),
    )
    return cur.rowcount


async def record(
    conn: AConn,
    actor: Principal,
    action: str,
    entity: str,
    entity_id: int | str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Write one audit row; call it inside the transaction of the write it describes.

    ``entity_id`` is the entity's id: a number (stored in ``entity_id`` and, as text, in
    ``entity_key``) or a text key such as an incident id (``entity_key`` only)."""
    await conn.execute(
        """INSERT INTO audit_log
               (actor, user_id, action, entity, entity_id, entity_key, before, after)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            actor.username,
            actor.user_id,
            action,
            entity,
            entity_id if isinstance(entity_id, int) else None,
            None if entity_id is None else str(entity_id),
            None if before is None else jsonb(before),
            None if after is None else jsonb(after),
        ),
    )


async def audit_entries(
    conn: AConn,
    *,
    entity: str | None,
    entity_id: int | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    entity_key: str | None = None,
) -> list[AuditEntry]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT id, at, actor, user_id, action, entity, entity_id, entity_key,
                      before, after
                 FROM audit_log
                WHERE (%(entity)s::text IS NULL OR entity = %(entity)s)
                  AND (%(entity_id)s::bigint IS NULL OR entity_id = %(entity_id)s)
                  AND (%(entity_key)s::text IS NULL OR entity_key = %(entity_key)s)
                  AND (%(actor)s::text IS NULL OR actor = %(actor)s)
                  AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
                  AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
                ORDER BY at DESC, id DESC LIMIT %(limit)s""",
            {
                "entity": entity,
                "entity_id": entity_id,
                "entity_key": entity_key,
                "actor": actor,
                "since": since,
                "until": until,
                "limit": limit,
            },
        )
        return [AuditEntry(**row) for row in await cur.fetchall()]


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("not a real password, only here to spend the same time")
