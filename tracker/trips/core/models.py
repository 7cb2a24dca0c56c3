"""Inputs of the engine: an annotated fix, the vehicle's context and the rule configuration.

All of these are plain immutable values built by the worker at the edge (from the stream, the
geofence index and the registry/permit caches); the engine never looks anything up itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

from tracker.wire import Fix, FixFlag

SegmentEvent = Literal["enter", "exit", "cross"]

POWER_CUT_BIT = 8  # JT/T 808 alarm flag: main power cut (docs/JT808.md §7.2)
ANTENNA_CUT_BIT = 5  # JT/T 808 alarm flag: GNSS antenna disconnected/cut


@dataclass(slots=True)
class AnnotatedFix:
    """A fix plus what the geofence engine says about it. Treated as immutable, but not a
    frozen dataclass: one is made per fix, and a frozen dataclass's ``__init__`` (a call of
    ``object.__setattr__`` per field) costs four times as much (about 2 µs against 0.5).

    ``corridor_distance_m`` holds the distance to the centre line of each corridor of the
    vehicle's permit(s); ``segment_events`` the fences the straight segment from the previous
    fix entered, exited or crossed (``(fence_id, 'enter'|'exit'|'cross')``).
    """

    fix: Fix
    site_ids: frozenset[str] = frozenset()
    yard_ids: frozenset[str] = frozenset()
    zone_ids: frozenset[str] = frozenset()
    corridor_ids: frozenset[str] = frozenset()
    corridor_distance_m: Mapping[str, float] = field(default_factory=dict)
    segment_events: tuple[tuple[str, SegmentEvent], ...] = ()
    t_us: int | None = None  # the fix time in epoch µs, when the caller has it already
    received_us: int | None = None  # likewise the receive time


ALL_DAYS = frozenset(range(1, 8))  # ISO weekdays, 1 Monday ... 7 Sunday
CITY_TZ = ZoneInfo("Asia/Shanghai")  # the default city zone (settings.city_tz)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A window in the city's local wall-clock minutes, ``[start_min, end_min)``, starting on
    the ISO weekdays ``days`` (1 Monday ... 7 Sunday; all by default: a daily window). It wraps
    midnight when ``end_min <= start_min`` (22:00-06:00 is ``TimeWindow(1320, 360)``): the part
    after midnight belongs to the day it started on, so a Friday 22:00-05:00 window holds
    until Saturday 05:00 and not on Friday 00:00-05:00."""

    start_min: int
    end_min: int
    days: frozenset[int] = ALL_DAYS

    def contains(self, weekday: int, minute_of_day: int) -> bool:
        if self.start_min < self.end_min:
            return weekday in self.days and self.start_min <= minute_of_day < self.end_min
        if minute_of_day >= self.start_min:
            return weekday in self.days
        return minute_of_day < self.end_min and (7 if weekday == 1 else weekday - 1) in self.days


def local_day_minute(t: datetime, tz: tzinfo) -> tuple[int, int]:
    """The ISO weekday and the minute of the day of ``t`` on the wall clocks of ``tz``."""
    local = t.astimezone(tz)
    return local.isoweekday(), local.hour * 60 + local.minute


