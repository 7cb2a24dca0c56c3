"""Feed endpoints: admins grant a department account its feeds (audited); the department pulls
pages with an opaque cursor (tracker.exports.feeds says why a page never skips or repeats)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from tracker.accounts import repo as audit
from tracker.accounts.models import Principal, Role
from tracker.deps import AdminDep, PlatformDep, require_roles
from tracker.errors import BadRequest, NotFound
from tracker.exports import feeds
from tracker.exports.feeds import FeedKind, GrantIn
from tracker.times import Instant

router = APIRouter(prefix="/api/v1/feeds", tags=["feeds"])
DepartmentDep = Annotated[Principal, Depends(require_roles(Role.department))]


def _out(g: feeds.Grant) -> dict[str, Any]:
    return asdict(g)


@router.post("/grants", status_code=201, summary="Grant a department account a feed (admin)")
async def create_grant(body: GrantIn, platform: PlatformDep, who: AdminDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn, conn.transaction():
        g = await feeds.create_grant(conn, body, who.username)
        await audit.record(conn, who, "create", "share_grant", g.id, None, _out(g))
    return _out(g)


@router.get("/grants", summary="Every share grant (admin)")
async def list_grants(platform: PlatformDep, _: AdminDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return {"grants": [_out(g) for g in await feeds.grants(conn)]}


@router.post("/grants/{grant_id}/end", summary="End a share grant: its feeds stop (admin)")
async def end_grant(grant_id: int, platform: PlatformDep, who: AdminDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn, conn.transaction():
        before = await feeds.grant(conn, grant_id)
        g = await feeds.end_grant(conn, grant_id)
        if before is None or g is None:
            raise NotFound(f"no share grant {grant_id}", field="grant_id")
        await audit.record(conn, who, "end", "share_grant", grant_id, _out(before), _out(g))
    return _out(g)


@router.get("/mine", summary="The calling department's grants")
async def my_grants(platform: PlatformDep, who: DepartmentDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        found = await feeds.grants(conn, user_id=who.user_id or 0, active_only=True)
    return {"grants": [_out(g) for g in found]}


@router.get(
    "/{grant_id}/{kind}",
    summary="A page of a feed: positions (at the grant's rate), incidents or trips",
    description="Pass `next_cursor` of a page as `cursor` to get the next; `more` says whether "
    "a next page is ready now (else poll later with the same cursor). `since` starts a feed "
    "without a cursor (default: the grant's creation; at most 31 days back).",
)
async def pull(
    grant_id: int,
    kind: FeedKind,
    platform: PlatformDep,
    who: DepartmentDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    since: Instant | None = None,
    limit: Annotated[int | None, Query(ge=1, le=50_000)] = None,
) -> dict[str, Any]:
    cfg = platform.settings.exports
    page_limit = min(limit or cfg.feed_page_max, cfg.feed_page_max)
    async with platform.pool.connection() as conn:
        g = await feeds.grant(conn, grant_id)
        mine = g is not None and (who.role == Role.admin or g.user_id == who.user_id)
        if g is None or not mine or not g.active:
            raise NotFound(f"no share grant {grant_id} of yours", field="grant_id")
        if kind not in g.kinds:
            raise BadRequest(f"grant {grant_id} does not share {kind}", field="kind")
        if kind == "positions":
            oldest = datetime.now(UTC) - timedelta(days=cfg.track_max_days)
            start = max(since or g.created_at, oldest)
            rows, nxt, more = await feeds.positions_page(
                conn, g, cursor, start, page_limit, cfg.feed_settle_s
            )
        else:
            rows, nxt, more = await feeds.stamped_page(conn, g, kind, cursor, page_limit)
    return {"grant_id": grant_id, "kind": kind, "items": rows, "next_cursor": nxt, "more": more}
