"""Per-terminal sessions: what a connection's frames mean and how they are answered.

Frames are first decoded (pure, synchronous); the decoded work of one read is then handled in
order. Consecutive location messages go to the ingest pipeline in one call, and their 0x8001s
are written only after the pipeline answered, i.e. after the fixes are committed. A refused fix
(validation, filters) is still answered with result 0: the frame was well-formed and handled,
and a retransmission would be refused again. A storage failure is answered with result 1 so the
terminal keeps the report and sends it again.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from tracker import metrics
from tracker.errors import TrackerError
from tracker.ingest.jt808 import repo
from tracker.ingest.jt808.codec import (
    DECODERS,
    Message,
    decode_message,
    encode_message,
    general_reply,
    registration_reply,
)
from tracker.ingest.jt808.errors import Jt808Error, Result, UnsupportedMessageError
from tracker.ingest.jt808.fixes import SensorMappings, report_to_item
from tracker.ingest.jt808.frame import DecodeOptions, Frame, decode_frame
from tracker.ingest.jt808.location import BatchKind, LocationBatch, LocationReport
from tracker.ingest.jt808.messages import (
    Authentication,
    Heartbeat,
    Logout,
    Registration,
    RegistrationResult,
    RetransmissionRequest,
    TerminalResponse,
)
from tracker.ingest.jt808.sensors import STANDARD, SensorMapping
from tracker.ingest.jt808.subpackets import Reassembler, ReassemblyBudget
from tracker.ingest.quarantine import Origin, RateLimitedLog
from tracker.ingest.service import IngestService
from tracker.ingest.validate import FieldErrors, Verdict
from tracker.settings import Jt808Settings
from tracker.wire import Fix

log = logging.getLogger(__name__)
_FRAMES_OK = metrics.GATEWAY_FRAMES.labels("ok")
_FRAMES_BAD = metrics.GATEWAY_FRAMES.labels("bad")
_FRAMES_DROPPED = metrics.GATEWAY_FRAMES.labels("dropped")

Work = tuple[Frame, Message] | bytes  # a decoded message, or a reply already decided
Location = LocationReport | LocationBatch
_LOCATION_IDS = frozenset({LocationReport.MSG_ID, LocationBatch.MSG_ID})


@dataclass(slots=True)
class GatewayStats:
    connections: int = 0
    frames: int = 0
    dropped_frames: int = 0  # unreadable: no reply possible
    bad_frames: int = 0  # answered with result 2 or 3
    fixes_stored: int = 0
    fixes_duplicate: int = 0
    fixes_rejected: int = 0
    values_dropped: int = 0  # bad optional values dropped from fixes that were kept
    replaced_sessions: int = 0
    idle_closed: int = 0
    registrations: int = 0
    registrations_refused: dict[str, int] = field(default_factory=dict)  # by reason
    lenient_refused: int = 0  # unauthenticated frames for a terminal authenticated elsewhere


@dataclass(slots=True, eq=False)
class Session:
    """One connection's view of its terminal."""

    close: Callable[[], None]
    phone: str | None = None
    terminal: repo.Jt808Terminal | None = None
    authenticated: bool = False
    mapping: SensorMapping = STANDARD
    closing: bool = False  # logged out: close once the reply is written
    serial: int = 0
    reassembler: Reassembler | None = field(default=None, repr=False)

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial


class SessionRegistry:
    """Authenticated sessions by phone: a new connection of a terminal replaces the old."""

    def __init__(self, stats: GatewayStats) -> None:
        self._by_phone: dict[str, Session] = {}
        self._stats = stats

    def __len__(self) -> int:
        return len(self._by_phone)

    def get(self, phone: str) -> Session | None:
        return self._by_phone.get(phone)

    def bind(self, session: Session, phone: str) -> None:
        if session.phone is not None and session.phone != phone:
            self.unbind(session)
        old = self._by_phone.get(phone)
        if old is not None and old is not session:
            self._stats.replaced_sessions += 1
            old.authenticated = False
            old.close()
        session.phone = phone
        self._by_phone[phone] = session
        metrics.GATEWAY_SESSIONS.set(len(self._by_phone))

    def unbind(self, session: Session) -> None:
        if session.phone is not None and self._by_phone.get(session.phone) is session:
            del self._by_phone[session.phone]
            metrics.GATEWAY_SESSIONS.set(len(self._by_phone))


