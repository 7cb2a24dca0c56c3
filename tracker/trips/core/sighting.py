"""What a plate sighting at a checkpoint says about its truck: the pure decision (no I/O).

A sighting is not a fix: the sighting service (tracker.sightings) gathers the facts — the
registered vehicle of the plate, whether it holds a valid permit at that time, the terminal's
fixes around the sighting — and asks :func:`plate_findings` and :func:`terminal_findings`.

- ``unregistered_vehicle``: no registered (active) vehicle has the plate, no registered plate
  is one character away from it (a misread), and the checkpoint's cameras watch muck-truck
  lanes only.
- ``no_permit``: a registered vehicle without a valid permit at that time, seen loaded (or
  with the load unknown: the lanes carry muck trucks at work); seen empty raises nothing.
- ``terminal_tampering`` with reason ``sighting_contradiction``: the vehicle's terminal sent
  no fix within ``window_s`` of the sighting (``silent``), or its nearest fix in time is farther
  from the checkpoint than ``base_distance_m + max_speed_kmh × |dt|`` (``far``).

A plate read below ``min_confidence`` raises nothing: a misread plate must not accuse a truck.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tracker.geo import distance_m


@dataclass(frozen=True, slots=True)
class SightingRules:
    min_confidence: float = 0.8
    window_s: float = 300.0
    base_distance_m: float = 2000.0
    max_speed_kmh: float = 100.0


@dataclass(frozen=True, slots=True)
class Seen:
    """A sighting as the rules need it."""

    time: datetime
    lon: float
    lat: float
    confidence: float
    loaded: bool | None
    muck_lanes: bool


@dataclass(frozen=True, slots=True)
class TerminalFix:
    time: datetime
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Finding:
    type: str  # an incident type
    reason: str
    detail: dict[str, float | str | None]


def plate_findings(
    seen: Seen,
    registered: bool,
    permit_valid: bool,
    rules: SightingRules,
    near_registered: bool = False,
) -> list[Finding]:
    """The findings on the plate alone: unregistered, or registered without a valid permit.
    ``near_registered``: an unknown plate one character away from a registered one, which is
    what a camera's misread looks like (8/B, 0/D): it raises nothing."""
    if seen.confidence < rules.min_confidence:
        return []
    if not registered:
        if not seen.muck_lanes or near_registered:
            return []
        return [Finding("unregistered_vehicle", "unregistered_plate", {})]
    if not permit_valid and seen.loaded is not False:
        loaded = "loaded" if seen.loaded else "unknown"
        return [Finding("no_permit", "seen_without_permit", {"load": loaded})]
    return []


def terminal_findings(seen: Seen, fixes: list[TerminalFix], rules: SightingRules) -> list[Finding]:
    """Does the terminal contradict the sighting? ``fixes``: the vehicle's valid fixes within
    ``window_s`` of the sighting, in any order."""
    if seen.confidence < rules.min_confidence:
        return []
    near = [f for f in fixes if abs((f.time - seen.time).total_seconds()) <= rules.window_s]
    if not near:
        return [
            Finding(
                "terminal_tampering",
                "sighting_contradiction",
                {"kind": "silent", "window_s": rules.window_s},
            )
        ]
    nearest = min(near, key=lambda f: abs((f.time - seen.time).total_seconds()))
    dt_s = abs((nearest.time - seen.time).total_seconds())
    apart_m = distance_m(seen.lon, seen.lat, nearest.lon, nearest.lat)
    plausible_m = rules.base_distance_m + rules.max_speed_kmh / 3.6 * dt_s
    if apart_m <= plausible_m:
        return []
    return [
        Finding(
            "terminal_tampering",
            "sighting_contradiction",
            {
                "kind": "far",
                "distance_m": round(apart_m, 1),
                "plausible_m": round(plausible_m, 1),
                "dt_s": dt_s,
            },
        )
    ]


def one_apart(a: str, b: str) -> bool:
    """Same length and exactly one character different: a plate misread by one character."""
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1