def local_day_minute_us(t_us: int, tz: tzinfo) -> tuple[int, int]:
    """``local_day_minute`` from epoch microseconds (whole seconds: a third of the cost of an
    exact instant converted, on the engine's hot path)."""
    local = datetime.fromtimestamp(t_us // 1_000_000, tz)
    return local.isoweekday(), local.hour * 60 + local.minute


def in_windows(windows: tuple[TimeWindow, ...], t: datetime, tz: tzinfo) -> bool:
    weekday, minute = local_day_minute(t, tz)
    return any(w.contains(weekday, minute) for w in windows)


def in_windows_us(windows: tuple[TimeWindow, ...], t_us: int, tz: tzinfo) -> bool:
    weekday, minute = local_day_minute_us(t_us, tz)
    return any(w.contains(weekday, minute) for w in windows)


@dataclass(frozen=True, slots=True)
class PermitScope:
    """What a transport permit allows this vehicle: places, corridors, hours, validity.

    ``corridors`` maps corridor fence id to its half-width in metres. An empty ``windows``
    means no hour restriction; ``valid_from``/``valid_until`` are aware UTC instants (the
    local midnights that start the first and follow the last valid day).
    """

    permit_id: str
    valid_from: datetime
    valid_until: datetime
    origin_ids: frozenset[str] = frozenset()
    yard_ids: frozenset[str] = frozenset()
    corridors: Mapping[str, float] = field(default_factory=dict)
    windows: tuple[TimeWindow, ...] = ()
    rules: RuleConfig | None = None  # the permit's own thresholds (config), if it has any
    quota_m3: float | None = None  # the volume the permit allows in all
    hauled_m3: float = 0.0  # the volume of its completed trips, as of the registry load
    # This vehicle's latest departure among those trips: a trip of its that left no later is
    # in ``hauled_m3`` already (replayed with late fixes after it was delivered) or was judged
    # when it ran; it is not counted against the quota a second time.
    hauled_until: datetime | None = None

    def valid_at(self, t: datetime) -> bool:
        return self.valid_from <= t < self.valid_until


@dataclass(frozen=True, slots=True)
class ZoneRule:
    """A no-go zone's schedule (empty = always active) and an optional speed limit."""

    zone_id: str
    no_go: bool = True
    active_windows: tuple[TimeWindow, ...] = ()
    speed_limit_kmh: float | None = None


@dataclass(frozen=True, slots=True)
class YardRule:
    """A disposal yard's state: ``full`` (its fill reached its capacity: closed) and its daily
    opening hours (empty = always open)."""

    yard_id: str
    full: bool = False
    opening_windows: tuple[TimeWindow, ...] = ()

    def closed_at(self, t_us: int, tz: tzinfo) -> str | None:
        """Why the yard takes no load at ``t_us`` (``full``, ``outside_opening_hours``)."""
        if self.full:
            return "full"
        windows = self.opening_windows
        if windows and not in_windows_us(windows, t_us, tz):
            return "outside_opening_hours"
        return None


@dataclass(frozen=True, slots=True)
class SiteRule:
    """A site's active dates: ``[active_from, active_until)`` as aware UTC instants (None:
    open-ended)."""

    site_id: str
    active_from: datetime | None = None
    active_until: datetime | None = None

    def active_at(self, t: datetime) -> bool:
        return (self.active_from is None or self.active_from <= t) and (
            self.active_until is None or t < self.active_until
        )


@dataclass(frozen=True, slots=True)
class Sensors:
    """Which sensors the vehicle's terminal model reports (mapping per model is upstream)."""

    has_lift: bool = False
    has_cover: bool = False
    has_load: bool = False


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """Thresholds, docs/DOMAIN.md §2 defaults; the worker picks the values per city and permit."""

    stop_speed_kmh: float = 5.0
    stop_radius_m: float = 50.0
    stop_break_fixes: int = 2  # consecutive moving/away fixes that end a stop (one = noise)
    dumping_dwell_s: float = 180.0
    haul_overdue_s: float = 4 * 3600.0
    place_dwell_s: float = 120.0  # loading at a site / unloading at a yard
    place_exit_fixes: int = 2  # consecutive fixes outside before a site/yard is left
    sensor_fixes: int = 2  # consecutive load-sensor readings before they change the trip
    deviation_min_s: float = 60.0
    deviation_min_fixes: int = 2
    deviation_clear_fixes: int = 2
    deviation_clear_s: float = 60.0
    deviation_hold_m: float = 15.0  # GPS noise band at the corridor edge (see route_deviation)
    deviation_escalate_s: float = 600.0
    deviation_severe_s: float = 900.0
    deviation_when_empty: bool = False
    speeding_min_s: float = 30.0
    speed_limit_kmh: float | None = None  # the city's limit, if any
    uncovered_min_s: float = 30.0
    offline_gap_s: float = 300.0
    # A clock-seen silence alarms only once fixes taken that long ago would have arrived:
    # terminals buffer and upload at least every minute (docs/DOMAIN.md §5, ≤ 60 s).
    offline_upload_grace_s: float = 60.0
    # A silence revealed only when the terminal reappears (the clock never saw it) is reported
    # once this long has passed without late fixes filling it: terminals hold runs of fixes
    # back and upload them minutes later (blind-area uploads). 0: reported at once.
    offline_confirm_s: float = 600.0
    # A JT/T 808 terminal heard (heartbeat) later than ``offline_upload_grace_s`` after its
    # last fix is connected and holding its positions back (a blind area): its silence is not
    # reported while it is heard; it counts as silent once not heard for this long.
    heard_lost_s: float = 300.0
    tamper_speed_kmh: float = 150.0
    tamper_gap_min_s: float = 60.0  # reappearance check only after a real gap
    tamper_exit_s: float = 60.0  # a silence this soon after leaving the site: from the gate
    tamper_alarm_mask: int = (1 << POWER_CUT_BIT) | (1 << ANTENNA_CUT_BIT)
    # The swap watch: fixes ingest flagged as jumps, this many within the window (0: off).
    swap_min_jumps: int = 3
    swap_window_s: float = 600.0
    zone_open_fixes: int = 1  # entry opens (a crossing segment too); flapping is held open
    zone_clear_fixes: int = 2
    zone_clear_s: float = 60.0
    # A segment crossing a zone is evidence only over a short gap: after a longer silence the
    # straight line between the two fixes is no model of the roads the truck took.
    zone_cross_max_gap_s: float = 300.0
    no_go_when_empty: bool = True
    outside_hours_min_fixes: int = 1  # loaded fixes outside the windows (see outside_hours)
    outside_hours_clear_s: float = 180.0
    blacklist_min_fixes: int = 2
    blacklist_idle_close_s: float = 600.0
    late_after_s: float = 300.0
    rewind_window_s: float = 900.0  # stragglers this old (at least) are replayed; 0: never
    rewind_step_s: float = 450.0  # a state snapshot every so much fix time
    skip_flags: int = int(FixFlag.JUMP | FixFlag.ZERO | FixFlag.FUTURE)
    evidence_max_points: int = 200


@dataclass(frozen=True, slots=True)
class VehicleContext:
    """What the registry and permits say about a vehicle at the time of the fixes."""

    vehicle_id: int
    permits: tuple[PermitScope, ...] = ()
    zones: Mapping[str, ZoneRule] = field(default_factory=dict)
    tz: tzinfo = CITY_TZ  # the city's zone: windows and schedules are its wall-clock times
    blacklisted: bool = False
    blacklist_listing_id: int | None = None  # the active listing, when known
    sensors: Sensors = Sensors()
    rated_volume_m3: float | None = None
    rules: RuleConfig = RuleConfig()
    yards: Mapping[str, YardRule] = field(default_factory=dict)  # full, opening hours
    sites: Mapping[str, SiteRule] = field(default_factory=dict)  # active dates
    corridor_ids: tuple[str, ...] = field(init=False, default=())  # of all its permits

    def __post_init__(self) -> None:
        ids = dict.fromkeys(c for permit in self.permits for c in permit.corridors)
        object.__setattr__(self, "corridor_ids", tuple(ids))

    def permit_for(self, t: datetime, origin_id: str | None) -> PermitScope | None:
        """The first permit valid at ``t`` that covers the origin (any, if it is unknown)."""
        for permit in self.permits:
            if permit.valid_at(t) and (origin_id is None or origin_id in permit.origin_ids):
                return permit
        return None

    def rules_for(self, permit_id: str | None) -> RuleConfig:
        """The thresholds for a trip under ``permit_id``: the permit's own, else the city's."""
        if permit_id is not None:
            permit = self.permit_by_id(permit_id)
            if permit is not None and permit.rules is not None:
                return permit.rules
        return self.rules

    def permit_by_id(self, permit_id: str | None) -> PermitScope | None:
        for permit in self.permits:
            if permit.permit_id == permit_id:
                return permit
        return None
