"""The quarantine: every fix the pipeline refuses is kept with its reason, never lost silently.

A fix refused by the one validator (tracker.ingest.validate), by a noise filter
(tracker.ingest.filters), or stored already for the same second with another position (a
``conflicting_duplicate``) is handed to the process's :class:`QuarantineRecorder` by the ingest
service, whichever protocol it came by. The recorder counts it at once (``refused`` per reason,
process counters), aggregates it in memory per terminal, day of receipt, reason and field, and a
background task writes the aggregates in one batch per interval into ``ingest_quarantine``
(adding the counts; the newest :data:`SAMPLES` refused values kept per row). Nothing here is on
the ingest's path: recording is a dict update, the memory is bounded (:data:`MAX_PENDING` keys;
beyond it refusals are counted in ``overflow`` only), and a failed write is logged and retried
with the next batch, never failing or slowing an ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from psycopg_pool import AsyncConnectionPool

from tracker import metrics
from tracker.wire import Fix

log = logging.getLogger(__name__)

SAMPLES = 5  # newest refused values kept per aggregate row
MAX_PENDING = 10_000  # aggregates waiting for the next write
MAX_DUPLICATES = 10_000  # duplicates waiting to be compared with the stored fix
SAMPLE_KEYS = 24  # keys of a raw value kept in a sample
SAMPLE_TEXT = 120  # characters of one raw value kept in a sample
RETENTION_DAYS = 90
# validator fields → reason code; a field not named here is ``invalid_other``
_VALIDATOR_REASONS = {
    "time": "invalid_time",
    "lon": "invalid_position",
    "lat": "invalid_position",
    "valid": "invalid_validity",
    "hdop": "invalid_hdop",
}
# every reason code (docs/JT808.md §5, README "Quarantine")
REASONS = (
    "invalid_time", "invalid_position", "invalid_validity", "invalid_hdop", "invalid_other",
    "zero", "future", "past", "invalid", "accuracy", "jump", "conflicting_duplicate",
    "short_item",
)  # fmt: skip


class RateLimitedLog:
    """At most ``burst`` warnings per ``window_s``; the suppressed ones are counted and named
    in the next line that gets through."""

    def __init__(self, logger: logging.Logger, burst: int = 20, window_s: float = 60.0) -> None:
        self._log, self._burst, self._window_s = logger, burst, window_s
        self._window_start = 0.0
        self._emitted = 0
        self.suppressed = 0

    def warning(self, msg: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._window_start >= self._window_s:
            self._window_start, self._emitted = now, 0
        if self._emitted >= self._burst:
            self.suppressed += 1
            return
        self._emitted += 1
        if self.suppressed:
            msg = f"{msg} ({self.suppressed} similar lines suppressed)"
            self.suppressed = 0
        self._log.warning(msg, *args)


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent a batch of fix candidates (a refused candidate carries no fix to tell it)."""

    protocol: str  # "http" | "jt808"
    terminal_id: int
    vehicle_id: int | None


@dataclass(slots=True)
class _Aggregate:
    vehicle_id: int | None
    refused: int
    first: datetime
    last: datetime
    samples: list[dict[str, Any]] = field(default_factory=list)


_Key = tuple[int, date, str, str, str]  # terminal, day, reason, field, protocol


def bounded(raw: object) -> object:
    """A raw value cut to a bounded size: at most :data:`SAMPLE_KEYS` keys, scalars as they are
    (text cut to :data:`SAMPLE_TEXT` characters), anything nested as cut JSON text."""
    if isinstance(raw, Mapping):
        return {str(k)[:SAMPLE_TEXT]: bounded(v) for k, v in list(raw.items())[:SAMPLE_KEYS]}
    if raw is None or isinstance(raw, bool | int | float):
        return raw
    if isinstance(raw, datetime):
        return raw.isoformat()
    if isinstance(raw, str):
        return raw[:SAMPLE_TEXT]
    if isinstance(raw, bytes):
        return raw.hex()[:SAMPLE_TEXT]
    try:
        text = orjson.dumps(raw, default=str).decode()
    except TypeError:
        text = repr(raw)
    return text[:SAMPLE_TEXT]


