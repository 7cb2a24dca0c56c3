"""Bodies of the KPI API (rates are fractions 0..1, null when their denominator is zero)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class FleetKpi(BaseModel):
    registered: int = Field(description="active registered vehicles")
    with_terminal: int = Field(description="vehicles with an active terminal")
    install_rate: float | None = Field(description="with_terminal / registered")
    online: int = Field(description="vehicles with a fix in the last online_window_min before to")
    online_rate: float | None = Field(description="online / registered (上线率)")
    online_window_min: int


class QualityBucket(BaseModel):
    at: datetime
    fixes: int
    invalid: int
    filtered: int
    gaps: int


class QualityKpi(BaseModel):
    fixes: int = Field(description="stored fixes in the window")
    reporting_vehicles: int = Field(description="vehicles with at least one fix in the window")
    fixes_per_vehicle_h: float | None = Field(description="fixes / reporting vehicles / hours")
    mean_fix_interval_s: float | None = Field(
        description="mean step between a vehicle's consecutive fixes (steps up to gap_s)"
    )
    quality_rate: float | None = Field(description="valid and unflagged share (数据合格率)")
    invalid_share: float | None = Field(description="fixes the terminal marked not valid")
    filtered_share: float | None = Field(description="fixes a noise filter flagged")
    drift_share: float | None = Field(description="fixes flagged as jumps (漂移率)")
    gaps: int = Field(description="steps over gap_s across which the truck moved over move_m")
    gap_time_s: float = Field(description="time missing from the tracks (beyond gap_s per gap)")
    track_completeness: float | None = Field(
        description="1 - gap_time_s / tracked time (轨迹完整率); parked silences excluded"
    )
    gap_s: float
    move_m: float
    bucket: str = Field(description="the length of each by_time bucket")
    rollup_hours: int = Field(
        default=0, description="whole hours of the window read from the hourly rollup"
    )
    by_time: list[QualityBucket]


class TypeCount(BaseModel):
    type: str
    count: int


class CompanyCount(BaseModel):
    company_id: int | None
    name: str | None
    count: int


class IncidentKpi(BaseModel):
    total: int = Field(description="incidents opened in the window")
    by_type: list[TypeCount]
    by_company: list[CompanyCount]


class TripKpi(BaseModel):
    completed: int = Field(description="trips completed in the window")
    to_yard: int
    elsewhere: int = Field(description="completed somewhere other than a disposal yard")
    volume_m3: float


class Kpi(BaseModel):
    start: datetime = Field(serialization_alias="from")
    to: datetime
    company_id: int | None
    query_ms: float
    fleet: FleetKpi
    data_quality: QualityKpi
    incidents: IncidentKpi
    trips: TripKpi
