"""Login: throttled per account and per source across API processes, locked with back-off,
every failure audited, argon2 off the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from httpx import ASGITransport, AsyncClient

from tracker.accounts import cli as accounts_cli
from tracker.accounts.models import Role
from tracker.accounts.repo import hash_password, verify_password
from tracker.app import create_app, lifespan
from tracker.settings import LoginSettings, Settings

PASSWORD = "right-horse-battery"


@asynccontextmanager
async def api(settings: Settings, **login: Any) -> AsyncIterator[AsyncClient]:
    """One API app (one process's worth of state) on the shared database and Redis."""
    app = create_app(settings.model_copy(update={"login": LoginSettings(**login)}))
    transport = ASGITransport(app=app)
    async with lifespan(app), AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def add(settings: Settings, username: str) -> None:
    await accounts_cli.add_user(settings.database_url, username, Role.viewer, None, PASSWORD)


async def login(c: AsyncClient, username: str, password: str) -> Any:
    return await c.post("/api/v1/auth/token", json={"username": username, "password": password})


async def test_wrong_passwords_lock_the_account_on_every_process(
    settings: Settings, db: psycopg.Connection[Any]
) -> None:
    await add(settings, "olga")
    async with api(settings) as one, api(settings) as two:
        for i in range(5):
            wrong = await login(one if i % 2 else two, "olga", f"guess-{i}")
            assert wrong.status_code == 401, wrong.text
        for c in (one, two):  # the right password is refused too, on both processes
            locked = await login(c, "olga", PASSWORD)
            assert locked.status_code == 429, locked.text
            assert 55 <= int(locked.headers["Retry-After"]) <= 60
            body = locked.json()
            assert body["error"] == "login_locked" and body["field"] == "username"
            assert body["details"]["reason"] == "account_locked"
        other = await login(one, "nobody-else", "x")  # other accounts are not locked
        assert other.status_code == 401
    rows = db.execute(
        "SELECT actor, user_id, entity_id, after FROM audit_log"
        " WHERE action = 'login_failed' ORDER BY id"
    ).fetchall()
    olga = db.execute("SELECT id FROM users WHERE username = 'olga'").fetchone()
    assert olga is not None
    reasons = [r[3]["reason"] for r in rows if r[3]["username"] == "olga"]
    assert reasons == ["wrong_password"] * 5 + ["account_locked"] * 2
    assert all(r[0] == "anonymous" and r[3]["source"] == "127.0.0.1" for r in rows)
    assert all(r[2] == olga[0] for r in rows if r[3]["username"] == "olga")
    assert rows[-1][3] == {
        "username": "nobody-else",
        "source": "127.0.0.1",
        "reason": "unknown_user",
    }
    text = str([r[3] for r in rows])
    assert PASSWORD not in text and "guess-" not in text


async def test_lockouts_double_and_a_success_clears_them(settings: Settings) -> None:
    await add(settings, "ivan")
    async with api(settings, max_failures=2, lockout_s=1.0, lockout_max_s=3.0) as c:
        retry_after = []
        for _ in range(3):
            for _ in range(2):
                assert (await login(c, "ivan", "wrong")).status_code == 401
            locked = await login(c, "ivan", PASSWORD)
            assert locked.status_code == 429
            retry_after.append(int(locked.headers["Retry-After"]))
            await asyncio.sleep(retry_after[-1] + 0.1)  # wait the lock out
        assert retry_after == [1, 2, 3]  # doubled, then capped
        assert (await login(c, "ivan", PASSWORD)).status_code == 200
        assert (await login(c, "ivan", "wrong")).status_code == 401  # counting from zero
        assert (await login(c, "ivan", PASSWORD)).status_code == 200


async def test_a_source_trying_many_accounts_is_locked(settings: Settings) -> None:
    await add(settings, "petra")
    async with api(settings, source_max_failures=3) as c:
        for name in ("a1", "a2", "a3"):
            assert (await login(c, name, "x")).status_code == 401
        locked = await login(c, "petra", PASSWORD)
        assert locked.status_code == 429
        assert locked.json()["details"]["reason"] == "source_locked"


async def test_a_flood_of_concurrent_guesses_gets_no_more_than_the_limit_through(
    settings: Settings,
) -> None:
    await add(settings, "zoe")
    async with api(settings) as c:
        answers = await asyncio.gather(*(login(c, "zoe", f"g{i}") for i in range(20)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [401] * 5 + [429] * 15


async def test_password_hashing_runs_off_the_event_loop(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncio's debug mode reports every callback that holds the loop longer than
    ``slow_callback_duration``; an argon2 verify on the loop (about 0.1-0.3 s) would be one."""
    await add(settings, "kim")
    # what one verify costs here: a verify on the loop would hold it at least this long, so the
    # threshold is a fraction of it (a busy machine's other callbacks stay below it)
    stored = hash_password(PASSWORD)
    started = time.perf_counter()
    verify_password(stored, PASSWORD)
    verify_s = time.perf_counter() - started
    loop = asyncio.get_running_loop()
    async with api(settings) as c:
        loop.set_debug(True)
        loop.slow_callback_duration = max(0.08, 0.8 * verify_s)
        caplog.set_level(logging.WARNING, logger="asyncio")
        try:
            answers = await asyncio.gather(
                login(c, "kim", PASSWORD), login(c, "kim", "wrong"), login(c, "ghost", "x")
            )
        finally:
            loop.set_debug(False)
    assert [a.status_code for a in answers] == [200, 401, 401]
    slow = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert not slow, slow
