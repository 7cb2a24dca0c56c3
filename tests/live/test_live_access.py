"""The websocket's doors: no token in the URL, only allowed origins, and a proper close frame
for a binary frame; and every HTTP response carries the security headers."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from httpx import AsyncClient
from live_world import LiveServer
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tracker.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with one allowed foreign origin and one tile server."""
    return settings.model_copy(
        update={
            "web_allowed_origins": ["https://console.example"],
            "web_tile_origins": ["https://tiles.example"],
        }
    )


async def _closed_with(ws: Any) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await ws.recv()
    assert closed.value.rcvd is not None, "dropped without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_a_token_in_the_websocket_url_is_refused(live: LiveServer) -> None:
    async with connect(f"{live.ws_url}?token=test-staff") as ws:
        error = orjson.loads(await ws.recv())
        assert error["type"] == "error" and error["code"] == "token_in_url"
        assert (await _closed_with(ws))[0] == 4400


async def test_a_binary_frame_is_answered_with_close_1003(live: LiveServer) -> None:
    async with connect(live.ws_url) as ws:  # before authentication
        await ws.send(b"\x00\x01binary")
        assert (await _closed_with(ws))[0] == 1003
    async with connect(live.ws_url) as ws:  # and after
        await ws.send(orjson.dumps({"type": "auth", "token": "test-staff"}).decode())
        assert orjson.loads(await ws.recv())["type"] == "hello"
        await ws.send(b"\x00\x01binary")
        assert (await _closed_with(ws))[0] == 1003


async def test_only_the_own_and_allowed_origins_may_open_it(live: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(live.ws_url, origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    own = live.base_url.rstrip("/")
    for origin in (own, "https://console.example"):  # the second one is configured
        async with connect(live.ws_url, origin=origin) as ws:  # type: ignore[arg-type]
            await ws.send(orjson.dumps({"type": "auth", "token": "test-staff"}).decode())
            assert orjson.loads(await ws.recv())["type"] == "hello"


async def test_every_response_carries_security_headers(http: AsyncClient) -> None:
    for path in ("/map/", "/map/app.js", "/api/v1/live/states", "/healthz", "/api/v1/nowhere"):
        resp = await http.get(path)
        assert resp.headers.get("x-frame-options") == "DENY", (path, resp.headers)
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "no-referrer"
        policy = resp.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "https://tiles.example" in policy  # the configured tile server


async def test_tokens_in_query_strings_are_refused(http: AsyncClient) -> None:
    for path in ("/map/?token=test-staff", "/api/v1/auth/me?access_token=x"):
        resp = await http.get(path)
        assert resp.status_code == 400, path
        assert resp.json()["error"] == "token_in_url"
        assert resp.headers["x-frame-options"] == "DENY"


async def test_a_revoked_account_loses_its_live_feed_on_every_process(
    live: LiveServer, settings: Settings, accounts: Any
) -> None:
    """The websocket authenticated once; logging out (through another API process) ends it."""
    from live_world import serve

    headers = accounts.headers("viewer")
    token = headers["Authorization"].split()[1]
    async with connect(live.ws_url) as ws, serve(settings) as other:
        await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
        assert orjson.loads(await ws.recv())["type"] == "hello"
        async with AsyncClient(base_url=other.base_url) as http:
            out = await http.post("/api/v1/auth/logout", headers=headers)
            assert out.json() == {"revoked": True}
        async with asyncio.timeout(2):  # at once, not when the client next reconnects
            code, _ = await _closed_with(ws)
        assert code == 4401
