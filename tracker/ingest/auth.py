"""Terminal authentication by bearer token, with a short-lived in-process cache.

A revoked or rotated token keeps working for at most ``ttl_s`` in a process that cached it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from tracker.errors import Forbidden, Unauthorized
from tracker.registry import repo


@dataclass(frozen=True, slots=True)
class TerminalIdentity:
    terminal_id: int
    vehicle_id: int
    company_id: int | None


class TerminalAuthenticator:
    def __init__(self, pool: AsyncConnectionPool, ttl_s: float = 60.0, max_entries: int = 100_000):
        self._pool = pool
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._cache: dict[str, tuple[float, repo.TerminalAuth | None]] = {}

    async def _lookup(self, token: str) -> repo.TerminalAuth | None:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self._pool.connection() as conn:
            found = await repo.terminal_by_token(conn, token)
        if len(self._cache) >= self._max_entries:
            self._cache.clear()
        self._cache[token] = (now + self._ttl_s, found)
        return found

    async def authenticate(self, authorization: str | None) -> TerminalIdentity:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("a terminal bearer token is required", field="authorization")
        found = await self._lookup(token.strip())
        if found is None or not found.active:
            raise Unauthorized("unknown or revoked terminal token", field="authorization")
        if found.vehicle_id is None:
            raise Forbidden("this terminal is not fitted to a vehicle", field="authorization")
        if found.vehicle_active is False:
            raise Forbidden("the terminal's vehicle is deregistered", field="authorization")
        return TerminalIdentity(found.terminal_id, found.vehicle_id, found.company_id)
