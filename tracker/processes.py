"""The platform's processes: one entry each, and what runs in which.

==============  =======================  ===================================================
process         entry (``tracker …``)    what runs in it
==============  =======================  ===================================================
api             ``serve``:               migrations on start (``migrate_on_start``); the
                tracker.serve →          HTTP API's routers; the ingest pipeline
                tracker.app:create_app   (tracker.pipeline); the live listener (Redis
                                         pub/sub and streams → WebSocket clients); the
                                         maintenance tasks while ``maintenance_in_api``
                                         (default true)
gateway         ``gateway``:             the JT/T 808 TCP server and its ingest pipeline;
                tracker.ingest.jt808     waits for the schema; no migrations, no periodic
                .gateway                 tasks, no live listener
engine          ``engine``:              the enforcement engine for its shards: fix streams
                tracker.trips.worker     → trips, incidents, vehicle states; registry and
                .run                     fence refresh
maintenance     ``maintenance``:         the periodic tasks of tracker.maintenance (permit
                tracker.maintenance      expiry, yard capacity, blacklist expiry, pings
                                         compaction, KPI rollup); waits for the schema
deliverer       ``deliver``:             the outbox deliverer: fan-out, deliveries with
                tracker.outbox           retries and dead letters (several may run at once)
                .deliverer
==============  =======================  ===================================================

The other ``tracker`` commands (migrate, seed, simulate, user, import, capacity, bench) are tools
that run once and exit. ``env_defaults`` are applied (unless already set) before the entry runs:
the API and the maintenance process compact pings every 900 s, the long-running servers tune
the garbage collector (tracker.runtime).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Process:
    name: str
    command: str  # `tracker COMMAND`
    entry: str  # a module with ``main(argv) -> int``
    help: str
    env_defaults: Mapping[str, str] = field(default_factory=dict)


PROCESSES: tuple[Process, ...] = (
    Process(
        "api",
        "serve",
        "tracker.serve",
        "run the HTTP API (and, by default, the maintenance tasks)",
        {"TRACKER_TUNE_GC": "true", "TRACKER_COMPACTION_INTERVAL_S": "900"},
    ),
    Process(
        "gateway",
        "gateway",
        "tracker.ingest.jt808.gateway",
        "run the JT/T 808 TCP gateway",
        {"TRACKER_TUNE_GC": "true"},
    ),
    Process(
        "engine",
        "engine",
        "tracker.trips.worker.run",
        "run an enforcement engine worker (--shards 0-7)",
    ),
    Process(
        "maintenance",
        "maintenance",
        "tracker.maintenance",
        "run the periodic maintenance tasks (--once: each round once)",
        {"TRACKER_COMPACTION_INTERVAL_S": "900"},
    ),
    Process(
        "deliverer",
        "deliver",
        "tracker.outbox.deliverer",
        "run an outbox deliverer: events to their subscribers (several may run)",
    ),
)
BY_COMMAND: dict[str, Process] = {p.command: p for p in PROCESSES}


def run(process: Process, argv: Sequence[str]) -> int:
    """Run a process's entry in this interpreter, its environment defaults applied first."""
    for key, value in process.env_defaults.items():
        os.environ.setdefault(key, value)
    module = importlib.import_module(process.entry)
    result: int = module.main(list(argv))
    return result
