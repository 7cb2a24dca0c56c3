"""Process tuning shared by the long-running servers (API workers, JT/T 808 gateway)."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Keep full collections rare once a server has started.

    A server's heap holds many long-lived objects (sessions, caches, the geofence index); with
    CPython's default thresholds the full collections over them gave 0.2-0.9 s pauses every few
    seconds in the gateway, which is the p99 of acknowledgements. Objects alive after start-up
    are frozen out of collections altogether, and young collections run less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(2000, 20, 1000)
