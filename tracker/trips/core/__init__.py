"""The enforcement engine's pure core: per-vehicle trip state machine, rules and incidents.

No database, Redis, asyncio or clock in here: times come from the fixes (and from ``tick``'s
``now``, supplied by the worker). Input and output are plain values.

Inputs
    ``AnnotatedFix``: a ``Fix`` plus the geofence answers the worker looked up for it: ids of
    the sites, yards and no-go zones it is inside, distances (m) to the centre lines of the
    vehicle's permit corridors, and the segment events (enter/exit/cross) since the previous
    fix. ``VehicleContext``: the vehicle's permits (``PermitScope``: origins, yards, corridors
    with half-widths, daily windows in local time, validity), zone rules (schedules, speed
    limits), the city's UTC offset, blacklisted flag, sensors of its terminal model, rated
    volume, and the ``RuleConfig`` thresholds (docs/DOMAIN.md §2 defaults; the worker chooses the
    config per city/permit, zones carry their own schedules and limits).

State
    ``VehicleState``: last fix, trip state (phase, origin, permit, the site/yard the vehicle
    is in with exit hysteresis), the current stop, and one ``Track`` per rule (the run towards
    opening, the run towards closing, the open ``Episode`` with its evidence). Times are epoch
    microseconds, so ``to_dict()`` is JSON-ready and ``VehicleState.from_dict`` restores it;
    processing 1..N equals processing 1..k, checkpointing, restoring, then k+1..N.
    ``process`` updates the state in place and returns it (copy via to_dict/from_dict).

Events
    ``TripStarted``, ``TripCompleted`` (the manifest), ``IncidentOpened``,
    ``IncidentUpdated`` (escalation only), ``IncidentClosed``, ``IncidentRetracted`` (a closed
    incident that late fixes contradict, from the rewind only); each with the fix ``time`` and
    ``late`` (the fix arrived more than ``late_after_s`` after it was taken: store, do not
    alarm live). Incident events carry an ``IncidentView`` copy: a deterministic
    ``incident_id`` (vehicle, rule key, start time; so a replay after a crash yields the same
    ids), type (docs/DOMAIN.md §7 names), start, severity, trip and permit, detail (maxima, fence
    ids, reason) and the evidence points gathered so far (capped at ``evidence_max_points``,
    keeping the first and the latest).

Decisions
    - Every rule is ``update(state, step) -> events`` over a shared hysteresis mechanism
      (``tracks.advance``): a strict condition to open (duration and fix count), a lenient one
      to hold, and a duration/fix count to close. Episodes open once and close once.
    - Fixes must arrive in fix-time order; older-or-equal fixes and ``skip_flags`` fixes are
      skipped (counted). ``prepare_batch`` sorts, drops exact duplicates and flagged fixes.
      A late batch newer than the state is processed normally, its events marked late.
    - Late fixes older than the state (stragglers) are replayed into history by ``rewind``:
      the state keeps JSON snapshots of itself (every ``rewind_step_s`` of fix time, covering
      at least ``rewind_window_s``, 15 min) and the ids it reported since; a straggler batch
      restores the newest snapshot older than it and re-runs the stored fixes since, merged
      with the stragglers. Only what is new is reported, marked late; episodes whose start
      the late fixes moved keep their reported id; stragglers older than the window stay
      skipped (counted).
    - Stops: speed < ``stop_speed_kmh`` (reported, else implied) within ``stop_radius_m`` of
      where the stop began; one stray fix is noise, two (or one 3 × radius away) end it. Dwell
      counts to the last fix that stayed, so a gap followed by a far reappearance (tunnel)
      does not extend a stop. Dumping: a loaded stop ≥ 3 min outside any yard and outside the
      trip's origin/permitted origins; a lift outside a yard at once; a loaded trip without
      yard after 4 h.
    - Route deviation is timed from the interpolated moment the segment between fixes left the
      corridor; needs ≥ 60 s and ≥ 2 fixes beyond the half-width, closes after 2 fixes back
      inside; escalated at 10 min, severe at 15 min. Checked while loaded (configurable).
    - No-go zones: entry (a fix inside, or a segment crossing) while the schedule is
      active opens at once; closed only after 2 fixes and 60 s outside, so flapping along
      the edge stays one episode. Speeding/uncovered: ≥ 30 s and 2 fixes.
      Outside hours: 2 moving fixes loaded outside the windows; held while loaded outside.
      Blacklisted: 2 moving fixes; closed after 10 min without movement.
    - terminal_offline: a loaded silence ≥ 5 min (opened by ``tick`` when the worker's clock
      sees it, after the upload grace; the truck is "suspected" from 5 min; a silence seen
      only at the reappearance waits ``offline_confirm_s`` for late fixes to fill it).
    - terminal_tampering (车机分离): a loaded departure silent from the site gate, a
      reappearance implying > 150 km/h after a gap ≥ 60 s, JT/T 808 alarm bits 8 (power cut) /
      5 (antenna cut), held while set, and fixes flagged as jumps (the swap watch).
    - closed_yard, quota_exceeded, inactive_site: tipping into a full or closed yard, a load
      beyond the permit's quota, a load from a site outside its active dates.
    - GPS-only trips work by dwell; lift/load sensors are used when ``Sensors`` says the
      terminal model has them. Volume is the rated body volume (``volume_source='rated'``).
"""

from tracker.trips.core.engine import VehicleEngine, prepare_batch, process, tick
from tracker.trips.core.events import (
    INCIDENT_TYPES,
    Event,
    IncidentClosed,
    IncidentOpened,
    IncidentRetracted,
    IncidentUpdated,
    IncidentView,
    TripCompleted,
    TripStarted,
)
from tracker.trips.core.models import (
    AnnotatedFix,
    PermitScope,
    RuleConfig,
    Sensors,
    SiteRule,
    TimeWindow,
    VehicleContext,
    YardRule,
    ZoneRule,
)
from tracker.trips.core.state import EvidencePoint, VehicleState

__all__ = (
    "INCIDENT_TYPES",
    "AnnotatedFix",
    "Event",
    "EvidencePoint",
    "IncidentClosed",
    "IncidentOpened",
    "IncidentRetracted",
    "IncidentUpdated",
    "IncidentView",
    "PermitScope",
    "RuleConfig",
    "Sensors",
    "SiteRule",
    "TimeWindow",
    "TripCompleted",
    "TripStarted",
    "VehicleContext",
    "VehicleEngine",
    "VehicleState",
    "YardRule",
    "ZoneRule",
    "prepare_batch",
    "process",
    "tick",
)
