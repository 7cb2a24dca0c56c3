"""Bodies of the permit API. Dates are the city's local calendar days and windows its local
wall-clock ``HH:MM`` times (``TRACKER_CITY_TZ``, Asia/Shanghai by default)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from tracker.registry.models import TimeWindow


class PermitState(StrEnum):
    draft = "draft"
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    suspended = "suspended"
    revoked = "revoked"
    expired = "expired"


class CorridorIn(BaseModel):
    geometry: dict[str, Any] = Field(description="GeoJSON LineString on the roads, lon/lat")
    half_width_m: float = Field(gt=0, le=5000)


class CorridorOut(CorridorIn):
    id: int
    fence_id: int | None = Field(description="the engine's fence while the permit is approved")


class PermitIn(BaseModel):
    company_id: int
    vehicle_ids: list[int] = Field(min_length=1, max_length=500)
    site_ids: list[int] = Field(min_length=1, max_length=50, description="origin sites")
    yard_ids: list[int] = Field(min_length=1, max_length=50, description="disposal yards")
    corridors: list[CorridorIn] = Field(min_length=1, max_length=20)
    valid_from: date
    valid_to: date
    windows: list[TimeWindow] = Field(
        min_length=1, max_length=8, description="daily hauling windows"
    )
    quota_m3: float = Field(gt=0, le=1e9)
    note: str | None = Field(default=None, max_length=2000)


class PermitOut(BaseModel):
    id: int
    company_id: int
    state: PermitState = Field(
        description="expired once valid_to has passed, even if stored "
        "as approved until the periodic task catches up"
    )
    vehicle_ids: list[int]
    site_ids: list[int]
    yard_ids: list[int]
    corridors: list[CorridorOut]
    valid_from: date
    valid_to: date
    windows: list[TimeWindow]
    quota_m3: float
    note: str | None
    reason: str | None
    created_at: datetime
    updated_at: datetime


class Decision(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class CorridorRequest(BaseModel):
    site_id: int
    yard_id: int
    half_width_m: float = Field(default=50.0, ge=1, le=5000)
    windows: list[TimeWindow] | None = Field(
        default=None,
        max_length=8,
        description="avoid the zones in force then; default: every active zone",
    )


class CorridorProposal(BaseModel):
    geometry: dict[str, Any] = Field(description="GeoJSON LineString, lon/lat")
    half_width_m: float
    length_m: float
    avoided_zone_ids: list[int]
    start_gap_m: float = Field(description="from the site to the road where the line starts")
    end_gap_m: float = Field(description="from the road where the line ends to the yard")
