"""Terminal authentication by bearer token, with an in-process cache kept honest by revocations.

Entries are kept ``ttl_s`` while the process listens to the revocation channel
(tracker.accounts.revocation): a rotated token, a changed or deactivated terminal or vehicle is
dropped as soon as its ``Revocation`` arrives. While the process is not listening (Redis away,
or not subscribed yet) entries are kept ``short_ttl_s`` only, and the cache is flushed whenever
listening stops or starts again, so a missed message can never keep a revoked token alive.
A lookup that raced a revocation is not cached (a generation counter tells).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from tracker.errors import Forbidden, Unauthorized
from tracker.registry import repo
from tracker.wire import Revocation


@dataclass(frozen=True, slots=True)
class TerminalIdentity:
    terminal_id: int
    vehicle_id: int
    company_id: int | None


class TerminalAuthenticator:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        ttl_s: float = 60.0,
        max_entries: int = 100_000,
        short_ttl_s: float = 2.0,
    ):
        self._pool = pool
        self._ttl_s = ttl_s
        self._short_ttl_s = short_ttl_s
        self._listening = False
        self._generation = 0
        self._max_entries = max_entries
        self._cache: dict[str, tuple[float, repo.TerminalAuth | None]] = {}

    @property
    def cached(self) -> int:
        return len(self._cache)

    def revoke(self, message: Revocation) -> None:
        """Drop what a revocation names (a terminal, or a vehicle's terminals)."""
        self._generation += 1
        if message.kind == "user":
            return

        def named(found: repo.TerminalAuth | None) -> bool:
            if found is None:
                return False
            if message.kind == "terminal":
                return found.terminal_id == message.id
            return found.vehicle_id == message.id

        for token in [t for t, (_, found) in self._cache.items() if named(found)]:
            del self._cache[token]

    def set_listening(self, listening: bool) -> None:
        self._generation += 1
        self._listening = listening
        self._cache.clear()

    async def _lookup(self, token: str) -> repo.TerminalAuth | None:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        async with self._pool.connection() as conn:
            found = await repo.terminal_by_token(conn, token)
        if generation != self._generation:
            return found  # a revocation came in meanwhile: do not cache what may be stale
        if len(self._cache) >= self._max_entries:
            self._cache.clear()
        ttl = self._ttl_s if self._listening else self._short_ttl_s
        self._cache[token] = (now + ttl, found)
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
