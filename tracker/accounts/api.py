"""Tokens for staff accounts, the accounts themselves (admin), and the audit log (admin)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request

from tracker.accounts import repo
from tracker.accounts.models import (
    AuditEntry,
    Role,
    TokenOut,
    TokenRequest,
    UserIn,
    UserOut,
)
from tracker.accounts.revocation import publish_revocations
from tracker.accounts.throttle import LoginLocked
from tracker.deps import AdminDep, PlatformDep, PrincipalDep
from tracker.errors import BadRequest, NotFound, Unauthorized
from tracker.times import Instant
from tracker.wire import Revocation

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post(
    "/auth/token",
    summary="Exchange a username and password for an API token",
    description="Failed logins lock the account (and the source address) with back-off: "
    "429 with Retry-After and a JSON reason while locked. Every failure is audited.",
)
async def token(platform: PlatformDep, body: TokenRequest, request: Request) -> TokenOut:
    ttl = timedelta(hours=platform.settings.token_ttl_h)
    source = request.client.host if request.client else "unknown"
    throttle = platform.login_throttle
    try:
        await throttle.admit(body.username, source)
    except LoginLocked as exc:
        async with platform.pool.connection() as conn:
            row = await repo.login_row(conn, body.username)
            reason = str(exc.details["reason"])
            user_id = None if row is None else int(row[0])
            await repo.record_login_failure(conn, body.username, user_id, source, reason)
        raise
    async with platform.pool.connection() as conn:
        row = await repo.login_row(conn, body.username)
    result = await repo.check_login(row, body.username, body.password)
    principal = result.principal
    if principal is None or principal.user_id is None:
        if await throttle.failed(source):
            log.warning("logins from %s locked after repeated failures", source)
        async with platform.pool.connection() as conn:
            await repo.record_login_failure(
                conn, body.username, result.user_id, source, result.reason or "refused"
            )
        raise Unauthorized("wrong username or password", field="password")
    await throttle.succeeded(body.username)
    async with platform.pool.connection() as conn, conn.transaction():
        access, expires_at = await repo.issue_token(conn, principal.user_id, ttl)
        await repo.record(conn, principal, "login", "user", principal.user_id)
    return TokenOut(
        access_token=access,
        expires_at=expires_at,
        role=principal.role,
        company_id=principal.company_id,
    )


@router.post("/auth/logout", summary="Revoke the token this request carries")
async def logout(
    platform: PlatformDep,
    principal: PrincipalDep,  # every account, department ones too
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, bool]:
    presented = (authorization or "").partition(" ")[2].strip()
    async with platform.pool.connection() as conn, conn.transaction():
        revoked = await repo.revoke_token(conn, presented)
        if revoked:
            await repo.record(conn, principal, "logout", "user", principal.user_id)
    if revoked and principal.user_id is not None:
        await publish_revocations(platform.redis, [Revocation("user", principal.user_id)])
    return {"revoked": revoked}


@router.get("/auth/me", summary="Who the token belongs to")
async def me(principal: PrincipalDep) -> dict[str, object]:
    return {
        "username": principal.username,
        "role": principal.role.value,
        "company_id": principal.company_id,
        "user_id": principal.user_id,
    }


@router.post("/users", status_code=201, summary="Create a staff account (admin)")
async def create_user(platform: PlatformDep, principal: AdminDep, body: UserIn) -> UserOut:
    _check_company_role(body.role, body.company_id)
    async with platform.pool.connection() as conn, conn.transaction():
        user = await repo.create_user(
            conn, body.username, body.password, body.role, body.company_id
        )
        await repo.record(
            conn, principal, "create", "user", user.id, None, user.model_dump(mode="json")
        )
    return user


@router.get("/users", summary="Staff accounts (admin)")
async def list_users(platform: PlatformDep, _: AdminDep) -> list[UserOut]:
    async with platform.pool.connection() as conn:
        return await repo.list_users(conn)


@router.delete("/users/{user_id}", summary="Deactivate an account and revoke its tokens (admin)")
async def deactivate_user(platform: PlatformDep, principal: AdminDep, user_id: int) -> UserOut:
    async with platform.pool.connection() as conn, conn.transaction():
        user = await repo.set_user_active(conn, user_id, False)
        if user is None:
            raise NotFound(f"no user {user_id}", field="user_id")
        await repo.revoke_user_tokens(conn, user_id)
        await repo.record(conn, principal, "deactivate", "user", user_id, None, {"active": False})
    await publish_revocations(platform.redis, [Revocation("user", user_id)])
    return user


@router.get("/audit", summary="The audit log, newest first (admin)")
async def audit(
    platform: PlatformDep,
    _: AdminDep,
    entity: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: int | None = None,
    entity_key: Annotated[str | None, Query(max_length=200)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntry]:
    async with platform.pool.connection() as conn:
        return await repo.audit_entries(
            conn,
            entity=entity,
            entity_id=entity_id,
            entity_key=entity_key,
            actor=actor,
            since=since,
            until=until,
            limit=limit,
        )


def _check_company_role(role: Role, company_id: int | None) -> None:
    if (role == Role.company_user) != (company_id is not None):
        raise BadRequest("company_id is required for company users only", field="company_id")
