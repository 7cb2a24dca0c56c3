"""The gateway's SQL, in one place: terminals by JT/T 808 phone, auth codes, auto-registration.

A terminal's ``identity`` holds its phone number normalised as the codec does (leading zeros
stripped); a number stored zero-padded to 12 or 20 digits is found as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row

AConn = psycopg.AsyncConnection[Any]
AUTO_REGISTERED_MODEL = "jt808-auto"

_SELECT = """SELECT t.id AS terminal_id, t.identity, t.vehicle_id, t.model, t.active,
                    v.active AS vehicle_active, t.jt808_auth_code AS auth_code
               FROM terminals t LEFT JOIN vehicles v ON v.id = t.vehicle_id"""


@dataclass(frozen=True, slots=True)
class Jt808Terminal:
    terminal_id: int
    identity: str
    vehicle_id: int | None
    model: str | None
    active: bool
    vehicle_active: bool | None
    auth_code: str | None

    @property
    def may_report(self) -> bool:
        """Fixes are accepted only from an active terminal fitted to an active vehicle."""
        return self.active and self.vehicle_id is not None and self.vehicle_active is not False


def identity_candidates(phone: str) -> list[str]:
    """The spellings under which a phone may be registered."""
    return list(dict.fromkeys((phone, phone.rjust(12, "0"), phone.rjust(20, "0"))))


async def terminal_by_phone(conn: AConn, phone: str) -> Jt808Terminal | None:
    async with conn.cursor(row_factory=class_row(Jt808Terminal)) as cur:
        await cur.execute(
            f"{_SELECT} WHERE t.identity = ANY(%s) ORDER BY t.id LIMIT 1",
            (identity_candidates(phone),),
        )
        return await cur.fetchone()


async def store_auth_code(conn: AConn, terminal_id: int, code: str) -> None:
    await conn.execute(
        "UPDATE terminals SET jt808_auth_code = %s, jt808_registered_at = now() WHERE id = %s",
        (code, terminal_id),
    )


async def auto_register(
    conn: AConn, phone: str, plate: str, model: str | None
) -> Jt808Terminal | None:
    """Create a terminal for ``phone`` on the vehicle with ``plate``; ``None`` if no such
    vehicle (the platform never invents vehicles: they belong to a company and a permit)."""
    row = await (
        await conn.execute("SELECT id FROM vehicles WHERE plate = %s", (plate.strip(),))
    ).fetchone()
    if row is None:
        return None
    await conn.execute(
        "INSERT INTO terminals (identity, vehicle_id, model) VALUES (%s, %s, %s) "
        "ON CONFLICT (identity) DO NOTHING",
        (phone, row[0], model or AUTO_REGISTERED_MODEL),
    )
    return await terminal_by_phone(conn, phone)


def ensure_jt808_terminals(
    conn: psycopg.Connection[Any], phones: dict[int, str], model: str, auth_code: str | None = None
) -> None:
    """Seeding (simulator, bench): a JT/T 808 terminal per vehicle id, identity = phone."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO terminals (identity, vehicle_id, model, jt808_auth_code) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (identity) DO UPDATE SET "
            "vehicle_id = EXCLUDED.vehicle_id, model = EXCLUDED.model, "
            "jt808_auth_code = COALESCE(EXCLUDED.jt808_auth_code, terminals.jt808_auth_code)",
            [(phone, vid, model, auth_code) for vid, phone in phones.items()],
        )
