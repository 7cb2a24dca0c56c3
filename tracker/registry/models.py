"""Bodies of the registry API. Geometry is GeoJSON (lon, lat); times of day are ``HH:MM`` local
wall-clock times of the city's zone (``TRACKER_CITY_TZ``, Asia/Shanghai by default)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tracker.times import HHMM_PATTERN

HHMM = HHMM_PATTERN
Name = Field(min_length=1, max_length=200)


class TimeWindow(BaseModel):
    """A daily window; ``end`` before ``start`` runs past midnight (night hauls)."""

    start: str = Field(pattern=HHMM, examples=["06:00"])
    end: str = Field(pattern=HHMM, examples=["22:00"])

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if self.start == self.end:
            raise ValueError("a window needs end different from start")
        return self


class WeeklyWindow(TimeWindow):
    """A window starting on some days of the week (1 Monday … 7 Sunday), in the city's local
    time; one past midnight ends on the next day (Sunday 22:00-05:00 ends Monday 05:00)."""

    days: list[int] = Field(default=[1, 2, 3, 4, 5, 6, 7], min_length=1, max_length=7)

    @model_validator(mode="after")
    def _days(self) -> WeeklyWindow:
        if any(not 1 <= d <= 7 for d in self.days) or len(set(self.days)) != len(self.days):
            raise ValueError("days are distinct numbers 1 (Monday) to 7 (Sunday)")
        return self


class CompanyIn(BaseModel):
    name: str = Name
    credit_code: str | None = Field(default=None, max_length=64)
    active: bool = True
    district: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the code of the company's district (an area of /api/v1/jurisdictions); "
        "the outbox scopes the company's events by it",
    )


class CompanyOut(CompanyIn):
    id: int
    created_at: datetime


class VehicleIn(BaseModel):
    plate: str = Field(min_length=1, max_length=20)
    company_id: int
    rated_volume_m3: float = Field(gt=0, le=100)
    terminal_model: str | None = Field(default=None, max_length=64)
    active: bool = True
    blacklisted: bool | None = Field(
        default=None,
        description="Read-only: an active blacklist listing. A write may repeat the vehicle's "
        "current value; listing and lifting go through /api/v1/blacklist (audited, with a reason).",
    )


class VehicleOut(VehicleIn):
    id: int
    created_at: datetime
    blacklisted: bool = Field(default=False, description="An active blacklist listing (read-only).")


class TerminalIn(BaseModel):
    identity: str = Field(
        min_length=1, max_length=32, description="serial, or the JT/T 808 phone number"
    )
    vehicle_id: int | None = None
    model: str | None = Field(default=None, max_length=64)
    active: bool = True


class TerminalOut(TerminalIn):
    id: int
    token_issued_at: datetime | None
    created_at: datetime


class TerminalToken(BaseModel):
    terminal_id: int
    token: str = Field(description="shown once; only its hash is stored")


class PlaceIn(BaseModel):
    name: str = Name
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, lon/lat")
    active: bool = True


class PlaceOut(BaseModel):
    id: int
    fence_id: int
    created_at: datetime


class SiteIn(PlaceIn):
    kind: Literal["construction", "quarry", "mixing"]
    company_id: int | None = None
    active_from: date | None = None
    active_to: date | None = None

    @model_validator(mode="after")
    def _dates(self) -> SiteIn:
        if self.active_from and self.active_to and self.active_from > self.active_to:
            raise ValueError("active_from is after active_to")
        return self


class SiteOut(SiteIn, PlaceOut):
    pass


class YardIn(PlaceIn):
    capacity_m3: float = Field(gt=0, le=1e10)
    opening_hours: list[TimeWindow] = Field(default=[], max_length=8)
    accepted_materials: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default=[], max_length=32
    )


class YardOut(YardIn, PlaceOut):
    pass


class ZoneIn(PlaceIn):
    schedule: list[WeeklyWindow] = Field(
        default=[], max_length=32, description="when the ban holds; empty: always"
    )
    speed_limit_kmh: float | None = Field(default=None, gt=0, le=200)


class ZoneOut(ZoneIn, PlaceOut):
    pass


class RegistrationReset(BaseModel):
    """An officer's reset of a JT/T 808 terminal's registration."""

    model_config = ConfigDict(extra="forbid")
    # the JT/T 808 terminal id (the 0x0100 field) the next registration must name; none: the
    # first device that registers is bound
    device_id: str | None = Field(default=None, min_length=1, max_length=30)


class RegistrationResetOut(BaseModel):
    terminal_id: int
    device_id: str | None


class CheckpointDirection(BaseModel):
    """A direction a checkpoint's cameras watch: a name (``inbound``, ``outbound``, a road's
    name) and, if known, the bearing of travel in degrees (0 north, 90 east)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=32, examples=["inbound"])
    bearing_deg: float | None = Field(default=None, ge=0, lt=360)


class CheckpointIn(BaseModel):
    """A checkpoint (卡点) with plate cameras. ``muck_lanes``: the cameras watch lanes only muck
    trucks use, so an unknown plate there is an unregistered muck truck."""

    name: str = Name
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    directions: list[CheckpointDirection] = Field(default=[], max_length=8)
    district: str | None = Field(default=None, max_length=64)
    cameras: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default=[], max_length=32, description="camera ids"
    )
    muck_lanes: bool = True
    active: bool = True


class CheckpointOut(CheckpointIn):
    id: int
    created_at: datetime


class CameraSystemIn(BaseModel):
    """One operator's plate cameras: it posts sightings with its own token."""

    name: str = Name
    note: str | None = Field(default=None, max_length=500)
    active: bool = True


class CameraSystemOut(CameraSystemIn):
    id: int
    token_issued_at: datetime | None
    created_at: datetime


class CameraSystemToken(BaseModel):
    camera_system_id: int
    token: str = Field(description="shown once; only its hash is stored")
