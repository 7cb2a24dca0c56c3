"""Roles, the authenticated principal, and the account API's bodies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Role(StrEnum):
    admin = "admin"
    permit_officer = "permit_officer"
    enforcement_officer = "enforcement_officer"
    viewer = "viewer"
    company_user = "company_user"
    grid_staff = "grid_staff"  # street grid workers: report and follow cases in their area
    # another department's (交警, 生态环境 ...) account: its unit's cases and its share grants'
    # feeds; not staff (tracker.exports, tracker.cases)
    department = "department"


STAFF_ROLES = frozenset(Role) - {Role.department}  # every account of the platform's users
OFFICE_ROLES = frozenset({Role.admin, Role.permit_officer})  # may change the registry


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: ``user_id`` is None for the bootstrap staff token."""

    username: str
    role: Role
    company_id: int | None = None
    user_id: int | None = None
    unit_id: int | None = None  # scoped to a unit's cases (tracker.cases)
    area_id: int | None = None  # or to an area's (a jurisdiction)

    def sees_company(self, company_id: int | None) -> bool:
        """Company users see only their own company's data; staff see everything."""
        return self.role != Role.company_user or company_id == self.company_id


BOOTSTRAP = Principal("bootstrap", Role.admin)
# The platform itself (maintenance rounds, first-start data) and the command line, as audit actors.
SYSTEM = Principal("system", Role.admin)
CLI_ACTOR = Principal("cli", Role.admin)


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    role: Role
    company_id: int | None


class UserIn(BaseModel):
    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{2,64}$")
    password: str = Field(min_length=10, max_length=1024)
    role: Role
    company_id: int | None = None


class UserOut(BaseModel):
    id: int
    username: str
    role: Role
    company_id: int | None
    active: bool
    created_at: datetime


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    user_id: int | None
    action: str
    entity: str
    entity_id: int | None
    entity_key: str | None  # the id as text; an incident's text id
    before: dict[str, Any] | None
    after: dict[str, Any] | None
