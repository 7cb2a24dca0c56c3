"""Outbox endpoints: subscriptions (admins; company users their own), delivery state per event
and per subscriber, dead letters and their replay (admins), message templates (admins)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from tracker.deps import AdminDep, PlatformDep, StaffDep
from tracker.outbox import service
from tracker.outbox.models import (
    DeliveryOut,
    EventOut,
    SubscriptionIn,
    SubscriptionOut,
    TemplateIn,
    TemplateOut,
)
from tracker.wire import OUTBOX_EVENT_TYPES

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])
Limit = Annotated[int, Query(ge=1, le=1000)]
State = Literal["pending", "delivered", "dead"]


@router.get("/event-types", summary="The event types the outbox carries")
async def event_types(_: StaffDep) -> list[dict[str, str]]:
    return [{"type": k, "description": v} for k, v in OUTBOX_EVENT_TYPES.items()]


@router.get("/subscriptions", summary="Subscriptions with their deliveries' states")
async def list_subscriptions(platform: PlatformDep, who: StaffDep) -> list[SubscriptionOut]:
    async with platform.pool.connection() as conn:
        return [SubscriptionOut(**r) for r in await service.subscriptions(conn, who)]


@router.post("/subscriptions", status_code=201, summary="Subscribe (audited)")
async def create_subscription(
    platform: PlatformDep, who: StaffDep, body: SubscriptionIn
) -> SubscriptionOut:
    async with platform.pool.connection() as conn:
        return SubscriptionOut(**await service.create(conn, body, who))


@router.put("/subscriptions/{subscription_id}", summary="Change a subscription (audited)")
async def update_subscription(
    platform: PlatformDep, who: StaffDep, subscription_id: int, body: SubscriptionIn
) -> SubscriptionOut:
    async with platform.pool.connection() as conn:
        return SubscriptionOut(**await service.update(conn, subscription_id, body, who))


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Unsubscribe (audited)")
async def delete_subscription(
    platform: PlatformDep, who: StaffDep, subscription_id: int
) -> Response:
    async with platform.pool.connection() as conn:
        await service.delete(conn, subscription_id, who)
    return Response(status_code=204)


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    summary="A subscriber's deliveries, newest first",
)
async def subscription_deliveries(
    platform: PlatformDep,
    who: StaffDep,
    subscription_id: int,
    state: State | None = None,
    before_id: int | None = None,
    limit: Limit = 100,
) -> list[DeliveryOut]:
    async with platform.pool.connection() as conn:
        rows = await service.deliveries(
            conn, who, subscription_id=subscription_id, state=state, before_id=before_id,
            limit=limit,
        )  # fmt: skip
    return [DeliveryOut(**r) for r in rows]


@router.get("/events", summary="Events, newest first, with their deliveries' states")
async def list_events(
    platform: PlatformDep,
    who: StaffDep,
    type: str | None = Query(default=None, max_length=64),
    before_id: int | None = None,
    limit: Limit = 100,
) -> list[EventOut]:
    async with platform.pool.connection() as conn:
        return [EventOut(**r) for r in await service.events(conn, who, type, before_id, limit)]


@router.get("/events/{event_id}/deliveries", summary="An event's delivery to each subscriber")
async def event_deliveries(
    platform: PlatformDep, who: StaffDep, event_id: int, limit: Limit = 1000
) -> list[DeliveryOut]:
    async with platform.pool.connection() as conn:
        rows = await service.deliveries(conn, who, event_id=event_id, limit=limit)
    return [DeliveryOut(**r) for r in rows]


@router.get("/dead-letters", summary="Deliveries that finally failed, with their reasons")
async def dead_letters(
    platform: PlatformDep,
    who: AdminDep,
    subscription_id: int | None = None,
    before_id: int | None = None,
    limit: Limit = 100,
) -> list[DeliveryOut]:
    async with platform.pool.connection() as conn:
        rows = await service.deliveries(
            conn, who, subscription_id=subscription_id, state="dead", before_id=before_id,
            limit=limit,
        )  # fmt: skip
    return [DeliveryOut(**r) for r in rows]


@router.post(
    "/deliveries/{delivery_id}/replay",
    summary="Send a dead letter again (a fresh retry period; audited)",
)
async def replay(platform: PlatformDep, who: AdminDep, delivery_id: int) -> DeliveryOut:
    async with platform.pool.connection() as conn:
        return DeliveryOut(**await service.replay(conn, delivery_id, who, datetime.now(UTC)))


@router.get("/templates", summary="Message texts per event type (the city's, else defaults)")
async def list_templates(
    platform: PlatformDep, _: AdminDep, locale: Literal["zh-CN", "en"] = "zh-CN"
) -> list[TemplateOut]:
    async with platform.pool.connection() as conn:
        return [TemplateOut(**r) for r in await service.templates(conn, locale)]


@router.put("/templates/{event_type}", summary="Replace an event type's message text (audited)")
async def set_template(
    platform: PlatformDep, who: AdminDep, event_type: str, body: TemplateIn
) -> TemplateOut:
    async with platform.pool.connection() as conn:
        return TemplateOut(**await service.set_template(conn, event_type, body, who))
