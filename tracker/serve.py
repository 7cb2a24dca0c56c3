"""``tracker serve``: the API process, the app factory (tracker.app) run by uvicorn.

Its environment defaults (GC tuning, pings compaction) come from tracker.processes; the uvicorn
workers read them in ``create_app``.
"""

from __future__ import annotations

import argparse
import logging
import shutil

import uvicorn

from tracker import metrics


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    # several workers share their metrics through files (set before any worker starts)
    shared = metrics.prepare_multiprocess(args.workers)
    uvicorn.run(
        "tracker.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    if shared is not None:
        shutil.rmtree(shared, ignore_errors=True)
    return 0
