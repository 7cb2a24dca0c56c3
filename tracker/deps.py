"""Shared FastAPI dependencies: the platform's services from app state, and who is calling.

The :class:`Platform` is what an API process holds: its pool, its Redis client, its ingest
pipeline (``tracker.pipeline``) and the in-process caches the endpoints read. It is built by
``create_app`` and started and stopped by the API's lifespan (``tracker.app``).

Every staff endpoint takes a :class:`Principal` through a role-checking dependency:
``StaffDep`` (any account), ``OfficeDep`` (admin, permit officer), ``AdminDep``, or
``Annotated[Principal, Depends(require_roles(...))]``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Header, Request
from psycopg_pool import AsyncConnectionPool

from tracker.accounts import repo as accounts_repo
from tracker.accounts.models import BOOTSTRAP, OFFICE_ROLES, STAFF_ROLES, Principal, Role
from tracker.accounts.revocation import RevocationListener
from tracker.accounts.throttle import LoginThrottle
from tracker.db import make_pool
from tracker.errors import Forbidden, Unauthorized
from tracker.ingest.auth import TerminalAuthenticator
from tracker.ingest.service import IngestService
from tracker.ingest.stream import StreamPublisher
from tracker.ingest.writer import GroupCommitWriter
from tracker.pipeline import IngestPipeline, build_pipeline
from tracker.registry.directory import VehicleDirectory
from tracker.settings import Settings


@dataclass(slots=True)
class Platform:
    settings: Settings
    pool: AsyncConnectionPool
    redis: aioredis.Redis
    pipeline: IngestPipeline
    terminals: TerminalAuthenticator
    vehicles: VehicleDirectory
    login_throttle: LoginThrottle
    revocations: RevocationListener

    @classmethod
    def build(cls, settings: Settings) -> Platform:
        """An API process's services, not started yet (no connection is made here)."""
        pool = make_pool(settings)
        redis = aioredis.Redis.from_url(settings.redis_url)
        terminals = TerminalAuthenticator(pool)
        return cls(
            settings,
            pool,
            redis,
            build_pipeline(settings, pool, redis),
            terminals,
            VehicleDirectory(pool),
            LoginThrottle(redis, settings.login),
            RevocationListener(settings.redis_url, [terminals]),
        )

    async def start(self) -> None:
        await self.pool.open(wait=True)
        await self.pipeline.start()
        self.revocations.start()

    async def stop(self) -> None:
        await self.revocations.stop()
        await self.pipeline.stop()
        await self.pool.close()
        await self.redis.aclose()

    @property
    def writer(self) -> GroupCommitWriter:
        return self.pipeline.writer

    @property
    def publisher(self) -> StreamPublisher:
        return self.pipeline.publisher

    @property
    def ingest(self) -> IngestService:
        return self.pipeline.service


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required", field="authorization")
    return token.strip()


async def get_principal(
    platform: PlatformDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The caller: a staff account's API token, or the bootstrap staff token (an admin)."""
    token = _bearer(authorization)
    if hmac.compare_digest(token.encode(), platform.settings.staff_token.encode()):
        return BOOTSTRAP
    async with platform.pool.connection() as conn:
        principal = await accounts_repo.principal_by_token(conn, token)
    if principal is None:
        raise Unauthorized("unknown, expired or revoked token", field="authorization")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_metrics_reader(platform: Platform, authorization: str | None) -> None:
    """``/metrics`` is read with the scrape token (``TRACKER_METRICS_TOKEN``) or by an admin."""
    token = _bearer(authorization)
    scrape = platform.settings.metrics_token
    if scrape and hmac.compare_digest(token.encode(), scrape.encode()):
        return
    principal = await get_principal(platform, authorization)
    if principal.role != Role.admin:
        raise Forbidden(
            "metrics are read with the scrape token or by an admin", field="authorization"
        )


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting only ``roles`` (admin always); 403 for the others."""
    allowed = frozenset(roles) | {Role.admin}

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"role {principal.role.value} may not do this", field="authorization")
        return principal

    return check


StaffDep = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]
OfficeDep = Annotated[Principal, Depends(require_roles(*OFFICE_ROLES))]
AdminDep = Annotated[Principal, Depends(require_roles(Role.admin))]
