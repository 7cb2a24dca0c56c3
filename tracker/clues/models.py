"""Clues: kinds, states, who may report and review, and the API's bodies.

Pydantic bounds here are outer caps; the deployment's limits (``ClueSettings``: text, contact,
photos) are checked by tracker.clues.service, each refusal naming its field."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tracker.accounts.models import Role


class ClueKind(StrEnum):
    dumping = "dumping"  # 乱倒乱卸
    spilling = "spilling"  # 沿途抛洒
    uncovered = "uncovered"  # 未密闭 / 未覆盖
    route = "route"  # 未按路线行驶
    speeding = "speeding"  # 超速
    overload = "overload"  # 超载
    muddy_wheels = "muddy_wheels"  # 带泥上路
    other = "other"


class ClueStatus(StrEnum):
    new = "new"  # reported, not yet looked at
    verified = "verified"  # an officer checked it (audited)
    to_case = "to_case"  # becomes a case (case_id once the case exists)
    closed = "closed"  # closed with a reason


# Roles that may report from the phone page or enter a clue (admin always). The cases branch
# adds ``grid_staff`` at merge.
REPORTER_ROLES = frozenset({Role.enforcement_officer, Role.grid_staff})
# Roles that verify, convert and close clues (admin always).
OFFICER_ROLES = frozenset({Role.enforcement_officer})
# Roles that read clues (admin always); company users never see clues about anyone.
READER_ROLES = frozenset({Role.enforcement_officer, Role.viewer})
# States a move may start from, and where it leads.
TRANSITIONS: dict[str, tuple[frozenset[ClueStatus], ClueStatus]] = {
    "verify": (frozenset({ClueStatus.new}), ClueStatus.verified),
    "to_case": (frozenset({ClueStatus.verified}), ClueStatus.to_case),
    "close": (frozenset({ClueStatus.new, ClueStatus.verified}), ClueStatus.closed),
}


class ClueReport(BaseModel):
    """A report from the public page: what, where, when, photos (base64), optional contact."""

    model_config = ConfigDict(extra="forbid")

    kind: ClueKind
    text: str = Field(default="", max_length=2000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    observed_at: AwareDatetime
    photos: list[str] = Field(default=[], max_length=16)  # base64 JPEG or PNG, each
    contact: str | None = Field(default=None, max_length=100)


class StaffClue(ClueReport):
    """A clue from grid staff or an officer: the vehicle by id or plate, when known."""

    vehicle_id: int | None = Field(default=None, ge=1)
    plate: str | None = Field(default=None, min_length=1, max_length=32)


class Receipt(BaseModel):
    id: int | None = None  # staff only: the clue's id
    receipt: str  # shown once; the reporter follows the clue with it
    status: ClueStatus


class ReceiptStatus(BaseModel):
    """All a receipt code tells: the clue's own kind, times and status. Nothing else."""

    status: ClueStatus
    kind: ClueKind
    reported_at: datetime
    updated_at: datetime


class Note(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class CaseRequest(BaseModel):
    note: str = Field(default="", max_length=2000)
    # the case's subtype (taxonomy code); default: the one the clue's kind maps to
    subtype: str | None = Field(default=None, min_length=1, max_length=64)
