"""``tracker simulate --protocol jt808``: the simulated fleet as JT/T 808 terminals over TCP.

Each truck is one terminal connection: it registers (0x0100, by plate), authenticates (0x0102)
and reports each upload as a 0x0200 (one fix) or 0x0704 (several; blind-area when held back),
waiting for the 0x8001 before the next. Terminal phones derive from vehicle ids
(:func:`phone_for`). The gateway must know the terminals: run it with
``TRACKER_JT808__AUTO_REGISTER=true`` (terminals are created for known plates), or seed them
with :func:`register_terminals`. Even vehicles speak the 2013 dialect, odd ones 2019.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from tracker.ingest.jt808.client import TerminalClient
from tracker.ingest.jt808.codec import Message
from tracker.ingest.jt808.errors import Result
from tracker.ingest.jt808.header import Dialect, Version
from tracker.ingest.jt808.location import (
    LOAD_SHIFT,
    STATUS_ACC,
    STATUS_LOCATED,
    BatchKind,
    LoadState,
    LocationBatch,
    LocationReport,
    make_location,
)
from tracker.ingest.jt808.messages import Heartbeat, Logout, RegistrationResult
from tracker.ingest.jt808.repo import ensure_jt808_terminals
from tracker.sim import drive
from tracker.sim.data import DataUnavailableError, default_data_dir
from tracker.sim.sender import Counters, ProgressView, print_summary
from tracker.sim.terminal import FixDict, OutgoingBatch

SIM_MODEL = "SIM-ZT"
STATUS_LIFTED = 1 << 29  # the simulator's model: body lifted (mapped in Jt808Settings.models)
STATUS_COVER_OPEN = 1 << 28
HEARTBEAT_S = 30.0
REPLY_TIMEOUT_S = 20.0
MAX_REPORTS_PER_FRAME = 20  # keeps a 0x0704 under the 1023-byte body limit


def phone_for(vehicle_id: int) -> str:
    """A 12-digit terminal phone without a leading zero (the gateway strips those)."""
    return f"64{vehicle_id:010d}"


def register_terminals(conninfo: str, vehicle_ids: list[int]) -> None:
    """Seed a JT/T 808 terminal (model ``SIM-ZT``) for each vehicle, without auto-register."""
    with psycopg.connect(conninfo) as conn, conn.transaction():
        ensure_jt808_terminals(conn, {v: phone_for(v) for v in vehicle_ids}, SIM_MODEL, reset=True)


def _num(fix: FixDict, key: str) -> float:
    value = fix.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


def fix_to_report(fix: FixDict) -> LocationReport:
    status = STATUS_LOCATED if fix.get("valid", True) else 0
    status |= STATUS_ACC if fix.get("ignition") else 0
    status |= (LoadState.FULL if fix.get("loaded") else LoadState.EMPTY) << LOAD_SHIFT
    status |= STATUS_LIFTED if fix.get("body_lifted") else 0
    status |= STATUS_COVER_OPEN if fix.get("cover_closed") is False else 0
    when = datetime.fromisoformat(str(fix["time"]).replace("Z", "+00:00"))
    satellites = min(round(_num(fix, "satellites")), 255)
    return make_location(
        lon=_num(fix, "lon"),
        lat=_num(fix, "lat"),
        fix_time=when,
        speed_kmh=_num(fix, "speed_kmh"),
        heading_deg=round(_num(fix, "heading_deg")) % 360,
        altitude_m=round(_num(fix, "altitude_m")),
        status_bits=status,
        extras=((0x31, bytes((satellites,))),),
    )


def batch_messages(batch: OutgoingBatch) -> list[Message]:
    reports = [fix_to_report(f) for f in batch.fixes]
    if len(reports) == 1 and not batch.late:
        return [reports[0]]
    kind = BatchKind.BLIND_AREA if batch.late else BatchKind.NORMAL
    return [
        LocationBatch(kind, tuple(reports[i : i + MAX_REPORTS_PER_FRAME]))
        for i in range(0, len(reports), MAX_REPORTS_PER_FRAME)
    ]


class AuthCodes:
    """The codes the simulated terminals were given, kept in a file: the gateway hands a code
    out once (a registered terminal registers again only after an officer's reset), so a
    simulator restarted against the same database must remember them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._codes: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            self._codes = {}

    def get(self, phone: str) -> str | None:
        return self._codes.get(phone)

    def put(self, phone: str, code: str) -> None:
        self._codes[phone] = code
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self._codes))
        except OSError:
            pass  # a simulator without a writable data folder registers again next time


