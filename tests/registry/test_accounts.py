"""Staff accounts: login, tokens, logout, the CLI, role checks and the audit log."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from httpx import AsyncClient

from tracker.accounts import cli as accounts_cli


async def test_login_me_logout(client: AsyncClient, database_url: str, settings: Any) -> None:
    args = ["add", "--username", "olga", "--role", "permit_officer"]
    args += ["--password", "s3cret-pass!", "--database-url", database_url]
    assert await asyncio.to_thread(accounts_cli.main, args) == 0
    wrong = await client.post("/api/v1/auth/token", json={"username": "olga", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["field"] == "password"
    nobody = await client.post(
        "/api/v1/auth/token", json={"username": "ghost", "password": "s3cret-pass!"}
    )
    assert nobody.status_code == 401
    resp = await client.post(
        "/api/v1/auth/token", json={"username": "olga", "password": "s3cret-pass!"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["role"] == "permit_officer" and body["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = (await client.get("/api/v1/auth/me", headers=headers)).json()
    assert me["username"] == "olga" and me["role"] == "permit_officer"
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT password_hash FROM users").fetchone()
    assert stored is not None and stored[0].startswith("$argon2id$")
    out = await client.post("/api/v1/auth/logout", headers=headers)
    assert out.json() == {"revoked": True}
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_cli_generates_a_password(database_url: str, settings: Any, capsys: Any) -> None:
    with psycopg.connect(database_url) as conn:
        company = conn.execute("INSERT INTO companies (name) VALUES ('C') RETURNING id").fetchone()
    assert company is not None
    args = ["add", "--username", "cu", "--role", "company_user", "--database-url", database_url]
    assert await asyncio.to_thread(accounts_cli.main, [*args, "--company-id", str(company[0])]) == 0
    assert "password: " in capsys.readouterr().out


async def test_tokens_and_roles(client: AsyncClient, accounts: Any, staff: dict[str, str]) -> None:
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    bad = await client.get("/api/v1/auth/me", headers={"Authorization": "Bearer mu_nope"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/api/v1/auth/me", headers=staff)).json()["role"] == "admin"
    viewer = accounts.headers("viewer")
    assert (await client.get("/api/v1/users", headers=viewer)).status_code == 403
    assert (await client.get("/api/v1/audit", headers=viewer)).status_code == 403


async def test_users_and_audit(client: AsyncClient, staff: dict[str, str]) -> None:
    body = {"username": "eve", "password": "long-enough-pw", "role": "company_user"}
    missing = await client.post("/api/v1/users", json=body, headers=staff)
    assert missing.status_code == 400 and missing.json()["field"] == "company_id"
    dangling = await client.post("/api/v1/users", json={**body, "company_id": 999}, headers=staff)
    assert dangling.status_code == 400
    made = await client.post("/api/v1/users", json={**body, "role": "viewer"}, headers=staff)
    assert made.status_code == 201, made.text
    user_id = made.json()["id"]
    token = await client.post(
        "/api/v1/auth/token", json={"username": "eve", "password": "long-enough-pw"}
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    gone = await client.delete(f"/api/v1/users/{user_id}", headers=staff)
    assert gone.json()["active"] is False
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    log = (await client.get("/api/v1/audit", params={"entity": "user"}, headers=staff)).json()
    assert [e["action"] for e in log] == ["deactivate", "login", "create"]
    assert log[2]["actor"] == "bootstrap" and log[2]["after"]["username"] == "eve"
    assert "password" not in str(log)
    by_actor = await client.get("/api/v1/audit", params={"actor": "eve"}, headers=staff)
    assert [e["action"] for e in by_actor.json()] == ["login"]
    later = await client.get(
        "/api/v1/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=staff
    )
    assert later.json() == []


def test_prod_refuses_a_weak_staff_token_at_start_up(database_url: str) -> None:
    """`tracker serve` with TRACKER_ENV=prod and a 1-character staff token does not start."""
    import os
    import secrets
    import subprocess
    import sys

    import pytest
    from pydantic import ValidationError

    from tracker.settings import Settings

    for weak in ("x", "a" * 64, "0123456789" * 3):
        with pytest.raises(ValidationError, match="too weak"):
            Settings(env="prod", staff_token=weak, database_url=database_url)
    strong = secrets.token_urlsafe(32)
    assert Settings(env="prod", staff_token=strong).staff_token == strong
    env = {**os.environ, "TRACKER_ENV": "prod", "TRACKER_STAFF_TOKEN": "x"}
    env["TRACKER_DATABASE_URL"] = database_url
    code = "from tracker.app import create_app; create_app()"
    started = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert started.returncode != 0 and "too weak" in started.stderr
