"""Clue writes: reports (public, grid staff, officers) and officers' moves, each in one
transaction with its audit row.

The receipt code is random (``XXXX-XXXX-XXXX`` over 31 unambiguous characters, about 59 bits);
only its SHA-256 is stored, so the table cannot be read back into codes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tracker.accounts import repo as audit
from tracker.accounts.four_eyes import require_other_account
from tracker.accounts.models import SYSTEM, Principal, Role
from tracker.cases.machine import Deadlines
from tracker.clues import cases, photos, repo
from tracker.clues.models import TRANSITIONS, ClueReport, ClueStatus, StaffClue
from tracker.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from tracker.settings import ClueSettings

AConn = psycopg.AsyncConnection[Any]
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
RECEIPT = re.compile(r"^[A-Z2-9]{12}$")
PUBLIC = Principal("public", Role.viewer)  # the audit actor of a report nobody signed in for
FUTURE_SLACK = timedelta(minutes=5)  # phones' clocks run a little ahead


def new_receipt() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def receipt_hash(receipt: str) -> bytes:
    """The stored form of a receipt code (BadRequest when it cannot be one)."""
    normal = re.sub(r"[\s-]", "", receipt).upper()
    if not RECEIPT.match(normal) or any(ch not in ALPHABET for ch in normal):
        raise BadRequest("a receipt code is 12 letters and digits", field="receipt")
    return hashlib.sha256(normal.encode()).digest()


def decode_photos(raw: list[str], limits: ClueSettings) -> list[photos.Photo]:
    """Base64 photos checked and stripped of metadata; each refusal names ``photos.<n>``."""
    if len(raw) > limits.max_photos:
        raise BadRequest(f"at most {limits.max_photos} photos", field="photos")
    out = []
    for n, text in enumerate(raw):
        field = f"photos.{n}"
        if len(text) > (limits.photo_bytes + 2) // 3 * 4 + 4:
            raise PayloadTooLarge(f"a photo is at most {limits.photo_bytes} bytes", field=field)
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("a photo is base64 (no data: prefix)", field=field) from None
        if len(data) > limits.photo_bytes:
            raise PayloadTooLarge(f"a photo is at most {limits.photo_bytes} bytes", field=field)
        try:
            out.append(photos.clean(data))
        except photos.BadPhoto as exc:
            raise BadRequest(str(exc), field=field) from None
    return out


async def _decoded(raw: list[str], limits: ClueSettings) -> list[photos.Photo]:
    """``decode_photos`` in a worker thread (megabytes of base64 and JPEG segments)."""
    return await asyncio.to_thread(decode_photos, raw, limits) if raw else []


def _checked(body: ClueReport, limits: ClueSettings, now: datetime) -> dict[str, Any]:
    if len(body.text) > limits.text_chars:
        raise BadRequest(f"the text is at most {limits.text_chars} characters", field="text")
    contact = (body.contact or "").strip() or None
    if contact is not None and len(contact) > limits.contact_chars:
        raise BadRequest(
            f"the contact is at most {limits.contact_chars} characters", field="contact"
        )
    if body.observed_at > now + FUTURE_SLACK:
        raise BadRequest("observed_at is in the future", field="observed_at")
    if body.observed_at < now - timedelta(days=limits.max_age_days):
        raise BadRequest(
            f"observed_at is more than {limits.max_age_days} days ago", field="observed_at"
        )
    for field, text in (("text", body.text), ("contact", contact or "")):
        if "\x00" in text:
            raise BadRequest("text may not hold NUL characters", field=field)
    return {
        "kind": body.kind.value,
        "description": body.text.strip(),
        "lon": body.lon,
        "lat": body.lat,
        "accuracy_m": body.accuracy_m,
        "observed_at": body.observed_at.astimezone(UTC),
        "contact": contact,
    }


async def _store(
    conn: AConn, who: Principal, clue: dict[str, Any], shots: list[photos.Photo]
) -> tuple[int, str]:
    receipt = new_receipt()
    clue["receipt_hash"] = receipt_hash(receipt)
    async with conn.transaction():
        clue_id = await repo.insert(conn, clue, shots)
        shown = {k: v for k, v in clue.items() if k not in {"receipt_hash", "contact"}}
        shown["photos"] = len(shots)
        await audit.record(conn, who, "create", "clue", clue_id, None, shown)
    return clue_id, receipt


async def report_public(
    conn: AConn, code: str, body: ClueReport, source_addr: str, limits: ClueSettings
) -> tuple[int, str]:
    """A report from the public page of vehicle ``code``: (clue id, receipt code)."""
    clue = _checked(body, limits, datetime.now(UTC))
    shots = await _decoded(body.photos, limits)
    found = await repo.vehicle_by_code(conn, code)
    if found is None:
        raise NotFound("this code belongs to no registered vehicle", field="code")
    clue |= {"source": "public", "vehicle_id": found[0], "company_id": found[1]}
    clue["source_addr"] = source_addr[:64]
    return await _store(conn, PUBLIC, clue, shots)


async def report_staff(
    conn: AConn, who: Principal, body: StaffClue, limits: ClueSettings
) -> tuple[int, str]:
    """A clue from grid staff (their phone) or entered by an officer."""
    clue = _checked(body, limits, datetime.now(UTC))
    shots = await _decoded(body.photos, limits)
    clue["plate"] = body.plate
    if body.vehicle_id is not None or body.plate is not None:
        found = await repo.vehicle(conn, body.vehicle_id, body.plate)
        if found is None and body.vehicle_id is not None:
            raise NotFound(f"no vehicle {body.vehicle_id}", field="vehicle_id")
        if found is not None:
            clue |= {"vehicle_id": found[0], "company_id": found[1]}
    officer = who.role in {Role.admin, Role.enforcement_officer}
    clue |= {"source": "officer" if officer else "grid", "reporter_id": who.user_id}
    return await _store(conn, who, clue, shots)


async def move(
    conn: AConn,
    who: Principal,
    clue_id: int,
    action: str,
    text: str,
    *,
    subtype: str | None = None,
    deadlines: Deadlines | None = None,
) -> dict[str, Any]:
    """An officer's move (verify, to_case, close), audited; the clue afterwards."""
    frm, to = TRANSITIONS[action]
    async with conn.transaction():
        before = await repo.get(conn, clue_id)
        if before is None:
            raise NotFound(f"no clue {clue_id}", field="clue_id")
        await require_other_account(
            conn, who, entity="clue", entity_id=clue_id, authored_by=("create",), decision=action
        )
        now = datetime.now(UTC)
        sets: dict[str, Any] = {}
        if to == ClueStatus.verified:
            sets = {"verified_by": who.user_id, "verified_at": now, "verify_note": text}
        elif to == ClueStatus.closed:
            sets = {"close_reason": text}
        elif to == ClueStatus.to_case:
            assert deadlines is not None, "a conversion needs the cases' deadlines"
            case_id = await cases.open_case(
                conn, before, who, subtype=subtype, now=now, deadlines=deadlines
            )
            request = {"requested_by": who.username, "requested_at": now.isoformat(), "note": text}
            sets = {"case_id": case_id, "case_request": request}
        if not await repo.move(conn, clue_id, [s.value for s in frm], to.value, sets):
            raise Conflict(f"clue {clue_id} is {before['status']}, cannot {action}", field="status")
        was = {"status": before["status"]}
        after = {"status": to.value, "note": text}
        await audit.record(conn, who, action, "clue", clue_id, was, after)
        row = await repo.get(conn, clue_id)
    assert row is not None
    return row


async def forget_personal_data(
    conn: AConn, now: datetime, limits: ClueSettings
) -> dict[str, list[int]]:
    """The ``clue-privacy`` round: forget public reporters' addresses and contacts past their
    keeping periods, in one transaction with one audit row naming the clues touched."""
    day = timedelta(days=1)
    async with conn.transaction():
        touched = await repo.forget_personal_data(
            conn, now - limits.source_addr_days * day, now - limits.contact_days * day
        )
        if touched["source_addr"] or touched["contact"]:
            await audit.record(conn, SYSTEM, "clue.forget_personal_data", "clue", None, None,
                               {"cleared": touched})  # fmt: skip
    return touched
