"""The outbox API's bodies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from tracker.outbox.channels import bad_url
from tracker.wire import OUTBOX_EVENT_TYPES

ChannelName = Literal["webhook", "wecom", "dingtalk", "sms", "email"]
SubscriberKind = Literal["department", "company", "unit", "person"]
_PHONES = re.compile(r"^\+?[0-9]{5,20}(,\+?[0-9]{5,20}){0,99}$")
_EMAIL = re.compile(r"^[^@\s,]{1,64}@[^@\s,]{1,255}$")
MAX_SCOPE = 1000


def target_problem(channel: str, target: str) -> str | None:
    """Why ``target`` is no address for ``channel`` (None: it is)."""
    if channel in {"webhook", "wecom", "dingtalk"}:
        return bad_url(target)
    if channel == "sms" and not _PHONES.match(target):
        return "target must be phone numbers, comma-separated"
    if channel == "email" and not _EMAIL.match(target):
        return "target must be one e-mail address"
    return None


class SubscriptionIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: SubscriberKind = "department"
    company_id: int | None = Field(default=None, description="kind company: which (admins)")
    channel: ChannelName
    target: str = Field(
        min_length=1,
        max_length=2000,
        description="webhook / robot URL, phone numbers (sms), an address (email)",
    )
    secret: str | None = Field(
        default=None, max_length=200, description="webhook HMAC key, DingTalk signing secret"
    )
    event_types: list[str] = Field(default=[], max_length=len(OUTBOX_EVENT_TYPES))
    scope_company_ids: list[int] = Field(default=[], max_length=MAX_SCOPE)
    scope_vehicle_ids: list[int] = Field(default=[], max_length=MAX_SCOPE)
    scope_yard_ids: list[int] = Field(default=[], max_length=MAX_SCOPE)
    scope_districts: list[str] = Field(default=[], max_length=MAX_SCOPE)
    batch_max: int = Field(default=1, ge=1, le=500, description="webhook: events per request")
    active: bool = True

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(OUTBOX_EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}")
        return sorted(set(value))

    @field_validator("scope_districts")
    @classmethod
    def _districts(cls, value: list[str]) -> list[str]:
        if any(not 0 < len(d) <= 100 for d in value):
            raise ValueError("a district name has 1 to 100 characters")
        return value


class SubscriptionOut(BaseModel):
    id: int
    name: str
    kind: SubscriberKind
    company_id: int | None
    channel: ChannelName
    target: str
    has_secret: bool
    event_types: list[str]
    scope_company_ids: list[int]
    scope_vehicle_ids: list[int]
    scope_yard_ids: list[int]
    scope_districts: list[str]
    batch_max: int
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    deliveries: dict[str, int] = {}  # state -> count


class DeliveryOut(BaseModel):
    id: int
    subscription_id: int
    subscription: str | None = None
    event_id: int
    event_type: str
    occurred_at: datetime
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    dead_at: datetime | None
    replays: int
    idempotency_key: str


class EventOut(BaseModel):
    id: int
    type: str
    occurred_at: datetime
    created_at: datetime
    company_id: int | None
    vehicle_id: int | None
    yard_id: int | None
    district: str | None
    payload: dict[str, Any]
    fanned_at: datetime | None
    deliveries: dict[str, int] = {}


class TemplateIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2000)
    locale: Literal["zh-CN", "en"] = "zh-CN"


class TemplateOut(BaseModel):
    event_type: str
    locale: str
    title: str
    body: str
    custom: bool
