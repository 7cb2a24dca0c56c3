"""Request body limits for every HTTP route, enforced while the body arrives.

An ASGI middleware in front of the whole app: a ``Content-Length`` over the route's limit is
answered ``413`` at once, without reading the body; a body without one (chunked) is counted as
its chunks arrive and cut at the limit with the same ``413``. Nothing behind it (FastAPI's body
parsing, the positions endpoint, login) ever sees more than its route's limit. The body is
read here in full (at most the limit) and handed on as one message, so the routes still read it
as usual; websockets and lifespan pass untouched.

Limits per route (``TRACKER_LIMITS__*``, ``TRACKER_MAX_BODY_BYTES``): terminal positions keep
their 4 MiB; writes that carry fences (sites, yards, zones, permits) a larger bound; login a
tiny one; clues with photos ``TRACKER_CLUES__BODY_BYTES``; every other route 64 KiB.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from tracker.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_POSITIONS = re.compile(r"^/api/v1/positions/?$")
_LOGIN = re.compile(r"^/api/v1/auth/token/?$")
_GEOMETRY = re.compile(r"^/api/v1/(sites|yards|zones|permits|jurisdictions)(/\d+)?/?$")
_CLUES = re.compile(r"^/api/v1/(public/vehicles/[0-9a-f]{32}/clues|clues)/?$")
_SIGHTINGS = re.compile(r"^/api/v1/sightings/?$")
_WRITES = frozenset({"POST", "PUT", "PATCH"})


def body_limit(settings: Settings, method: str, path: str) -> int:
    """The largest body, in bytes, a request to ``method path`` may carry."""
    limits = settings.limits
    if method in _WRITES:
        if _POSITIONS.match(path):
            return settings.max_body_bytes
        if _LOGIN.match(path):
            return limits.login_body_bytes
        if _GEOMETRY.match(path):
            return limits.geometry_body_bytes
        if _CLUES.match(path):
            return settings.clues.body_bytes  # clues with their photos (tracker.clues)
        if _SIGHTINGS.match(path):
            return settings.sightings.body_bytes  # batches of plate sightings
    return limits.body_bytes


class _TooLarge(Exception):
    pass


class BodyLimit:
    """The middleware: ``app.add_middleware(BodyLimit, settings=settings)``."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.settings, scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        try:
            body = await _read(receive, limit)
        except _TooLarge:
            await _refuse(send, limit)
            return
        if body is None:
            return  # the client went away before its body was complete: nobody to answer
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body (``_TooLarge`` past ``limit``); None if the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = orjson.dumps(
        {
            "error": "payload_too_large",
            "message": f"request body larger than {limit} bytes",
            "field": "body",
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
