"""Episodes with hysteresis: the one mechanism every rule uses to open and close incidents.

A rule states two conditions per fix: ``open_cond`` (strict: what must hold, for ``open_s``
and ``open_fixes`` in a row, to open) and ``hold_cond`` (lenient: what keeps an open episode
going). An episode closes once ``hold_cond`` has failed for ``clear_s`` and ``clear_fixes`` in
a row. So noise at a fence edge neither opens nor closes episodes over and over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracker.trips.core.events import (
    Event,
    IncidentClosed,
    IncidentOpened,
    IncidentUpdated,
    IncidentView,
)
from tracker.trips.core.models import AnnotatedFix, RuleConfig, VehicleContext
from tracker.trips.core.state import Episode, EvidencePoint, Track, VehicleState

US = 1_000_000


class Step:
    """One fix as the rules see it, with values derived once (the evidence point only when
    a rule first asks for it: most fixes never become evidence)."""

    __slots__ = (
        "_point",
        "afix",
        "cfg",
        "ctx",
        "gap_s",
        "jump_m",
        "late",
        "moving",
        "speed_kmh",
        "t_us",
        "time",
    )

    def __init__(
        self,
        afix: AnnotatedFix,
        ctx: VehicleContext,
        t_us: int,
        time: datetime,
        late: bool,
        speed_kmh: float,
        moving: bool,
        gap_s: float | None = None,  # since the previous processed fix
        jump_m: float | None = None,  # distance from the previous processed fix
        point: EvidencePoint | None = None,
        cfg: RuleConfig | None = None,  # the trip's permit's rules, else the vehicle's
    ) -> None:
        self.afix, self.ctx, self.cfg = afix, ctx, ctx.rules if cfg is None else cfg
        self.t_us, self.time, self.late = t_us, time, late
        self.speed_kmh, self.moving = speed_kmh, moving
        self.gap_s, self.jump_m = gap_s, jump_m
        self._point = point

    @property
    def point(self) -> EvidencePoint:
        point = self._point
        if point is None:
            afix, fix = self.afix, self.afix.fix
            distances = afix.corridor_distance_m
            point = self._point = EvidencePoint(
                t_us=self.t_us,
                lon=fix.lon,
                lat=fix.lat,
                speed_kmh=self.speed_kmh,
                distance_m=min(distances.values()) if distances else None,
                fence_ids=sorted(afix.site_ids | afix.yard_ids | afix.zone_ids),
                loaded=fix.loaded,
                body_lifted=fix.body_lifted,
                cover_closed=fix.cover_closed,
            )
        return point


@dataclass(frozen=True, slots=True)
class Hysteresis:
    open_s: float = 0.0
    open_fixes: int = 1
    clear_s: float = 0.0
    clear_fixes: int = 1


def add_point(points: list[EvidencePoint], point: EvidencePoint, cap: int) -> None:
    """Append, keeping the first and the latest points when over ``cap``."""
    points.append(point)
    if len(points) > cap:
        del points[cap // 2]


def merge_detail(target: dict[str, Any], detail: dict[str, Any] | None) -> None:
    """``max_*`` keys keep their maximum; others take the latest value."""
    if not detail:
        return
    for k, v in detail.items():
        old = target.get(k)
        if k.startswith("max_") and isinstance(old, int | float) and isinstance(v, int | float):
            target[k] = max(old, v)
        else:
            target[k] = v


def open_episode(
    state: VehicleState,
    key: str,
    type_: str,
    start_us: int,
    time: datetime,
    late: bool,
    evidence: list[EvidencePoint],
    detail: dict[str, Any] | None = None,
    opened_us: int | None = None,
) -> IncidentOpened:
    """Open an episode at ``time`` (``opened_us``: the same in epoch µs, when known)."""
    if opened_us is None:
        opened_us = int(time.timestamp() * US)
    track = state.tracks.setdefault(key, Track())
    episode = Episode(
        incident_id=f"{state.vehicle_id}:{key}:{start_us}",
        type=type_,
        started_us=start_us,
        opened_us=opened_us,
        trip_id=state.trip.trip_id,
        permit_id=state.trip.permit_id,
        evidence=evidence,
    )
    merge_detail(episode.detail, detail)
    track.episode = episode
    track.run_start_us, track.run_fixes, track.pending = None, 0, []
    track.clear_start_us, track.clear_fixes = None, 0
    return IncidentOpened(time, late, IncidentView.of(episode, state.vehicle_id))


def close_episode(
    state: VehicleState, key: str, time: datetime, late: bool, ended_us: int | None = None
) -> list[Event]:
    tracks = state.tracks
    if key not in tracks:
        return []
    track = tracks.pop(key)
    if track.episode is None:
        return []
    episode = track.episode
    episode.detail["ended_at_us"] = int(time.timestamp() * US) if ended_us is None else ended_us
    return [IncidentClosed(time, late, IncidentView.of(episode, state.vehicle_id))]


def update_episode(state: VehicleState, key: str, step: Step, severity: str) -> list[Event]:
    """Raise the severity of an open episode (escalation); no event when it is unchanged."""
    track = state.tracks.get(key)
    if track is None or track.episode is None or track.episode.severity == severity:
        return []
    track.episode.severity = severity
    view = IncidentView.of(track.episode, state.vehicle_id)
    return [IncidentUpdated(step.time, step.late, view)]


def advance(
    state: VehicleState,
    key: str,
    type_: str,
    step: Step,
    *,
    open_cond: bool,
    hold_cond: bool,
    h: Hysteresis,
    start_us: int | None = None,
    force_open: bool = False,
    detail: dict[str, Any] | None = None,
    ready: bool = True,
) -> list[Event]:
    """Move one rule's track by one fix. ``start_us`` backdates the start of a run (e.g. the
    interpolated moment a corridor was left); ``force_open`` opens on this fix; a run that is
    not ``ready`` goes on without opening yet."""
    track = state.tracks.get(key)
    if track is None:
        if not open_cond:
            return []
        track = state.tracks[key] = Track()
    cap = step.cfg.evidence_max_points
    if track.episode is None:
        if not open_cond:
            del state.tracks[key]
            return []
        if track.run_start_us is None:
            track.run_start_us = step.t_us if start_us is None else min(start_us, step.t_us)
        track.run_fixes += 1
        add_point(track.pending, step.point, cap)
        long_enough = step.t_us - track.run_start_us >= h.open_s * US
        if force_open or (ready and long_enough and track.run_fixes >= h.open_fixes):
            start = track.run_start_us
            return [
                open_episode(
                    state,
                    key,
                    type_,
                    start,
                    step.time,
                    step.late,
                    track.pending,
                    detail,
                    step.t_us,
                )
            ]
        return []
    add_point(track.episode.evidence, step.point, cap)
    merge_detail(track.episode.detail, detail)
    if hold_cond:
        track.clear_start_us, track.clear_fixes = None, 0
        return []
    if track.clear_start_us is None:
        track.clear_start_us = step.t_us
    track.clear_fixes += 1
    if step.t_us - track.clear_start_us >= h.clear_s * US and track.clear_fixes >= h.clear_fixes:
        return close_episode(state, key, step.time, step.late, step.t_us)
    return []


def is_open(state: VehicleState, key: str) -> bool:
    track = state.tracks.get(key)
    return track is not None and track.episode is not None
