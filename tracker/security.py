"""Response security headers, and no credentials in URLs: an ASGI middleware for every response.

- Every HTTP response carries a Content-Security-Policy (the pages load only their own scripts,
  styles and images, plus map tiles from ``web_tile_origins`` and the offered basemaps; no
  inline script, no framing),
  ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
  no-referrer``.
- A request with a token in its query string (``token``, ``access_token``) is refused with 400
  before any route sees it: URLs end up in browser history, proxy and server logs. Tokens go in
  the ``Authorization`` header (pages keep them in sessionStorage; the websocket authenticates by
  its first message).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker.config_api import tile_origins
from tracker.settings import Settings

TOKEN_PARAMS = frozenset({"token", "access_token"})


def csp(settings: Settings) -> str:
    # the configured tile servers and those of the basemaps the pages offer (GET /api/v1/config)
    origins = dict.fromkeys([*settings.web_tile_origins, *tile_origins(settings)])
    tiles = " ".join(origins)
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: {tiles}".rstrip()
        + "; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def token_in_query(query_string: bytes) -> str | None:
    """The name of a token parameter in a query string, if there is one."""
    for name, _ in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name.lower() in TOKEN_PARAMS:
            return name
    return None


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp(settings).encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # the websocket refuses URL tokens itself
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        name = token_in_query(scope.get("query_string", b""))
        if name is not None:
            body = orjson.dumps(
                {
                    "error": "token_in_url",
                    "message": "tokens are not accepted in URLs: send 'Authorization: Bearer' "
                    "(pages: open them with #token=... or sign in)",
                    "field": name,
                }
            )
            await with_headers(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, with_headers)
