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
                    v.active AS vehicle_active, t.jt808_auth_code AS auth_code,
                    t.jt808_device_id AS device_id, v.plate
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
    device_id: str | None = None
    plate: str | None = None

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


def same_plate(a: str | None, b: str | None) -> bool:
    """Plates compared as people write them: case, spaces and hyphens do not count."""
    if a is None or b is None:
        return False
    return _plate_key(a) == _plate_key(b) != ""


def _plate_key(plate: str) -> str:
    return "".join(ch for ch in plate.casefold() if not ch.isspace() and ch != "-")


async def issue_auth_code(conn: AConn, terminal_id: int, device_id: str, code: str) -> bool:
    """Store ``code`` for a terminal that has none, binding ``device_id`` if none was recorded;
    False when another registration won (the code is then never handed out twice)."""
    row = await (
        await conn.execute(
            """UPDATE terminals SET jt808_auth_code = %s, jt808_registered_at = now(),
                      jt808_device_id = COALESCE(jt808_device_id, %s)
                WHERE id = %s AND jt808_auth_code IS NULL
                  AND (jt808_device_id IS NULL OR jt808_device_id = %s)
            RETURNING id""",
            (code, device_id, terminal_id, device_id),
        )
    ).fetchone()
    return row is not None


async def vehicle_by_plate(conn: AConn, plate: str) -> int | None:
    """The vehicle carrying ``plate`` (compared as :func:`same_plate` does)."""
    row = await (
        await conn.execute(
            "SELECT id FROM vehicles WHERE lower(translate(plate, ' -', '')) = %s "
            "ORDER BY id LIMIT 1",
            (_plate_key(plate),),
        )
    ).fetchone()
    return None if row is None else int(row[0])


class AutoRegistration:
    """What :func:`auto_register` did: a terminal and its new code, or why not."""

    def __init__(self, terminal: Jt808Terminal | None, refusal: str | None) -> None:
        self.terminal = terminal
        self.refusal = refusal  # "vehicle_unknown" | "vehicle_full" | "terminal_exists" | None


async def auto_register(
    conn: AConn,
    phone: str,
    plate: str,
    model: str | None,
    device_id: str,
    code: str,
    max_terminals: int,
) -> AutoRegistration:
    """Create a terminal for ``phone`` on the active vehicle with ``plate``, with ``code``, unless
    the vehicle already has ``max_terminals`` active JT/T 808 terminals (registered or bound to a
    device; an HTTP terminal does not count) (the platform never invents
    vehicles: they belong to a company and a permit). One transaction; the vehicle row is locked
    so concurrent registrations cannot pass the limit together."""
    async with conn.transaction():
        vehicle_id = await vehicle_by_plate(conn, plate)
        if vehicle_id is None:
            return AutoRegistration(None, "vehicle_unknown")
        locked = await (
            await conn.execute(
                "SELECT id FROM vehicles WHERE id = %s AND active FOR UPDATE", (vehicle_id,)
            )
        ).fetchone()
        if locked is None:
            return AutoRegistration(None, "vehicle_unknown")
        row = await (
            await conn.execute(
                "SELECT count(*) FROM terminals WHERE vehicle_id = %s AND active "
                "AND (jt808_auth_code IS NOT NULL OR jt808_device_id IS NOT NULL)",
                (vehicle_id,),
            )
        ).fetchone()
        if row is not None and int(row[0]) >= max_terminals:
            return AutoRegistration(None, "vehicle_full")
        inserted = await (
            await conn.execute(
                "INSERT INTO terminals (identity, vehicle_id, model, jt808_auth_code, "
                "jt808_device_id, jt808_registered_at) VALUES (%s, %s, %s, %s, %s, now()) "
                "ON CONFLICT (identity) DO NOTHING RETURNING id",
                (phone, vehicle_id, model or AUTO_REGISTERED_MODEL, code, device_id),
            )
        ).fetchone()
        if inserted is None:
            return AutoRegistration(None, "terminal_exists")
    return AutoRegistration(await terminal_by_phone(conn, phone), None)


def ensure_jt808_terminals(
    conn: psycopg.Connection[Any],
    phones: dict[int, str],
    model: str,
    auth_code: str | None = None,
    *,
    reset: bool = False,
) -> None:
    """Seeding (simulator, bench): a JT/T 808 terminal per vehicle id, identity = phone.
    ``reset`` forgets stored codes and device bindings, as an officer's reset does, so the
    seeded terminals may register again."""
    keep = "NULL" if reset else "terminals.jt808_auth_code"
    device = "NULL" if reset else "terminals.jt808_device_id"
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO terminals (identity, vehicle_id, model, jt808_auth_code) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (identity) DO UPDATE SET "
            "vehicle_id = EXCLUDED.vehicle_id, model = EXCLUDED.model, "
            f"jt808_auth_code = COALESCE(EXCLUDED.jt808_auth_code, {keep}), "
            f"jt808_device_id = {device}",
            [(phone, vid, model, auth_code) for vid, phone in phones.items()],
        )
