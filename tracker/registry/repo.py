"""Companies, vehicles and terminals: the SQL, in one place.

Terminal HTTP tokens are random 256-bit secrets; only their SHA-256 is stored (a fast hash is
right for high-entropy tokens; passwords, which are not, get argon2id in tracker.accounts).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

TOKEN_PREFIX = "mt_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class TerminalAuth:
    terminal_id: int
    identity: str
    vehicle_id: int | None
    company_id: int | None
    active: bool
    vehicle_active: bool | None


@dataclass(frozen=True, slots=True)
class VehicleRow:
    id: int
    plate: str
    company_id: int
    rated_volume_m3: Decimal
    active: bool


Conn = psycopg.Connection[Any]
AConn = psycopg.AsyncConnection[Any]


def ensure_company(conn: Conn, name: str) -> int:
    row = conn.execute(
        "INSERT INTO companies (name) VALUES (%s) ON CONFLICT (name) "
        "DO UPDATE SET name = EXCLUDED.name RETURNING id",
        (name,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def ensure_vehicle(conn: Conn, plate: str, company_id: int, rated_volume_m3: float) -> int:
    row = conn.execute(
        "INSERT INTO vehicles (plate, company_id, rated_volume_m3) VALUES (%s, %s, %s) "
        "ON CONFLICT (plate) DO UPDATE SET company_id = EXCLUDED.company_id RETURNING id",
        (plate, company_id, rated_volume_m3),
    ).fetchone()
    assert row is not None
    return int(row[0])


def ensure_terminal(conn: Conn, identity: str, vehicle_id: int, model: str | None = None) -> int:
    row = conn.execute(
        "INSERT INTO terminals (identity, vehicle_id, model) VALUES (%s, %s, %s) "
        "ON CONFLICT (identity) DO UPDATE SET vehicle_id = EXCLUDED.vehicle_id RETURNING id",
        (identity, vehicle_id, model),
    ).fetchone()
    assert row is not None
    return int(row[0])


def issue_token(conn: Conn, terminal_id: int) -> str:
    """Issue a new HTTP token for a terminal; the old one stops working."""
    token = new_token()
    cur = conn.execute(
        "UPDATE terminals SET token_hash = %s, token_issued_at = now() WHERE id = %s",
        (token_hash(token), terminal_id),
    )
    if cur.rowcount != 1:
        raise LookupError(f"no terminal {terminal_id}")
    return token


async def terminal_by_token(conn: AConn, token: str) -> TerminalAuth | None:
    async with conn.cursor(row_factory=class_row(TerminalAuth)) as cur:
        await cur.execute(
            """SELECT t.id AS terminal_id, t.identity, t.vehicle_id, v.company_id, t.active,
                      v.active AS vehicle_active
                 FROM terminals t LEFT JOIN vehicles v ON v.id = t.vehicle_id
                WHERE t.token_hash = %s""",
            (token_hash(token),),
        )
        return await cur.fetchone()


async def all_vehicles(conn: AConn) -> list[VehicleRow]:
    async with conn.cursor(row_factory=class_row(VehicleRow)) as cur:
        await cur.execute(
            "SELECT id, plate, company_id, rated_volume_m3, active FROM vehicles ORDER BY id"
        )
        return await cur.fetchall()


async def _rotate(conn: AConn, table: str, row_id: int) -> str | None:
    """A new bearer token for a row of ``table`` (terminals, camera_systems): only its hash is
    kept, the old one stops working; None if there is no such row."""
    token = new_token()
    cur = await conn.execute(
        sql.SQL("UPDATE {} SET token_hash = %s, token_issued_at = now() WHERE id = %s").format(
            sql.Identifier(table)
        ),
        (token_hash(token), row_id),
    )
    return token if cur.rowcount == 1 else None


async def rotate_token(conn: AConn, terminal_id: int) -> str | None:
    """Issue a new HTTP token for a terminal (the old one stops working); None if unknown."""
    return await _rotate(conn, "terminals", terminal_id)


async def reset_registration(
    conn: AConn, terminal_id: int, device_id: str | None
) -> dict[str, Any] | None:
    """An officer's reset: the terminal's code is forgotten and its next 0x0100 (from
    ``device_id`` if given, else from any device, which it then binds) gets a new one. Returns
    the state before (for the audit), or ``None`` if there is no such terminal."""
    row = await (
        await conn.execute(
            """SELECT jt808_auth_code IS NOT NULL AS had_code, jt808_device_id AS device_id,
                      jt808_registered_at AS registered_at
                 FROM terminals WHERE id = %s FOR UPDATE""",
            (terminal_id,),
        )
    ).fetchone()
    if row is None:
        return None
    await conn.execute(
        "UPDATE terminals SET jt808_auth_code = NULL, jt808_registered_at = NULL, "
        "jt808_device_id = %s WHERE id = %s",
        (device_id, terminal_id),
    )
    registered_at = row[2].isoformat() if row[2] is not None else None
    return {"had_auth_code": bool(row[0]), "device_id": row[1], "registered_at": registered_at}


async def rotate_camera_token(conn: AConn, camera_system_id: int) -> str | None:
    """Issue a new sighting token for a camera system (the old one stops working)."""
    return await _rotate(conn, "camera_systems", camera_system_id)


async def camera_system_by_token(conn: AConn, token: str) -> tuple[int, bool] | None:
    """The camera system holding ``token``: its id and whether it is active."""
    cur = await conn.execute(
        "SELECT id, active FROM camera_systems WHERE token_hash = %s", (token_hash(token),)
    )
    row = await cur.fetchone()
    return None if row is None else (int(row[0]), bool(row[1]))
