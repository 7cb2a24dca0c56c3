"""Prometheus metrics of every process, defined once here (the maintained client library).

Every process exposes what it does: the API on ``GET /metrics``, the gateway, the engine and the
maintenance process on their health listener's ``/metrics`` (``TRACKER_HEALTH_PORT``). The
metrics are incremented where the work happens, once per group, batch or connection event —
never per fix in a loop — so they cost nothing measurable on the ingest path.

An API with several uvicorn workers runs in the client library's multi-process mode: ``tracker
serve --workers N`` gives the workers a fresh ``PROMETHEUS_MULTIPROC_DIR`` and any worker's
``/metrics`` answers for all of them (gauges are summed over live workers).

Names carry their unit (``_seconds``, ``_rows``), counters end in ``_total``. What each one means
is in the README ("Metrics").
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# --- ingest (API: protocol http; gateway: protocol jt808) -----------------------------------
INGEST_FIXES = Counter(
    "tracker_ingest_fixes_total",
    "Fixes answered, by outcome: stored (new), duplicate (already stored; both acknowledged), "
    "refused (with a reason, kept in the quarantine)",
    ["protocol", "outcome"],
)
INGEST_REFUSED = Counter(
    "tracker_ingest_refused_total",
    "Refused fixes by reason (the quarantine's reason codes)",
    ["protocol", "reason"],
)
INGEST_UNAVAILABLE = Counter(
    "tracker_ingest_unavailable_total",
    "Writes answered 503 with nothing acknowledged, by cause (queue_full, deadline, storage)",
    ["cause"],
)
QUARANTINE_WRITTEN = Counter(
    "tracker_quarantine_fixes_total",
    "Refused fixes written to the quarantine table",
)
QUARANTINE_LOST = Counter(
    "tracker_quarantine_not_kept_total",
    "Refused fixes counted (in tracker_ingest_refused_total) but not kept in the quarantine "
    "table, by cause (overflow: its bounded memory was full while the database was away)",
    ["cause"],
)
WRITER_QUEUE_ROWS = Gauge(
    "tracker_writer_queue_rows",
    "Fixes waiting for the group-commit writer",
    multiprocess_mode="livesum",
)
WRITER_COMMIT_SECONDS = Histogram(
    "tracker_writer_commit_seconds",
    "Time of one group commit (COPY, commit log, commit)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WRITER_GROUP_ROWS = Histogram(
    "tracker_writer_group_rows",
    "Fixes per group commit",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
STREAM_BACKLOG_GROUPS = Gauge(
    "tracker_stream_backlog_groups",
    "Committed groups waiting to be published to the engine's Redis streams",
    multiprocess_mode="livesum",
)
STREAM_DROPPED_GROUPS = Counter(
    "tracker_stream_dropped_groups_total",
    "Groups dropped from a full publish backlog (the engine takes their fixes from the database)",
)
STREAM_PUBLISHED_FIXES = Counter(
    "tracker_stream_published_fixes_total", "Fixes published to the engine's Redis streams"
)

# --- engine ----------------------------------------------------------------------------------
ENGINE_FIXES = Counter(
    "tracker_engine_fixes_total", "Fixes the engine processed and committed, by shard", ["shard"]
)
ENGINE_CATCHUP_FIXES = Counter(
    "tracker_engine_catchup_fixes_total",
    "Fixes a shard took from the database because the stream never delivered them",
    ["shard"],
)
ENGINE_LAG_SECONDS = Gauge(
    "tracker_engine_lag_seconds",
    "Time from a stream entry's publication to the commit of the batch that processed it, "
    "for a shard's last batch",
    ["shard"],
    multiprocess_mode="max",
)
ENGINE_BEHIND = Gauge(
    "tracker_engine_shard_behind",
    "1 while a shard has settled ingest commits it has not processed (from the database's "
    "commit log), else 0",
    ["shard"],
    multiprocess_mode="max",
)
INCIDENTS_OPENED = Counter(
    "tracker_incidents_opened_total", "Incidents the engine opened, by type", ["type"]
)

# --- JT/T 808 gateway ------------------------------------------------------------------------
GATEWAY_CONNECTIONS = Gauge(
    "tracker_gateway_connections", "Open TCP connections", multiprocess_mode="livesum"
)
GATEWAY_SESSIONS = Gauge(
    "tracker_gateway_sessions",
    "Authenticated terminal sessions",
    multiprocess_mode="livesum",
)
GATEWAY_FRAMES = Counter(
    "tracker_gateway_frames_total",
    "Frames received, by outcome (ok, bad, dropped)",
    ["outcome"],
)
GATEWAY_REGISTRATIONS = Counter(
    "tracker_gateway_registrations_total",
    "Terminal registrations (0x0100), by result (ok, or the refusal: terminal_unknown, "
    "device_mismatch, vehicle_registered, ...)",
    ["result"],
)

# --- live map --------------------------------------------------------------------------------
WS_CLIENTS = Gauge(
    "tracker_live_websocket_clients", "Connected live-map clients", multiprocess_mode="livesum"
)
WS_DROPPED_DELTAS = Counter(
    "tracker_live_dropped_deltas_total",
    "Live-map updates dropped because a client's queue was full, by kind: fixes (the queue "
    "overflowed; the client is sent a fresh snapshot) or events (the oldest event was dropped)",
    ["kind"],
)


def prepare_multiprocess(workers: int) -> str | None:
    """For an API with several workers: a fresh metrics directory in the environment the
    workers inherit (set before they import this module). None with one worker."""
    if workers <= 1:
        return None
    held = os.environ.get(MULTIPROC_ENV)
    if held:
        path = Path(held)
        if path.is_dir():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return held
    path_s = tempfile.mkdtemp(prefix="tracker-metrics-")
    os.environ[MULTIPROC_ENV] = path_s
    return path_s


def exposition() -> tuple[bytes, str]:
    """The text exposition of this process (of all workers in multi-process mode)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


# --- checkpoint sightings (API: tracker.sightings) --------------------------------------------
SIGHTINGS = Counter(
    "tracker_sightings_total",
    "Plate sightings answered, by outcome: stored (new) or duplicate (a repeat, nothing stored)",
    ["outcome"],
)
SIGHTINGS_REFUSED = Counter(
    "tracker_sightings_refused_total",
    "Sightings refused with a 4xx, by reason (invalid, plate, future, past, photo_ref, "
    "checkpoint, batch_too_large); a refused batch stores nothing",
    ["reason"],
)
SIGHTING_INCIDENTS = Counter(
    "tracker_sighting_incidents_total",
    "Incidents raised from sightings, by type",
    ["type"],
)
