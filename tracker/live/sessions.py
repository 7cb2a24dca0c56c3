"""Open websockets by staff account, so that revoking an account's tokens ends its live feeds.

A websocket authenticates once, by its first message; without this, a logged-out or
deactivated account would go on receiving positions. Every API process registers its sessions
with the revocation listener (tracker.accounts.revocation): a ``Revocation("user", id)`` ends
that account's sessions at once; when the listener subscribes again after a loss (messages may
have been missed), every open session's token is checked against the database again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from psycopg_pool import AsyncConnectionPool

from tracker.accounts import repo as accounts_repo
from tracker.wire import Revocation

log = logging.getLogger(__name__)


class LiveSessions:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._open: dict[int, dict[asyncio.Event, str]] = defaultdict(dict)
        self._was_listening = False
        self._checks: set[asyncio.Task[None]] = set()

    def open(self, user_id: int, token: str) -> asyncio.Event:
        """Register a session; the event is set when it must end."""
        ended = asyncio.Event()
        self._open[user_id][ended] = token
        return ended

    def close(self, user_id: int, ended: asyncio.Event) -> None:
        sessions = self._open.get(user_id)
        if sessions is not None:
            sessions.pop(ended, None)
            if not sessions:
                del self._open[user_id]

    def revoke(self, message: Revocation) -> None:
        if message.kind == "user":
            for ended in self._open.get(message.id, {}):
                ended.set()

    def set_listening(self, listening: bool) -> None:
        if listening and not self._was_listening and self._open:
            task = asyncio.get_running_loop().create_task(self._recheck())
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)
        self._was_listening = listening

    async def _recheck(self) -> None:
        """After a lost subscription: end the sessions whose token no longer holds."""
        try:
            async with self._pool.connection() as conn:
                for sessions in list(self._open.values()):
                    for ended, token in list(sessions.items()):
                        if await accounts_repo.principal_by_token(conn, token) is None:
                            ended.set()
        except Exception as exc:  # the database away: the next request will tell
            log.warning("live sessions not rechecked: %s", exc)
