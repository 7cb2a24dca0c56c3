"""Bodies of the blacklist, credit and appeal API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from tracker.times import Instant


class ListingIn(BaseModel):
    vehicle_id: int
    reason: str = Field(min_length=1, max_length=2000)
    expires_at: Instant | None = Field(default=None, description="default: until delisted")


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class Listing(BaseModel):
    id: int
    vehicle_id: int
    plate: str
    company_id: int
    source: str
    reason: str
    listed_by: str
    listed_at: datetime
    expires_at: datetime | None
    active: bool
    lifted_at: datetime | None
    lifted_by: str | None
    lifted_how: str | None
    lifted_reason: str | None


class PolicyIn(BaseModel):
    points: dict[str, int] = Field(
        default_factory=dict, max_length=64, description="incident type -> points"
    )
    default_points: int | None = Field(default=None, ge=0, le=100)
    threshold_points: int | None = Field(default=None, ge=1, le=1000)
    window_days: int | None = Field(default=None, ge=1, le=3650)
    listing_days: int | None = Field(default=None, ge=1, le=3650)
    amber_points: int | None = Field(default=None, ge=1, le=1000)
    score_points_weight: float | None = Field(default=None, ge=0, le=100)
    score_listing_penalty: float | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _points_in_range(self) -> PolicyIn:
        for kind, pts in self.points.items():
            if not kind or len(kind) > 64 or not 0 <= pts <= 100:
                raise ValueError(f"points.{kind}: 0..100 points per incident type")
        return self


class AppealIn(BaseModel):
    listing_id: int | None = None
    incident_id: str | None = Field(default=None, min_length=1, max_length=200)
    statement: str = Field(min_length=1, max_length=4000)

    @model_validator(mode="after")
    def _one_target(self) -> AppealIn:
        if (self.listing_id is None) == (self.incident_id is None):
            raise ValueError("name either listing_id or incident_id")
        return self


class Decision(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


class Appeal(BaseModel):
    id: int
    company_id: int
    vehicle_id: int
    listing_id: int | None
    incident_id: str | None
    statement: str
    status: str
    filed_by: str
    filed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
