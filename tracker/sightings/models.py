"""Bodies of the sightings API and the plate format.

Plates are Chinese civil plates: a province's character, a letter, then five characters
(``桂A12345``), six for new-energy plates (``桂AD12345``), or four and 挂 for a trailer. A
plate is compared as normalised: spaces, ``-`` and ``·`` dropped, letters upper case.
Plate colours travel as codes: ``blue`` 蓝, ``yellow`` 黄, ``green`` 绿 (new energy),
``yellow_green`` 黄绿 (large new energy), ``white`` 白, ``black`` 黑, ``other``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE = re.compile(rf"^[{PROVINCES}][A-Z](?:[A-Z0-9]{{5,6}}|[A-Z0-9]{{4}}挂)$")
_SEPARATORS = re.compile(r"[\s\-·•]")
PlateColour = Literal["blue", "yellow", "green", "yellow_green", "white", "black", "other"]


def normalise_plate(plate: str) -> str:
    return _SEPARATORS.sub("", plate).upper()


def plate_ok(plate: str) -> bool:
    return PLATE.match(plate) is not None


class SightingIn(BaseModel):
    """One plate read by a checkpoint camera."""

    model_config = ConfigDict(extra="forbid")
    sighting_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the camera system's own id of this read: a repeat is answered duplicate",
    )
    plate: str = Field(min_length=1, max_length=16, examples=["桂A12345"])
    plate_colour: PlateColour = "yellow"
    time: AwareDatetime = Field(description="when the plate was read (with its offset)")
    checkpoint_id: int = Field(ge=1)
    direction: str | None = Field(default=None, min_length=1, max_length=32)
    camera_id: str | None = Field(default=None, min_length=1, max_length=64)
    photo_ref: str | None = Field(
        default=None, min_length=1, description="URL or key of the photo (TRACKER_SIGHTINGS__*)"
    )
    confidence: float = Field(ge=0, le=1, description="the plate read's confidence, 0-1")
    loaded: bool | None = Field(default=None, description="the camera saw a load, if it can")


class SightingBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sightings: list[SightingIn] = Field(min_length=1, max_length=10_000)


class SightingResult(BaseModel):
    id: int
    status: Literal["stored", "duplicate"]
    vehicle_id: int | None
    sighting_id: str | None


class SightingsAnswer(BaseModel):
    results: list[SightingResult]
    stored: int
    duplicate: int


class SightingOut(BaseModel):
    id: int
    plate: str
    plate_colour: str
    seen_at: datetime
    checkpoint_id: int
    checkpoint_name: str
    lon: float
    lat: float
    direction: str | None
    camera_id: str | None
    photo_ref: str | None
    confidence: float
    loaded: bool | None
    vehicle_id: int | None
    company_id: int | None
    camera_system_id: int
    sighting_id: str | None
    reviewed_at: datetime | None
    findings: list[dict[str, object]]
