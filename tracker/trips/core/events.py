"""Events out of the engine. ``time`` is the fix time that caused the event (or the tick
time for silence); ``late`` is set when that fix arrived later than the lateness threshold,
so the worker stores the event but does not alarm it as live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracker.trips.core.state import Episode, EvidencePoint, from_us

INCIDENT_TYPES = (
    "dumping",
    "route_deviation",
    "wrong_yard",
    "no_permit",
    "outside_hours",
    "no_go_zone",
    "speeding",
    "uncovered",
    "terminal_offline",
    "blacklisted_vehicle",
    "terminal_tampering",
    "closed_yard",
    "quota_exceeded",
    "inactive_site",
    "unregistered_vehicle",
)


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident as of an event: a copy, safe to keep after the state moves on."""

    incident_id: str
    type: str
    vehicle_id: int
    started_at: datetime
    severity: str
    trip_id: str | None
    permit_id: str | None
    detail: dict[str, Any]
    evidence: tuple[EvidencePoint, ...]

    @property
    def lon_lat(self) -> tuple[float, float] | None:
        """Where it happened: the first evidence point."""
        if not self.evidence:
            return None
        return self.evidence[0].lon, self.evidence[0].lat

    @staticmethod
    def of(episode: Episode, vehicle_id: int) -> IncidentView:
        return IncidentView(
            incident_id=episode.incident_id,
            type=episode.type,
            vehicle_id=vehicle_id,
            started_at=from_us(episode.started_us),
            severity=episode.severity,
            trip_id=episode.trip_id,
            permit_id=episode.permit_id,
            detail=dict(episode.detail),
            evidence=tuple(episode.evidence),
        )


@dataclass(frozen=True, slots=True)
class IncidentOpened:
    time: datetime
    late: bool
    incident: IncidentView


@dataclass(frozen=True, slots=True)
class IncidentUpdated:
    """A change worth telling (escalation); evidence alone does not make an update."""

    time: datetime
    late: bool
    incident: IncidentView


@dataclass(frozen=True, slots=True)
class IncidentClosed:
    time: datetime
    late: bool
    incident: IncidentView


@dataclass(frozen=True, slots=True)
class IncidentRetracted:
    """A closed incident that fixes delivered late contradict: the history replayed with them
    no longer has it (a silence they filled, a detour they show was not one). Stored as
    ``detail.retracted`` for the officer reviewing it; never alarmed (always ``late``)."""

    time: datetime  # the fix time the replay ran to
    late: bool
    incident_id: str
    vehicle_id: int


@dataclass(frozen=True, slots=True)
class TripStarted:
    time: datetime
    late: bool
    trip_id: str
    vehicle_id: int
    origin_id: str | None
    permit_id: str | None
    loading_at: datetime | None


@dataclass(frozen=True, slots=True)
class TripCompleted:
    """The electronic manifest. ``outcome`` is ``yard`` (unloaded in a yard) or ``elsewhere``
    (the load sensor went empty outside any yard)."""

    time: datetime
    late: bool
    trip_id: str
    vehicle_id: int
    origin_id: str | None
    yard_id: str | None
    permit_id: str | None
    loading_at: datetime | None
    departed_at: datetime | None
    arrived_at: datetime | None
    volume_m3: float | None
    volume_source: str
    outcome: str


Event = (
    IncidentOpened
    | IncidentUpdated
    | IncidentClosed
    | IncidentRetracted
    | TripStarted
    | TripCompleted
)
