"""The ingest pipeline every front end (HTTP, JT/T 808) goes through.

validate (front end) → filter → group-commit store → answer per fix. Stored fixes then go to the
stream publisher (wired as the writer's post-commit hook by the app).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracker.ingest.filters import apply_filters
from tracker.ingest.models import Fix
from tracker.ingest.validate import FieldErrors
from tracker.ingest.writer import GroupCommitWriter
from tracker.settings import FilterSettings


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
        outcome = IngestOutcome(results=[{"index": i} for i in range(len(items))])
        candidates: list[tuple[int, Fix]] = []
        for i, item in enumerate(items):
            if isinstance(item, Fix):
                candidates.append((i, item))
            else:
                outcome.results[i].update(status="rejected", errors=item)
        refusals = apply_filters([f for _, f in candidates], self._filters, self.last_fix)
        to_store: list[tuple[int, Fix]] = []
        for (i, fix), refusal in zip(candidates, refusals, strict=True):
            if refusal is None:
                to_store.append((i, fix))
            else:
                outcome.results[i].update(
                    status="rejected", errors=[{"field": refusal.field, "message": refusal.message}]
                )
        marks = await self._writer.write([f for _, f in to_store])
        for (i, fix), is_new in zip(to_store, marks, strict=True):
            res = outcome.results[i]
            res["status"] = "stored" if is_new else "duplicate"
            if fix.flags:
                res["flags"] = fix.flags
        for res in outcome.results:
            status = res["status"]
            if status == "stored":
                outcome.accepted += 1
            elif status == "duplicate":
                outcome.duplicates += 1
            else:
                outcome.rejected += 1
        return outcome
