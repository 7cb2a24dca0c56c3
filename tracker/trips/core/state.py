"""Per-vehicle engine state: a plain value, serialisable to JSON-ready dicts.

Times inside the state are epoch microseconds (``*_us``) so ``to_dict`` output is plain JSON;
events turn them back into aware UTC datetimes. A worker checkpoints ``to_dict()`` together
with its stream position and restores with ``VehicleState.from_dict``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Phase = Literal["idle", "loading", "hauling", "unloading"]
PlaceKind = Literal["site", "yard"]


def to_us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def from_us(t_us: int) -> datetime:
    return datetime.fromtimestamp(t_us / 1_000_000, tz=UTC)


@dataclass(slots=True)
class EvidencePoint:
    """One fix as evidence: where, when, how fast, which fences, what the sensors said."""

    t_us: int
    lon: float
    lat: float
    speed_kmh: float
    distance_m: float | None = None  # to the corridor centre line, when it matters
    fence_ids: list[str] = field(default_factory=list)
    loaded: bool | None = None
    body_lifted: bool | None = None
    cover_closed: bool | None = None

    @property
    def time(self) -> datetime:
        return from_us(self.t_us)


@dataclass(slots=True)
class Episode:
    """An open incident: what it is, since when, and the evidence gathered so far."""

    incident_id: str
    type: str
    started_us: int
    opened_us: int
    severity: str = "normal"
    trip_id: str | None = None
    permit_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    evidence: list[EvidencePoint] = field(default_factory=list)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Episode:
        ev = [EvidencePoint(**p) for p in d["evidence"]]
        return Episode(**{**d, "evidence": ev})


@dataclass(slots=True)
class Track:
    """One rule's condition over time: the current run towards opening, the current run
    towards closing, and the open episode if any."""

    run_start_us: int | None = None
    run_fixes: int = 0
    clear_start_us: int | None = None
    clear_fixes: int = 0
    pending: list[EvidencePoint] = field(default_factory=list)
    episode: Episode | None = None
    max_excess_m: float = 0.0  # route deviation: the farthest beyond the edge in the run
    last_held_us: int = 0  # route deviation: the last fix beyond the edge
    held_streak: int = 0  # route deviation: consecutive fixes out (or in the band) now
    best_streak: int = 0  # route deviation: the longest such streak of the run
    moved_out: bool = False  # route deviation: a fix beyond the edge reported movement

    @property
    def idle(self) -> bool:
        return self.episode is None and self.run_start_us is None

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Track:
        ep = d["episode"]
        return Track(
            run_start_us=d["run_start_us"],
            run_fixes=d["run_fixes"],
            clear_start_us=d["clear_start_us"],
            clear_fixes=d["clear_fixes"],
            pending=[EvidencePoint(**p) for p in d["pending"]],
            episode=None if ep is None else Episode.from_dict(ep),
            max_excess_m=d.get("max_excess_m", 0.0),
            last_held_us=d.get("last_held_us", 0),
            held_streak=d.get("held_streak", 0),
            best_streak=d.get("best_streak", 0),
            moved_out=d.get("moved_out", True),  # a checkpoint from before: as it was
        )


@dataclass(slots=True)
class StopState:
    """A stop in progress: the anchor point, its start and the last fix that stayed."""

    anchor_lon: float
    anchor_lat: float
    start_us: int
    last_us: int
    away_fixes: int = 0
    points: list[EvidencePoint] = field(default_factory=list)  # the fixes that stayed

    @staticmethod
    def from_dict(d: dict[str, Any]) -> StopState:
        return StopState(**{**d, "points": [EvidencePoint(**p) for p in d["points"]]})


@dataclass(slots=True)
class TripState:
    """The trip state machine and the site/yard the vehicle is in (with exit hysteresis)."""

    phase: Phase = "idle"
    trip_id: str | None = None
    origin_id: str | None = None
    permit_id: str | None = None
    loading_us: int | None = None
    departed_us: int | None = None
    yard_id: str | None = None
    arrived_us: int | None = None
    place_id: str | None = None
    place_kind: PlaceKind | None = None
    place_entered_us: int | None = None
    place_out_fixes: int = 0
    place_out_us: int | None = None
    lifted_in_place: bool = False
    sensor_loaded_fixes: int = 0
    sensor_empty_fixes: int = 0

    @property
    def loaded(self) -> bool:
        return self.phase == "hauling"


@dataclass(slots=True)
class LastFix:
    t_us: int
    lon: float
    lat: float
    speed_kmh: float


@dataclass(slots=True)
class VehicleState:
    vehicle_id: int
    last: LastFix | None = None
    trip: TripState = field(default_factory=TripState)
    stop: StopState | None = None
    tracks: dict[str, Track] = field(default_factory=dict)
    corridor_excess_m: float | None = None  # beyond the half-width at the previous fix
    fixes_seen: int = 0
    fixes_skipped: int = 0
    # The late-fix rewind (``rewind``): ``[t_us, state JSON]`` snapshots, oldest first, and
    # what was reported since the oldest (incident or ``trip:`` id -> start, last, severity,
    # closed).
    snapshots: list[list[Any]] = field(default_factory=list)
    recent: dict[str, list[Any]] = field(default_factory=dict)
    # Offline that officers can trust: the last fix time of a loaded silence the clock has seen
    # reach ``offline_gap_s`` (the truck is "suspected"), and a silence revealed by a live
    # reappearance that waits ``offline_confirm_s`` for late fixes to fill it before it is
    # reported (the episode, ready to report).
    suspected_us: int | None = None
    offline_pending: list[Episode] = field(default_factory=list)
    late_runs: int = 0  # uploads that brought fixes older than the state: it holds fixes back
    # The latest time the gateway heard the terminal without a position (its JT/T 808 session
    # authenticated, or a 0x0002 heartbeat), as the clock was told (``tick``); None: no session
    # known (an HTTP terminal, or no gateway). Heard after the last fix: connected, holding
    # its positions back (a blind area), not cut.
    heard_us: int | None = None
    # The first of those heard later than the grace after a fix, one per silence (the last
    # ``BLIND_KEEP``, oldest first): a replay judges old silences by what was heard then.
    blind_us: list[int] = field(default_factory=list)
    interval_s: float | None = None  # the terminal's usual report interval (moving average)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> VehicleState:
        last, stop = d["last"], d["stop"]
        return VehicleState(
            vehicle_id=d["vehicle_id"],
            last=None if last is None else LastFix(**last),
            trip=TripState(**d["trip"]),
            stop=None if stop is None else StopState.from_dict(stop),
            tracks={k: Track.from_dict(v) for k, v in d["tracks"].items()},
            corridor_excess_m=d["corridor_excess_m"],
            fixes_seen=d["fixes_seen"],
            fixes_skipped=d["fixes_skipped"],
            snapshots=d.get("snapshots", []),
            recent=d.get("recent", {}),
            suspected_us=d.get("suspected_us"),
            offline_pending=[Episode.from_dict(e) for e in d.get("offline_pending", [])],
            late_runs=d.get("late_runs", 0),
            heard_us=d.get("heard_us"),
            blind_us=list(d.get("blind_us") or []),
            interval_s=d.get("interval_s"),
        )
