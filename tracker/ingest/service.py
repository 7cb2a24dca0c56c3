"""The filter-and-store stage of the ingest pipeline every front end (HTTP, JT/T 808) goes through.

decode (front end) → validate (one rule set, tracker.ingest.validate) → filter → group-commit
store → answer per fix. Stored fixes then go to the
stream publisher, and back here to :meth:`IngestService.remember` (the writer's post-commit hook,
wired once in tracker.pipeline).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tracker import metrics
from tracker.ingest.filters import Refusal, apply_filters
from tracker.ingest.quarantine import Origin, QuarantineRecorder
from tracker.ingest.validate import FieldErrors
from tracker.ingest.writer import GroupCommitWriter, Refused
from tracker.settings import FilterSettings
from tracker.wire import Fix

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestOutcome:
    results: list[dict[str, Any]] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0

    def body(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "results": self.results,
        }


class IngestService:
    def __init__(
        self, writer: GroupCommitWriter, filters: FilterSettings, protocol: str = "http"
    ) -> None:
        self._writer = writer
        self._filters = filters
        self.protocol = protocol  # "http" | "jt808": the label of this process's metrics
        self._counted = {
            outcome: metrics.INGEST_FIXES.labels(protocol, outcome)
            for outcome in ("stored", "duplicate", "refused")
        }
        # newest stored, unflagged fix per vehicle in this process: the jump filter's reference
        self.last_fix: dict[int, Fix] = {}
        self.quarantine: QuarantineRecorder | None = None  # set by tracker.pipeline

    def remember(self, stored: list[Fix]) -> None:
        for fix in stored:
            if fix.flags:
                continue
            held = self.last_fix.get(fix.vehicle_id)
            if held is None or held.fix_time < fix.fix_time:
                self.last_fix[fix.vehicle_id] = fix

    async def ingest(
        self,
        items: list[Fix | FieldErrors],
        origin: Origin | Sequence[Origin | None] | None = None,
        raw: Sequence[object] | None = None,
    ) -> IngestOutcome:
        """Store the valid items; answer every item in input order. Refused items go to the
        quarantine: ``origin`` (one sender, or one per item) and ``raw`` (the values as sent,
        per item) tell whose and what a refused candidate was."""
        outcome = IngestOutcome()
        statuses: list[str] = ["rejected"] * len(items)
        details: dict[int, dict[str, Any]] = {}
        candidates = [(i, item) for i, item in enumerate(items) if isinstance(item, Fix)]
        for i, item in enumerate(items):
            if not isinstance(item, Fix):
                details[i] = {"errors": item}
        filtered: dict[int, Refusal] = {}
        refusals = apply_filters([f for _, f in candidates], self._filters, self.last_fix)
        to_store: list[tuple[int, Fix]] = []
        for (i, fix), refusal in zip(candidates, refusals, strict=True):
            if refusal is None:
                to_store.append((i, fix))
            else:
                details[i] = {"errors": [{"field": refusal.field, "message": refusal.message}]}
                filtered[i] = refusal
        marks = await self._writer.write([f for _, f in to_store])
        for (i, fix), mark in zip(to_store, marks, strict=True):
            if isinstance(mark, Refused):  # the database refused it; its group was stored
                details[i] = {"errors": [{"field": mark.field, "message": mark.message}]}
                continue
            statuses[i] = "stored" if mark else "duplicate"
            if fix.flags:
                details[i] = {"flags": fix.flags}
        outcome.accepted = statuses.count("stored")
        outcome.duplicates = statuses.count("duplicate")
        outcome.rejected = len(items) - outcome.accepted - outcome.duplicates
        self._counted["stored"].inc(outcome.accepted)
        self._counted["duplicate"].inc(outcome.duplicates)
        self._counted["refused"].inc(outcome.rejected)
        if self.quarantine is not None and (outcome.rejected or outcome.duplicates):
            self._quarantine(items, statuses, filtered, to_store, marks, origin, raw)
        outcome.results = [
            {"index": i, "status": status, **details[i]}
            if i in details
            else {"index": i, "status": status}
            for i, status in enumerate(statuses)
        ]
        return outcome

    def _quarantine(
        self,
        items: list[Fix | FieldErrors],
        statuses: list[str],
        filtered: dict[int, Refusal],
        to_store: list[tuple[int, Fix]],
        marks: list[bool | Refused],
        origin: Origin | Sequence[Origin | None] | None,
        raw: Sequence[object] | None,
    ) -> None:
        """Hand refusals and duplicates to the quarantine (a few dict updates; never raises
        into the ingest)."""
        q = self.quarantine
        assert q is not None
        refused_by_db = {
            i: mark
            for (i, _), mark in zip(to_store, marks, strict=True)
            if isinstance(mark, Refused)
        }
        try:
            now: datetime | None = None
            for i, item in enumerate(items):
                if statuses[i] != "rejected":
                    continue
                if isinstance(item, Fix):
                    refusal = filtered.get(i)
                    if refusal is not None:
                        q.refuse_fix(item, refusal.reason, refusal.field, refusal.message)
                    elif isinstance(stored_as := refused_by_db.get(i), Refused):
                        q.refuse_fix(item, "database", stored_as.field, stored_as.message)
                    continue
                who = origin if isinstance(origin, Origin | None) else origin[i]
                if who is None:
                    continue
                now = now or datetime.now(UTC)
                q.refuse_validation(item, who, now, raw[i] if raw is not None else None)
            duplicates = [f for (_, f), new in zip(to_store, marks, strict=True) if new is False]
            if duplicates:
                q.check_duplicates(duplicates)
        except Exception:  # the quarantine must never cost an ingest
            log.exception("quarantine hook failed")
