"""``tracker simulate``: drive the demo fleet on Monaco's roads and post its fixes to the API.

live   fix times are now; each truck uploads its buffered fixes as they fall due.
replay ``--start ISO --hours H``: a past time range, posted as fast as the server accepts.

Map data © OpenStreetMap contributors, available under the Open Database Licence (ODbL 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tracker.sim.data import OSM_CREDIT, DataUnavailableError, default_data_dir
from tracker.sim.drive import (
    QUEUE_BATCHES,
    FleetEntry,
    build_fleet,
    live_start,
    load_fleet_file,
    produce_live,
    produce_replay,
)
from tracker.sim.sender import Counters, Poster, ProgressView, print_summary
from tracker.sim.terminal import OutgoingBatch


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("--start needs a UTC offset or Z")
    return parsed.astimezone(UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracker simulate", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--url", default="http://127.0.0.1:8000", help="API base URL")
    add("--fleet", type=Path, default=None, help="fleet JSON from `tracker seed`")
    add("--data-dir", type=Path, default=None, help="where the OSM extract is kept")
    add("--trucks", type=int, default=0, help="use the first N trucks of the fleet (0: all)")
    add("--duration", type=float, default=0.0, help="stop after S seconds of wall time (0: never)")
    add("--seed", type=int, default=1)
    add("--mode", choices=("live", "replay"), default="live")
    add("--start", type=_parse_time, default=None, help="replay: first fix time (ISO 8601)")
    add("--hours", type=float, default=1.0, help="replay: hours of fixes to generate")
    add("--concurrency", type=int, default=16, help="requests in flight at most")
    add("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    add("--max-batch", type=int, default=100, help="merge a truck's queued uploads up to N fixes")
    add("--resume", action=argparse.BooleanOptionalAction, default=False,
        help="live: trucks carry on from their newest stored position")  # fmt: skip
    add("--violators", action="store_true",
        help="live: the first trucks commit scripted violations (dump, deviation, cut terminal, "
        "a haul outside their permit's hours) "
        "within minutes")  # fmt: skip
    add("--protocol", choices=("http", "jt808"), default="http", help="jt808: TCP to --gateway")
    add("--gateway", default="127.0.0.1:6808", help="jt808: the gateway's host:port")
    return parser


async def _worker(
    queue: asyncio.Queue[OutgoingBatch | None], poster: Poster, token: str, max_fixes: int
) -> None:
    """Post one truck's batches in order; queued ones are merged up to ``max_fixes``."""
    done = False
    while not done:
        batch = await queue.get()
        if batch is None:
            return
        fixes = list(batch.fixes)
        while len(fixes) < max_fixes and not queue.empty():
            more = queue.get_nowait()
            if more is None:
                done = True
                break
            fixes.extend(more.fixes)
        await poster.post(token, fixes)


async def simulate(
    args: argparse.Namespace,
    entries: list[FleetEntry],
    transport: httpx.AsyncBaseTransport | None = None,
) -> Counters:
    """Run the simulation described by parsed ``args``; ``transport`` lets tests fake the API."""
    live = args.mode == "live"
    if live:
        fleet = await live_start(args, entries)
        start = fleet.start_time
    else:
        start = args.start
        fleet = build_fleet(args, len(entries), start)
    counters = Counters(trucks=len(entries))
    deadline = time.monotonic() + args.duration if args.duration > 0 else float("inf")
    queues: list[asyncio.Queue[OutgoingBatch | None]] = [
        asyncio.Queue(maxsize=0 if live else QUEUE_BATCHES) for _ in entries
    ]
    view = ProgressView(counters, f"simulate {args.mode} → {args.url}")
    timeout = httpx.Timeout(args.timeout)
    limits = httpx.Limits(max_connections=args.concurrency)
    async with (
        httpx.AsyncClient(
            base_url=args.url, timeout=timeout, limits=limits, transport=transport
        ) as client,
        view.shown(),
    ):
        poster = Poster(client, counters, args.concurrency)
        workers = [
            asyncio.create_task(_worker(q, poster, e.token, args.max_batch))
            for q, e in zip(queues, entries, strict=True)
        ]
        try:
            if live:
                await produce_live(fleet, queues, deadline)
            else:
                end = start + timedelta(hours=args.hours)
                await produce_replay(fleet, queues, end, deadline)
        finally:
            for queue in queues:
                await queue.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
    print_summary(view)
    return counters


def _select(args: argparse.Namespace) -> list[FleetEntry] | str:
    fleet_path = args.fleet or default_data_dir() / "demo-fleet.json"
    try:
        entries = load_fleet_file(fleet_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"cannot read the fleet file ({exc}); run `tracker seed` first"
    if args.trucks > 0:
        entries = entries[: args.trucks]
    if not entries:
        return f"{fleet_path} lists no trucks"
    if args.mode == "replay" and args.start is None:
        return "--mode replay needs --start"
    return entries


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    selected = _select(args)
    if isinstance(selected, str):
        print(f"tracker simulate: {selected}", file=sys.stderr)
        return 1
    print(OSM_CREDIT, flush=True)
    if args.protocol == "jt808":
        from tracker.sim.jt808_terminal import run

        return run(args, selected)
    try:
        counters = asyncio.run(simulate(args, selected))
    except DataUnavailableError as exc:
        print(f"tracker simulate: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if counters.unauthorized:
        print("tracker simulate: some tokens were refused (401)", file=sys.stderr)
        return 1
    if counters.errors and not counters.fixes_sent:
        print("tracker simulate: nothing got through; is the API running?", file=sys.stderr)
        return 1
    return 0