def fix_values(fix: Fix) -> dict[str, object]:
    """The values of a refused or conflicting fix worth showing an officer."""
    return {
        "fix_time": fix.fix_time.isoformat(),
        "lon": fix.lon,
        "lat": fix.lat,
        "speed_kmh": fix.speed_kmh,
        "valid": fix.valid,
        "hdop": fix.hdop,
    }


@dataclass(slots=True)
class QuarantineStats:
    refused: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    quarantined: int = 0  # refusals written to the database
    overflow: int = 0  # refusals counted but not kept: the pending aggregates were full
    duplicates_unchecked: int = 0  # duplicates not compared: their queue was full
    write_failures: int = 0


class QuarantineRecorder:
    """Counts refusals now; writes them in batches off the ingest's path (see the module)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        interval_s: float = 1.0,
        retention_days: int = RETENTION_DAYS,
    ) -> None:
        self._pool = pool
        self._interval_s = interval_s
        self._retention_days = retention_days
        self._pending: dict[_Key, _Aggregate] = {}
        self._duplicates: list[Fix] = []
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._log = RateLimitedLog(log)
        self.stats = QuarantineStats()

    # -- recording (synchronous, cheap) ------------------------------------------------------

    def refuse(
        self,
        *,
        reason: str,
        field_name: str,
        message: str,
        protocol: str,
        terminal_id: int,
        vehicle_id: int | None,
        received_at: datetime,
        fix_time: object,
        raw: object,
    ) -> None:
        """Count one refused fix and hold it for the next write."""
        if reason not in self.stats.refused:
            reason = "invalid_other"
        self.stats.refused[reason] += 1
        metrics.INGEST_REFUSED.labels(protocol, reason).inc()
        self._log.warning(
            "refused a fix of terminal %s (%s, %s: %s)", terminal_id, reason, field_name, message
        )
        key = (terminal_id, received_at.astimezone(UTC).date(), reason, field_name, protocol)
        agg = self._pending.get(key)
        if agg is None:
            if len(self._pending) >= MAX_PENDING:
                self.stats.overflow += 1
                metrics.QUARANTINE_LOST.labels("overflow").inc()
                return
            agg = self._pending[key] = _Aggregate(vehicle_id, 0, received_at, received_at)
        agg.refused += 1
        agg.first, agg.last = min(agg.first, received_at), max(agg.last, received_at)
        agg.samples.append(
            {
                "received_at": received_at.isoformat(),
                "fix_time": bounded(fix_time),
                "message": message[:SAMPLE_TEXT],
                "raw": bounded(raw),
            }
        )
        del agg.samples[:-SAMPLES]

    def refuse_validation(
        self, errors: Sequence[Mapping[str, str]], origin: Origin, received_at: datetime, raw: Any
    ) -> None:
        """A candidate the validator refused: its first (essential) error names the reason."""
        first = errors[0] if errors else {"field": "fix", "message": "refused"}
        name = str(first.get("field", "fix"))
        fix_time = raw.get("time", raw.get("fix_time")) if isinstance(raw, Mapping) else None
        self.refuse(
            reason=_VALIDATOR_REASONS.get(name, "invalid_other"),
            field_name=name[:40],
            message=str(first.get("message", "")),
            protocol=origin.protocol,
            terminal_id=origin.terminal_id,
            vehicle_id=origin.vehicle_id,
            received_at=received_at,
            fix_time=fix_time,
            raw=raw,
        )

    def refuse_fix(self, fix: Fix, reason: str, field_name: str, message: str) -> None:
        """A fix a noise filter refused."""
        self.refuse(
            reason=reason, field_name=field_name, message=message, protocol=fix.source,
            terminal_id=fix.terminal_id, vehicle_id=fix.vehicle_id,
            received_at=fix.received_at, fix_time=fix.fix_time, raw=fix_values(fix),
        )  # fmt: skip

    def check_duplicates(self, fixes: Sequence[Fix]) -> None:
        """Fixes answered ``duplicate``: compared with the stored fix of their second at the next
        write; another position is quarantined as ``conflicting_duplicate``."""
        room = MAX_DUPLICATES - len(self._duplicates)
        if room < len(fixes):
            self.stats.duplicates_unchecked += len(fixes) - max(room, 0)
        self._duplicates.extend(fixes[: max(room, 0)])

    # -- writing (background) ----------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="quarantine-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 5.0)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.flush()
            except Exception as exc:  # the database is away: keep the aggregates, try again
                self.stats.write_failures += 1
                self._log.warning("quarantine write failed (%s); retrying", exc)

    async def flush(self) -> None:
        """Compare waiting duplicates, then write every pending aggregate in one transaction."""
        duplicates, self._duplicates = self._duplicates, []
        if duplicates:
            try:
                await self._compare(duplicates)
            except Exception:
                self._duplicates = duplicates[: MAX_DUPLICATES - len(self._duplicates)]
                raise
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            await self._write(pending)
        except Exception:
            self._merge_back(pending)
            raise
        written = sum(a.refused for a in pending.values())
        self.stats.quarantined += written
        metrics.QUARANTINE_WRITTEN.inc(written)

    async def _compare(self, fixes: list[Fix]) -> None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT p.vehicle_id, p.fix_time, p.lon, p.lat
                     FROM unnest(%s::bigint[], %s::timestamptz[]) AS k(vehicle_id, fix_time)
                     JOIN pings p USING (vehicle_id, fix_time)""",
                ([f.vehicle_id for f in fixes], [f.fix_time for f in fixes]),
            )
            stored = {(int(v), t): (lon, lat) for v, t, lon, lat in await cur.fetchall()}
        for fix in fixes:
            held = stored.get((fix.vehicle_id, fix.fix_time))
            if held is None or _same_position(held, (fix.lon, fix.lat)):
                continue
            message = f"another position is stored for this second ({held[0]:.6f}, {held[1]:.6f})"
            self.refuse_fix(fix, "conflicting_duplicate", "time", message)

    async def _write(self, pending: dict[_Key, _Aggregate]) -> None:
        rows = [
            (k[0], k[1], k[2], k[3], k[4], a.vehicle_id, a.refused, a.first, a.last,
             orjson.dumps(a.samples[::-1]).decode())
            for k, a in pending.items()
        ]  # fmt: skip
        async with self._pool.connection() as conn, conn.transaction():
            async with conn.cursor() as cur:
                await cur.executemany(
                    """INSERT INTO ingest_quarantine AS q (terminal_id, day, reason, field,
                              protocol, vehicle_id, refused, first_received_at, last_received_at,
                              samples)
                       SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb
                        WHERE EXISTS (SELECT 1 FROM terminals WHERE id = %s)
                       ON CONFLICT (terminal_id, day, reason, field, protocol) DO UPDATE SET
                          vehicle_id = COALESCE(EXCLUDED.vehicle_id, q.vehicle_id),
                          refused = q.refused + EXCLUDED.refused,
                          first_received_at = LEAST(q.first_received_at,
                                                    EXCLUDED.first_received_at),
                          last_received_at = GREATEST(q.last_received_at,
                                                      EXCLUDED.last_received_at),
                          samples = (SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb)
                                       FROM jsonb_array_elements(EXCLUDED.samples || q.samples)
                                            WITH ORDINALITY AS s(e, n)
                                      WHERE n <= %s)""",
                    [(*row, row[0], SAMPLES) for row in rows],
                )
            now = time.monotonic()
            if now - self._last_prune > 3600:
                self._last_prune = now
                await conn.execute(
                    "DELETE FROM ingest_quarantine WHERE day < current_date - %s::int",
                    (self._retention_days,),
                )

    def _merge_back(self, pending: dict[_Key, _Aggregate]) -> None:
        for key, agg in pending.items():
            held = self._pending.get(key)
            if held is None:
                if len(self._pending) >= MAX_PENDING:
                    self.stats.overflow += agg.refused
                    metrics.QUARANTINE_LOST.labels("overflow").inc(agg.refused)
                    continue
                self._pending[key] = agg
                continue
            held.refused += agg.refused
            held.first, held.last = min(held.first, agg.first), max(held.last, agg.last)
            held.samples[:0] = agg.samples
            del held.samples[:-SAMPLES]


def _same_position(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Equal to the precision JT/T 808 carries (10⁻⁶ degree)."""
    return abs(a[0] - b[0]) < 5e-7 and abs(a[1] - b[1]) < 5e-7
