"""The hash chain over a case's events: any later change to an event, its order or a removed
event is detectable.

Each event is hashed with the hash of the one before it (``GENESIS`` for the first):
``hash_n = sha256(hash_{n-1} + "\\n" + canonical(event_n))``, hex. ``canonical`` is JSON with
sorted keys, no spaces and UTF-8 text (``ensure_ascii=False``), so the same event always gives
the same bytes in Python, in SQL exports and in a verifier written elsewhere. Times go in as
ISO 8601 UTC strings (``2026-12-07T08:00:00Z``), never as datetime objects.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(event: Mapping[str, Any]) -> bytes:
    """The event's bytes as they are hashed (raises on values JSON cannot carry)."""
    return json.dumps(
        event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def link(prev_hash: str, event: Mapping[str, Any]) -> str:
    """The hash of ``event`` chained after ``prev_hash``."""
    if len(prev_hash) != 64:
        raise ValueError("prev_hash is a 64-character hex SHA-256")
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(event))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ChainCheck:
    ok: bool
    checked: int
    first_bad: int | None = None  # index of the first event whose stored hash does not match
    reason: str = ""


def verify(events: Iterable[tuple[Mapping[str, Any], str]]) -> ChainCheck:
    """Checks ``(event, stored_hash)`` pairs in order from the genesis."""
    prev = GENESIS
    checked = 0
    for index, (event, stored) in enumerate(events):
        if stored != link(prev, event):
            return ChainCheck(False, index, index, f"event {index}: hash does not match content")
        prev = stored
        checked = index + 1
    return ChainCheck(True, checked)
