"""The app factory: ``create_app(settings)`` wires the platform's services in the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from tracker import __version__, tasks
from tracker.accounts import api as accounts_api
from tracker.blacklist import api as blacklist_api
from tracker.blacklist.service import run_expiry as run_blacklist_expiry
from tracker.capacity import api as capacity_api
from tracker.capacity.service import run_capacity
from tracker.db import make_pool, migrate
from tracker.deps import Platform, PlatformDep
from tracker.errors import register_error_handlers
from tracker.history import api as history_api
from tracker.history import latest as latest_store
from tracker.history.compaction import run_compaction
from tracker.ingest import api as ingest_api
from tracker.ingest.auth import TerminalAuthenticator
from tracker.ingest.service import IngestService
from tracker.ingest.stream import StreamPublisher
from tracker.ingest.writer import GroupCommitWriter
from tracker.kpi import api as kpi_api
from tracker.kpi.rollup import run_rollup as run_kpi_rollup
from tracker.live import api as live_api
from tracker.permits import api as permits_api
from tracker.permits.expiry import run_expiry
from tracker.public import api as public_api
from tracker.registry import api as registry_api
from tracker.registry.directory import VehicleDirectory
from tracker.responses import JSONResponse
from tracker.runtime import tune_gc
from tracker.settings import Settings
from tracker.trips import api as incidents_api

log = logging.getLogger(__name__)


def build_platform(settings: Settings) -> Platform:
    pool = make_pool(settings)
    redis = aioredis.Redis.from_url(settings.redis_url)
    publisher = StreamPublisher(redis, shards=settings.shards, maxlen=settings.stream_maxlen)
    writer = GroupCommitWriter(
        settings.database_url,
        h3_resolution=settings.h3_resolution,
        max_rows=settings.writer_max_rows,
        connections=settings.writer_connections,
    )
    ingest = IngestService(writer, settings.filters)

    def after_commit(stored: list) -> None:  # type: ignore[type-arg]
        ingest.remember(stored)
        publisher.submit(stored)

    writer.on_stored = after_commit
    return Platform(
        settings,
        pool,
        redis,
        writer,
        publisher,
        ingest,
        TerminalAuthenticator(pool),
        VehicleDirectory(pool),
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    platform: Platform = app.state.platform
    settings = platform.settings
    if settings.migrate_on_start:
        await asyncio.to_thread(migrate, settings.database_url)
    await platform.pool.open(wait=True)
    await platform.writer.start()
    await platform.publisher.start()
    await latest_store.ensure_latest(platform.pool, platform.redis)
    if settings.tune_gc:
        tune_gc()
    expiry = asyncio.create_task(
        run_expiry(platform.pool, platform.redis, settings.permit_expiry_interval_s),
        name="permit-expiry",
    )
    ledger = [
        asyncio.create_task(
            run_capacity(platform.pool, platform.redis, settings.capacity_interval_s),
            name="yard-capacity",
        ),
        asyncio.create_task(
            run_blacklist_expiry(platform.pool, settings.blacklist_expiry_interval_s),
            name="blacklist-expiry",
        ),
    ]
    compaction = (
        asyncio.create_task(
            run_compaction(settings.database_url, settings.compaction_interval_s),
            name="pings-compaction",
        )
        if settings.compaction_interval_s > 0
        else None
    )
    kpi_rollup = (
        asyncio.create_task(
            run_kpi_rollup(platform.pool, settings.kpi_rollup_interval_s), name="kpi-rollup"
        )
        if settings.kpi_rollup_interval_s > 0
        else None
    )
    await live_api.start(app)
    try:
        yield
    finally:
        await live_api.stop(app)
        await tasks.stop([compaction, kpi_rollup, expiry, *ledger])
        await platform.writer.stop()
        await platform.publisher.stop()
        await platform.pool.close()
        await platform.redis.aclose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    app = FastAPI(
        title="muck-tracker",
        version=__version__,
        description="GPS tracking and enforcement for muck trucks. Coordinates are lon, lat "
        "(WGS-84); times are RFC 3339 UTC.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    app.state.platform = build_platform(settings)
    register_error_handlers(app)
    app.include_router(ingest_api.router)
    app.include_router(history_api.router)
    app.include_router(accounts_api.router)
    # before the registry: its /yards/{row_id} would take /yards/capacity
    app.include_router(capacity_api.router)
    app.include_router(registry_api.router)
    app.include_router(blacklist_api.router)
    app.include_router(public_api.router)
    app.include_router(permits_api.router)
    app.include_router(live_api.router)
    app.include_router(incidents_api.router)
    app.include_router(kpi_api.router)
    live_api.mount_web(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness and writer figures")
    async def healthz(platform: PlatformDep) -> dict[str, object]:
        return {
            "status": "ok",
            "groups_committed": platform.writer.groups_committed,
            "rows_committed": platform.writer.rows_committed,
            "published_fixes": platform.publisher.published_fixes,
            "dropped_stream_groups": platform.publisher.dropped_groups,
        }

    return app
