"""Bodies of the capacity API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from tracker.times import Instant

ALERT_LEVELS = (80, 95, 100)


class AdjustmentKind(StrEnum):
    survey = "survey"  # a survey found more or less than the ledger says
    excavation = "excavation"  # material dug out and carried away (negative)
    correction = "correction"  # a booking error put right


class AdjustmentIn(BaseModel):
    kind: AdjustmentKind
    volume_m3: float = Field(description="signed: negative removes volume", ge=-1e9, le=1e9)
    reason: str = Field(min_length=1, max_length=2000)
    at: Instant | None = Field(default=None, description="effective time (default: now)")


class LedgerEntry(BaseModel):
    id: int
    yard_id: int
    kind: str
    trip_id: str | None
    volume_m3: float
    volume_source: str | None
    reason: str | None
    actor: str
    at: datetime
    created_at: datetime


class YardCapacity(BaseModel):
    yard_id: int
    name: str
    capacity_m3: float
    fill_m3: float
    remaining_m3: float
    fill_pct: float
    status: str  # open | closed
    days_to_full: float | None


class FillPoint(BaseModel):
    at: datetime
    fill_m3: float


class YardCapacityDetail(YardCapacity):
    inflow_m3_per_day: float
    history: list[FillPoint]