class SimTerminal:
    """One truck's terminal: (re)connects, logs in, reports its uploads in order."""

    def __init__(
        self,
        entry: drive.FleetEntry,
        host: str,
        port: int,
        counters: Counters,
        codes: AuthCodes | None = None,
    ) -> None:
        self.entry, self.host, self.port, self.counters = entry, host, port, counters
        self.phone = phone_for(entry.vehicle_id)
        version = Version.V2019 if entry.vehicle_id % 2 else Version.V2013
        self.dialect = Dialect(version)
        self.codes = codes
        self.auth_code: str | None = codes.get(self.phone) if codes is not None else None

    async def _login(self) -> TerminalClient | None:
        term = await TerminalClient.connect(self.host, self.port, self.phone, self.dialect)
        if self.auth_code is not None:
            if await asyncio.wait_for(term.authenticate(self.auth_code), 10) == Result.OK:
                return term
            self.auth_code = None  # a stale code (another database, or a reset): register
        reply = await asyncio.wait_for(term.register(self.entry.plate, SIM_MODEL), 10)
        if reply.result != RegistrationResult.OK or not reply.auth_code:
            await term.close()
            return None
        self.auth_code = reply.auth_code
        if self.codes is not None:
            self.codes.put(self.phone, reply.auth_code)
        if await asyncio.wait_for(term.authenticate(self.auth_code), 10) != Result.OK:
            self.auth_code = None
            await term.close()
            return None
        return term

    async def run(self, queue: asyncio.Queue[OutgoingBatch | None]) -> None:
        pending: list[Message] = []
        delay_s = 1.0
        while True:
            try:
                term = await self._login()
                if term is None:
                    self.counters.unauthorized += 1
                    while await queue.get() is not None:  # keep the producer unblocked
                        pass
                    return
                delay_s = 1.0
                if await self._report(term, queue, pending):
                    return
            except (OSError, ConnectionError, TimeoutError):
                self.counters.retries += 1
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 30.0)

    async def _report(
        self,
        term: TerminalClient,
        queue: asyncio.Queue[OutgoingBatch | None],
        pending: list[Message],
    ) -> bool:
        """Send until the queue ends (True) or the connection fails (raises)."""
        try:
            while True:
                while pending:
                    await self._send(term, pending[0])
                    pending.pop(0)
                try:
                    batch = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    await asyncio.wait_for(term.request(Heartbeat()), REPLY_TIMEOUT_S)
                    continue
                if batch is None:
                    await asyncio.wait_for(term.request(Logout()), REPLY_TIMEOUT_S)
                    return True
                pending.extend(batch_messages(batch))
        finally:
            await term.close()

    async def _send(self, term: TerminalClient, message: Message) -> None:
        n = len(message.reports) if isinstance(message, LocationBatch) else 1
        counters = self.counters
        counters.requests += 1
        reply = await asyncio.wait_for(term.request(message), REPLY_TIMEOUT_S)
        counters.fixes_sent += n
        if reply.result == Result.OK:
            counters.accepted += n
        else:
            counters.rejected += n


async def simulate(args: argparse.Namespace, entries: list[drive.FleetEntry]) -> Counters:
    host, _, port = args.gateway.rpartition(":")
    live = args.mode == "live"
    offset = drive.JT808_SEED_OFFSET  # routes of their own, not those of trucks 1-10
    if live:
        fleet = await drive.live_start(args, entries, offset)
    else:
        fleet = drive.build_fleet(args, len(entries), args.start, offset)
    counters = Counters(trucks=len(entries))
    deadline = time.monotonic() + args.duration if args.duration > 0 else float("inf")
    queues: list[asyncio.Queue[OutgoingBatch | None]] = [
        asyncio.Queue(maxsize=0 if live else drive.QUEUE_BATCHES) for _ in entries
    ]
    codes = AuthCodes((args.data_dir or default_data_dir()) / "jt808-auth-codes.json")
    terminals = [SimTerminal(e, host or "127.0.0.1", int(port), counters, codes) for e in entries]
    view = ProgressView(counters, f"simulate {args.mode} → JT/T 808 {args.gateway}")
    async with view.shown():
        tasks = [asyncio.create_task(t.run(q)) for t, q in zip(terminals, queues, strict=True)]
        try:
            if live:
                await drive.produce_live(fleet, queues, deadline)
            else:
                end = args.start + timedelta(hours=args.hours)
                await drive.produce_replay(fleet, queues, end, deadline)
        finally:
            for queue in queues:
                await queue.put(None)
            await asyncio.gather(*tasks, return_exceptions=True)
    print_summary(view)
    return counters


def run(args: argparse.Namespace, entries: list[drive.FleetEntry]) -> int:
    try:
        counters = asyncio.run(simulate(args, entries))
    except DataUnavailableError as exc:
        print(f"tracker simulate: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if counters.unauthorized:
        print(
            f"tracker simulate: {counters.unauthorized} terminals were refused; start the gateway "
            "with TRACKER_JT808__AUTO_REGISTER=true or seed them (see this module)",
            file=sys.stderr,
        )
        return 1
    if not counters.fixes_sent:
        print("tracker simulate: nothing got through; is the gateway running?", file=sys.stderr)
        return 1
    return 0