class SessionHandler:
    """Decodes and answers frames for every session of a gateway."""

    def __init__(
        self,
        settings: Jt808Settings,
        pool: AsyncConnectionPool,
        ingest: IngestService,
        registry: SessionRegistry,
        stats: GatewayStats,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.ingest = ingest
        self.registry = registry
        self.stats = stats
        self.options = DecodeOptions(verify_checksum=settings.strict_checksum)
        self.mappings = SensorMappings(settings.models)
        self.utc_offset = timedelta(hours=settings.utc_offset_h)
        self.refusal_log = RateLimitedLog(log)
        self.reassembly = ReassemblyBudget(
            settings.subpacket_total_messages, settings.subpacket_total_bytes
        )  # shared by every connection's reassembler
        self.heard: dict[int, int] = {}  # vehicle id -> epoch µs of its latest heartbeat

    # -- decoding (pure) ---------------------------------------------------------------------

    def decode(self, session: Session, content: bytes, now: float) -> list[Work]:
        """One frame's content to work items; errors become replies or are dropped."""
        self.stats.frames += 1
        try:
            frame = decode_frame(content, self.options)
            if frame.header.is_subpacket:
                work = self._subpacket(session, frame, now)
            else:
                work = [(frame, decode_message(frame))]
            _FRAMES_OK.inc()
            return work
        except Jt808Error as err:
            if err.should_reply and err.header is not None and err.reply_result is not None:
                self.stats.bad_frames += 1
                _FRAMES_BAD.inc()
                return [general_reply(err.header, err.reply_result, serial=session.next_serial())]
            self.stats.dropped_frames += 1
            _FRAMES_DROPPED.inc()
            log.debug("dropped a frame: %s", err.message)
            return []

    def _subpacket(self, session: Session, frame: Frame, now: float) -> list[Work]:
        """Hold a packet until its message is whole (docs/JT808.md §4.3). A packet's 0x8001
        acknowledges the packet, not the fixes in it: those are answered by the reply to the
        completing packet, after they are stored. Only messages the platform handles are held,
        and location messages only from a terminal that may report."""
        header = frame.header
        if header.msg_id not in DECODERS:
            raise UnsupportedMessageError(f"message {header.msg_id:#06x}", header=header)
        if (
            header.msg_id in _LOCATION_IDS
            and self.settings.require_auth
            and not (session.authenticated and session.phone == header.phone)
        ):
            return [general_reply(header, Result.FAILURE, serial=session.next_serial())]
        if session.reassembler is None:
            cfg = self.settings
            session.reassembler = Reassembler(
                self.reassembly,
                max_messages=cfg.subpacket_max_messages,
                max_bytes=cfg.subpacket_max_bytes,
                max_age_s=cfg.subpacket_max_age_s,
                retransmit_after_s=cfg.subpacket_retransmit_after_s,
            )
        whole = session.reassembler.add(frame, now)
        if whole is None:
            return [general_reply(header, Result.OK, serial=session.next_serial())]
        whole = replace(whole, header=replace(whole.header, serial=header.serial))
        return [(whole, decode_message(whole))]

    def retransmission_requests(self, session: Session, now: float) -> list[bytes]:
        """0x8003s for the session's messages whose packets stopped coming (the gateway's
        sweeper calls this); a message that never completes expires, counted."""
        reassembler = session.reassembler
        if reassembler is None or not len(reassembler):
            return []
        expired = reassembler.budget.expired
        due = reassembler.due_requests(now)
        if reassembler.budget.expired > expired:
            self.refusal_log.warning(
                "terminal %s: %d incomplete messages expired",
                session.phone, reassembler.budget.expired - expired,
            )  # fmt: skip
        return [
            encode_message(
                RetransmissionRequest(d.first_serial, d.missing),
                phone=d.header.phone_raw,
                serial=session.next_serial(),
                dialect=d.header.dialect,
            )
            for d in due
        ]

    # -- handling ----------------------------------------------------------------------------

    async def handle(self, session: Session, work: list[Work]) -> list[bytes]:
        """Replies for ``work``, in order; location runs are stored in one pipeline call."""
        replies: list[bytes] = []
        i = 0
        while i < len(work):
            item = work[i]
            if isinstance(item, bytes):
                replies.append(item)
                i += 1
                continue
            if isinstance(item[1], LocationReport | LocationBatch):
                j = i
                while j < len(work) and _is_location(work[j]):
                    j += 1
                replies.extend(await self._locations(session, work[i:j]))  # type: ignore[arg-type]
                i = j
                continue
            reply = await self._session_message(session, item[0], item[1])
            if reply is not None:
                replies.append(reply)
            i += 1
        return replies

    async def _session_message(self, session: Session, frame: Frame, msg: Message) -> bytes | None:
        header = frame.header
        if isinstance(msg, TerminalResponse):
            return None  # acknowledges one of our commands; nothing to answer
        if isinstance(msg, Registration):
            return await self._register(session, frame, msg)
        if isinstance(msg, Authentication):
            ok = await self._authenticate(session, frame, msg)
            result = Result.OK if ok else Result.FAILURE
            return general_reply(header, result, serial=session.next_serial())
        if isinstance(msg, Logout):
            self.registry.unbind(session)
            session.authenticated = False
            session.closing = True
            return general_reply(header, Result.OK, serial=session.next_serial())
        if isinstance(msg, Heartbeat):
            self._heard(session)
            return general_reply(header, Result.OK, serial=session.next_serial())
        self.stats.bad_frames += 1  # a platform message sent to the platform
        return general_reply(header, Result.UNSUPPORTED, serial=session.next_serial())

    def _heard(self, session: Session) -> None:
        """A heartbeat from a terminal that may report: it is connected. Noted for the engine
        (``HEARD_KEY``, written by the gateway's sweep): heard while no positions come, it
        holds them back (a blind area) and is not cut."""
        terminal = session.terminal
        if terminal is None or terminal.vehicle_id is None or not terminal.may_report:
            return
        if session.authenticated or not self.settings.require_auth:
            self.heard[terminal.vehicle_id] = int(time.time() * 1_000_000)

    async def _register(self, session: Session, frame: Frame, msg: Registration) -> bytes:
        """0x0100 → 0x8100. A code is handed out once, to the device the terminal is registered
        as (terminal id, and plate where the city binds them); a bound terminal registers again
        only after an officer's reset (docs/JT808.md §5)."""
        header, phone = frame.header, frame.header.phone
        code = secrets.token_hex(8)
        async with self.pool.connection() as conn:
            terminal = await repo.terminal_by_phone(conn, phone)
            if terminal is None:
                if not self.settings.auto_register:
                    return self._refuse_registration(session, frame, "terminal_unknown")
                auto = await repo.auto_register(
                    conn, phone, msg.plate, msg.model or None, msg.terminal_id, code,
                    self.settings.auto_register_max_terminals,
                )  # fmt: skip
                if auto.refusal is not None:
                    return self._refuse_registration(session, frame, auto.refusal)
                log.info("terminal %s auto-registered", phone)
                self.stats.registrations += 1
                metrics.GATEWAY_REGISTRATIONS.labels("ok").inc()
                return registration_reply(
                    header, RegistrationResult.OK, code, serial=session.next_serial()
                )
            refusal = self._registration_refusal(terminal, msg)
            if refusal is None and terminal.auth_code is not None:
                refusal = "terminal_registered"
            if refusal is None:
                async with conn.transaction():
                    if not await repo.issue_auth_code(
                        conn, terminal.terminal_id, msg.terminal_id, code
                    ):
                        refusal = "terminal_registered"
            if refusal is not None:
                if refusal == "vehicle_mismatch":
                    other = await repo.vehicle_by_plate(conn, msg.plate)
                    refusal = "vehicle_unknown" if other is None else "vehicle_registered"
                return self._refuse_registration(session, frame, refusal)
        log.info("terminal %s registered", phone)
        self.stats.registrations += 1
        metrics.GATEWAY_REGISTRATIONS.labels("ok").inc()
        return registration_reply(header, RegistrationResult.OK, code, serial=session.next_serial())

    def _registration_refusal(self, terminal: repo.Jt808Terminal, msg: Registration) -> str | None:
        if not terminal.active:
            return "terminal_unknown"
        if terminal.device_id is not None and terminal.device_id != msg.terminal_id:
            return "device_mismatch"
        if self.settings.registration_binds_plate and not repo.same_plate(
            terminal.plate, msg.plate
        ):
            return "vehicle_mismatch"
        return None

    def _refuse_registration(self, session: Session, frame: Frame, why: str) -> bytes:
        result = _REGISTRATION_REFUSALS[why]
        self.stats.registrations_refused[why] = self.stats.registrations_refused.get(why, 0) + 1
        metrics.GATEWAY_REGISTRATIONS.labels(why).inc()
        self.refusal_log.warning(
            "registration of terminal %s refused (%s, result %d)", frame.header.phone, why, result
        )
        return registration_reply(frame.header, result, serial=session.next_serial())

    async def _authenticate(self, session: Session, frame: Frame, msg: Authentication) -> bool:
        phone = frame.header.phone
        async with self.pool.connection() as conn:
            terminal = await repo.terminal_by_phone(conn, phone)
        ok = (
            terminal is not None
            and terminal.active
            and terminal.auth_code is not None
            and hmac.compare_digest(terminal.auth_code.encode(), msg.auth_code.encode())
        )
        if not ok or terminal is None:
            log.info("terminal %s failed authentication", phone)
            if session.phone == phone:
                session.authenticated = False
            return False
        self._attach(session, terminal, phone)
        session.authenticated = True
        return True

    def _attach(self, session: Session, terminal: repo.Jt808Terminal, phone: str) -> None:
        session.terminal = terminal
        session.mapping = self.mappings.for_model(terminal.model)
        self.registry.bind(session, phone)

    async def _reporter(self, session: Session, phone: str) -> repo.Jt808Terminal | None:
        """The terminal whose fixes this session may report for ``phone``, or ``None``."""
        held = session.terminal if session.phone == phone else None
        if held is not None and (session.authenticated or not self.settings.require_auth):
            return held if held.may_report else None
        if self.settings.require_auth:
            return None
        holder = self.registry.get(phone)
        if holder is not None and holder is not session and holder.authenticated:
            # lenient mode never lets an unauthenticated frame evict an authenticated terminal
            self.stats.lenient_refused += 1
            self.refusal_log.warning(
                "unauthenticated frames for terminal %s, authenticated on another connection", phone
            )
            return None
        async with self.pool.connection() as conn:  # lenient mode: locations before 0x0102
            terminal = await repo.terminal_by_phone(conn, phone)
        if terminal is None:
            return None
        self._attach(session, terminal, phone)
        return terminal if terminal.may_report else None

    async def _locations(
        self, session: Session, group: list[tuple[Frame, Location]]
    ) -> list[bytes]:
        """Store a run of location messages in one pipeline call, then answer each message:
        0 when any of its fixes was stored (or already was), 2 "message error" when every fix
        was refused (kept in the quarantine; a resend would be refused again), 1 when storage
        failed or the terminal may not report (docs/JT808.md §5)."""
        received_at = datetime.now(UTC)
        items: list[Fix | FieldErrors] = []
        origins: list[Origin | None] = []
        raws: list[object] = []
        spans: list[tuple[int, int] | None] = []  # per message: its items, or None (refused)
        for frame, msg in group:
            terminal = await self._reporter(session, frame.header.phone)
            if terminal is None:
                spans.append(None)
                continue
            origin = Origin("jt808", terminal.terminal_id, terminal.vehicle_id)
            reports = msg.reports if isinstance(msg, LocationBatch) else (msg,)
            if isinstance(msg, LocationBatch) and msg.skipped:
                self._quarantine_short_items(msg.skipped, origin, received_at)
            start = len(items)
            blind = isinstance(msg, LocationBatch) and msg.kind == BatchKind.BLIND_AREA
            for r in reports:
                verdict = self._item(r, terminal, received_at, session.mapping)
                if blind and isinstance(verdict.item, Fix):
                    # 盲区补报: the terminal held these back; the engine reads the mark
                    verdict.item.blind_area = True
                items.append(verdict.item)
                origins.append(origin)
                raws.append(r)
                if verdict.dropped:
                    self.stats.values_dropped += len(verdict.dropped)
                    log.debug("terminal %s: dropped %s", frame.header.phone, verdict.dropped)
            spans.append((start, len(items)))
        statuses = await self._store(items, origins, raws)
        replies = []
        for (frame, msg), span in zip(group, spans, strict=True):
            if span is None or statuses is None:
                result = Result.FAILURE
            elif all(statuses[k] == "rejected" for k in range(span[0], span[1])) and (
                span[0] < span[1] or _skipped(msg) > 0
            ):
                result = Result.BAD_MESSAGE
            else:
                result = Result.OK
            replies.append(general_reply(frame.header, result, serial=session.next_serial()))
        return replies

    def _quarantine_short_items(self, n: int, origin: Origin, received_at: datetime) -> None:
        """0x0704 items too short for a location block: refused, kept in the quarantine."""
        quarantine = self.ingest.quarantine
        if quarantine is None:
            return
        for _ in range(n):
            quarantine.refuse(
                reason="short_item", field_name="item", message="batch item shorter than the "
                "28-byte basic location block", protocol="jt808",
                terminal_id=origin.terminal_id, vehicle_id=origin.vehicle_id,
                received_at=received_at, fix_time=None, raw=None,
            )  # fmt: skip

    def _item(
        self,
        report: LocationReport,
        terminal: repo.Jt808Terminal,
        received_at: datetime,
        mapping: SensorMapping,
    ) -> Verdict:
        assert terminal.vehicle_id is not None
        return report_to_item(report, vehicle_id=terminal.vehicle_id,
                              terminal_id=terminal.terminal_id, received_at=received_at,
                              mapping=mapping, utc_offset=self.utc_offset)  # fmt: skip

    async def _store(
        self, items: list[Fix | FieldErrors], origins: list[Origin | None], raws: list[object]
    ) -> list[str] | None:
        """Each item's status (stored, duplicate, rejected), or ``None`` if storage failed."""
        if not items:
            return []
        try:
            outcome = await self.ingest.ingest(items, origins, _LazyRaw(raws))
        except TrackerError as exc:  # storage unavailable: nothing was acknowledged
            log.warning("could not store %d fixes: %s", len(items), exc.message)
            return None
        self.stats.fixes_stored += outcome.accepted
        self.stats.fixes_duplicate += outcome.duplicates
        self.stats.fixes_rejected += outcome.rejected
        return [r["status"] for r in outcome.results]


class _LazyRaw(Sequence[object]):
    """Reports turned into a quarantine sample only when one is refused."""

    def __init__(self, reports: list[object]) -> None:
        self._reports = reports

    def __len__(self) -> int:
        return len(self._reports)

    def __getitem__(self, i: int) -> object:  # type: ignore[override]
        r = self._reports[i]
        if not isinstance(r, LocationReport):
            return r
        return {
            "time": r.time_bcd.hex(),
            "lon": r.lon,
            "lat": r.lat,
            "alarm_bits": r.alarm_bits,
            "status_bits": r.status_bits,
            "speed_kmh": r.speed_kmh,
            "heading_deg": r.heading_deg,
            "altitude_m": r.altitude_m,
        }


# why a registration was refused → the 0x8100 result the terminal gets
_REGISTRATION_REFUSALS = {
    "terminal_unknown": RegistrationResult.TERMINAL_UNKNOWN,  # no such phone, or inactive
    "device_mismatch": RegistrationResult.TERMINAL_UNKNOWN,  # not the device registered
    "terminal_registered": RegistrationResult.TERMINAL_ALREADY_REGISTERED,  # reset needed
    "terminal_exists": RegistrationResult.TERMINAL_ALREADY_REGISTERED,
    "vehicle_unknown": RegistrationResult.VEHICLE_UNKNOWN,
    "vehicle_registered": RegistrationResult.VEHICLE_ALREADY_REGISTERED,  # another vehicle's
    "vehicle_full": RegistrationResult.VEHICLE_ALREADY_REGISTERED,  # auto-register limit
}


def _skipped(msg: Location) -> int:
    return msg.skipped if isinstance(msg, LocationBatch) else 0


def _is_location(item: Work) -> bool:
    return not isinstance(item, bytes) and isinstance(item[1], LocationReport | LocationBatch)
