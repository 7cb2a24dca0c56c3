"""The filter-and-store stage of the ingest pipeline every front end (HTTP, JT/T 808) goes through.

decode (front end) → validate (one rule set, tracker.ingest.validate) → filter → group-commit
store → answer per fix. Stored fixes then go to the
stream publisher, and back here to :meth:`IngestService.remember` (the writer's post-commit hook,
wired once in tracker.pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracker.ingest.filters import apply_filters
from tracker.ingest.validate import FieldErrors
from tracker.ingest.writer import GroupCommitWriter, Refused
from tracker.settings import FilterSettings
from tracker.wire import Fix


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
    def __init__(self, writer: GroupCommitWriter, filters: FilterSettings) -> None:
        self._writer = writer
        self._filters = filters
        # newest stored, unflagged fix per vehicle in this process: the jump filter's reference
        self.last_fix: dict[int, Fix] = {}

    def remember(self, stored: list[Fix]) -> None:
        for fix in stored:
            if fix.flags:
                continue
            held = self.last_fix.get(fix.vehicle_id)
            if held is None or held.fix_time < fix.fix_time:
                self.last_fix[fix.vehicle_id] = fix

    async def ingest(self, items: list[Fix | FieldErrors]) -> IngestOutcome:
        """Store the valid items; answer every item in input order."""
        outcome = IngestOutcome()
        statuses: list[str] = ["rejected"] * len(items)
        details: dict[int, dict[str, Any]] = {}
        candidates = [(i, item) for i, item in enumerate(items) if isinstance(item, Fix)]
        for i, item in enumerate(items):
            if not isinstance(item, Fix):
                details[i] = {"errors": item}
        refusals = apply_filters([f for _, f in candidates], self._filters, self.last_fix)
        to_store: list[tuple[int, Fix]] = []
        for (i, fix), refusal in zip(candidates, refusals, strict=True):
            if refusal is None:
                to_store.append((i, fix))
            else:
                details[i] = {"errors": [{"field": refusal.field, "message": refusal.message}]}
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
        outcome.results = [
            {"index": i, "status": status, **details[i]}
            if i in details
            else {"index": i, "status": status}
            for i, status in enumerate(statuses)
        ]
        return outcome
