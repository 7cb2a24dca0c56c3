"""``tracker user add --username NAME --role ROLE [--company-id N] [--password P]``.

Without ``--password`` a random one is generated and printed once.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets

import psycopg

from tracker.accounts import repo
from tracker.accounts.models import CLI_ACTOR, Role
from tracker.settings import Settings


async def add_user(
    conninfo: str, username: str, role: Role, company_id: int | None, password: str
) -> int:
    conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    async with conn, conn.transaction():
        user = await repo.create_user(conn, username, password, role, company_id)
        await repo.record(
            conn, CLI_ACTOR, "create", "user", user.id, None, user.model_dump(mode="json")
        )
    return user.id


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker user", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create a staff account")
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--company-id", type=int, help="required for company_user")
    add.add_argument("--password", help="default: generate one and print it")
    add.add_argument("--database-url", help="defaults to TRACKER_DATABASE_URL")
    args = parser.parse_args(argv)
    role = Role(args.role)
    if (role == Role.company_user) != (args.company_id is not None):
        parser.error("--company-id is required for company_user and only for it")
    password = args.password or secrets.token_urlsafe(12)
    conninfo = args.database_url or Settings.load().database_url
    try:
        user_id = asyncio.run(add_user(conninfo, args.username, role, args.company_id, password))
    except psycopg.Error as exc:
        parser.exit(1, f"tracker user add: {exc}\n")
    print(f"user {args.username} (id {user_id}, role {role.value}) created")
    if args.password is None:
        print(f"password: {password}")
    return 0
