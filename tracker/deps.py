"""Shared FastAPI dependencies: the platform's services from app state, and staff auth."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Header, Request
from psycopg_pool import AsyncConnectionPool

from tracker.errors import Unauthorized
from tracker.ingest.auth import TerminalAuthenticator
from tracker.ingest.service import IngestService
from tracker.ingest.stream import StreamPublisher
from tracker.ingest.writer import GroupCommitWriter
from tracker.registry.directory import VehicleDirectory
from tracker.settings import Settings


@dataclass(slots=True)
class Platform:
    settings: Settings
    pool: AsyncConnectionPool
    redis: aioredis.Redis
    writer: GroupCommitWriter
    publisher: StreamPublisher
    ingest: IngestService
    terminals: TerminalAuthenticator
    vehicles: VehicleDirectory


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def require_staff(
    platform: PlatformDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Staff endpoints need the staff bearer token (staff accounts come with the permit issue)."""
    scheme, _, token = (authorization or "").partition(" ")
    expected = platform.settings.staff_token.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise Unauthorized("a staff bearer token is required", field="authorization")


StaffDep = Annotated[None, Depends(require_staff)]
