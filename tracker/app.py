"""The app factory: ``create_app(settings)`` gives the HTTP API its routers and its lifespan.

The services an API process holds are built by ``Platform.build`` (tracker.deps) around the one
ingest pipeline (tracker.pipeline); the periodic tasks are those of tracker.maintenance, run
here while ``maintenance_in_api`` is on. Which process runs what: tracker.processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, Response

from tracker import __version__, config_api, metrics
from tracker.accounts import api as accounts_api
from tracker.blacklist import api as blacklist_api
from tracker.capacity import api as capacity_api
from tracker.cases import api as cases_api
from tracker.cases import taxonomy as cases_taxonomy
from tracker.clues import api as clues_api
from tracker.db import migrate
from tracker.deps import Platform, PlatformDep, require_metrics_reader
from tracker.errors import register_error_handlers
from tracker.evidence import api as evidence_api
from tracker.exports import api as exports_api
from tracker.exports import feeds_api
from tracker.history import api as history_api
from tracker.ingest import api as ingest_api
from tracker.ingest import quarantine_api
from tracker.kpi import api as kpi_api
from tracker.limits import BodyLimit
from tracker.live import api as live_api
from tracker.maintenance import MaintenanceRunner
from tracker.outbox import api as outbox_api
from tracker.permits import api as permits_api
from tracker.public import api as public_api
from tracker.registry import api as registry_api
from tracker.responses import JSONResponse
from tracker.runtime import tune_gc
from tracker.security import SecurityMiddleware
from tracker.settings import Settings
from tracker.sightings import api as sightings_api
from tracker.trips import api as incidents_api

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    platform: Platform = app.state.platform
    settings = platform.settings
    if settings.migrate_on_start:
        await asyncio.to_thread(migrate, settings.database_url, settings.city_tz)
    await platform.start()
    async with platform.pool.connection() as conn:  # the default case taxonomy, first start
        if await cases_taxonomy.ensure_default(conn):
            log.info("loaded the default case taxonomy (tracker cases taxonomy FILE replaces it)")
    if settings.tune_gc:
        tune_gc()
    maintenance = None
    if settings.maintenance_in_api:
        maintenance = MaintenanceRunner(settings, platform.pool, platform.redis)
        maintenance.start()
    app.state.maintenance = maintenance
    await live_api.start(app)
    try:
        yield
    finally:
        await live_api.stop(app)
        if maintenance is not None:
            await maintenance.stop()
        await platform.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    app = FastAPI(
        title="muck-tracker",
        version=__version__,
        description="GPS tracking and enforcement for muck trucks. Coordinates are lon, lat "
        "(WGS-84); times are RFC 3339 UTC.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
        docs_url=None,  # /docs from local assets: tracker.config_api
        redoc_url=None,  # ReDoc comes only from a CDN
    )
    app.state.platform = Platform.build(settings)
    register_error_handlers(app)
    app.add_middleware(BodyLimit, settings=settings)  # body size per route: tracker.limits
    app.add_middleware(SecurityMiddleware, settings=settings)
    app.include_router(ingest_api.router)
    app.include_router(quarantine_api.router)
    app.include_router(history_api.router)
    app.include_router(accounts_api.router)
    # before the registry: its /yards/{row_id} would take /yards/capacity
    app.include_router(capacity_api.router)
    app.include_router(registry_api.router)
    app.include_router(blacklist_api.router)
    app.include_router(public_api.router)
    app.include_router(clues_api.router)
    app.include_router(permits_api.router)
    app.include_router(live_api.router)
    app.include_router(incidents_api.router)
    app.include_router(evidence_api.router)
    app.include_router(kpi_api.router)
    app.include_router(outbox_api.router)
    app.include_router(config_api.router)

    app.include_router(cases_api.router)

    app.include_router(exports_api.router)
    app.include_router(feeds_api.router)
    app.include_router(sightings_api.router)
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

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Readiness: can this process take work now",
        description="200 when the database answers through the pool, `pings` is writable, "
        "Redis answers and the ingest writer is neither stalled nor over its queue bound; "
        "otherwise 503 with `failed` naming the checks and `checks` saying why.",
    )
    async def readyz(platform: PlatformDep) -> JSONResponse:
        ready, body = await platform.pipeline.readiness.report()
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics of this API (all its workers)",
        description="Text exposition format. Bearer: the scrape token `TRACKER_METRICS_TOKEN` "
        "or an admin's token.",
        response_class=Response,
    )
    async def metrics_endpoint(
        platform: PlatformDep, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        await require_metrics_reader(platform, authorization)
        body, content_type = await asyncio.to_thread(metrics.exposition)
        return Response(body, media_type=content_type)

    return app
