"""The cases API's bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

UnitKind = Literal[
    "urban_management", "traffic_police", "environment", "housing", "transport", "street_office"
]
CODE = r"^[a-z0-9_]{1,64}$"


class CaseIn(BaseModel):
    """A case opened by hand."""

    subtype: str = Field(pattern=CODE)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    company_id: int | None = Field(default=None, ge=1)
    vehicle_id: int | None = Field(default=None, ge=1)
    facts: str = Field(min_length=1, max_length=4000)


class MoveIn(BaseModel):
    """One action on a case; each action reads the fields it needs."""

    note: str = Field(default="", max_length=2000)
    penalty_cny: float | None = Field(default=None, ge=0, le=100_000_000)  # notify, decide
    unit_id: int | None = Field(default=None, ge=1)  # dispatch: another unit than the routed one
    statement: str | None = Field(default=None, min_length=1, max_length=8000)  # state
    hearing: bool = False  # state: ask for a hearing (large fines, within the period)
    signature: str | None = Field(default=None, min_length=1, max_length=200)  # accept, state
    method: Literal["electronic", "in_person", "post"] | None = None  # deliver
    outcome: Literal["paid", "rectified"] | None = None  # execute
    minutes: str | None = Field(default=None, min_length=1, max_length=20_000)  # hear: 听证笔录
    held_at: AwareDatetime | None = None  # hear: when the hearing was held (default: now)


class CategoryIn(BaseModel):
    code: str = Field(pattern=CODE)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)


class SubtypeIn(BaseModel):
    code: str = Field(pattern=CODE)
    category: str = Field(pattern=CODE)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    penalty_min_cny: float = Field(ge=0, le=100_000_000)
    penalty_max_cny: float = Field(ge=0, le=100_000_000)
    legal_basis: str = Field(min_length=1, max_length=1000)
    unit_kind: UnitKind
    incident_types: list[str] = Field(default_factory=list, max_length=50)


class TaxonomyIn(BaseModel):
    note: str = Field(default="", max_length=4000)
    categories: list[CategoryIn] = Field(min_length=1, max_length=100)
    subtypes: list[SubtypeIn] = Field(min_length=1, max_length=1000)


class UnitIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    kind: UnitKind
    jurisdiction_code: str = Field(min_length=1, max_length=64)


class ScopeIn(BaseModel):
    """An account's scope: a unit, or an area (a jurisdiction's code), or neither (city)."""

    unit_id: int | None = Field(default=None, ge=1)
    area_code: str | None = Field(default=None, min_length=1, max_length=64)


class FeatureCollectionIn(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]] = Field(min_length=1, max_length=5000)
