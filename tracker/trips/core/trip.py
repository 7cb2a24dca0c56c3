"""The trip state machine: idle → loading → hauling → unloading → (trip completed) → idle.

- A site or yard is *entered* on the first fix inside it (after a silence longer than
  ``ENTRY_GAP_S``, at the middle of the silence: the truck went in during it) and *left* after
  ``place_exit_fixes`` consecutive fixes outside (the exit time is the first of them, or the
  middle of the silence before it), so
  noise along a fence edge does not make the truck leave and come back.
- loading: dwell ≥ ``place_dwell_s`` in a site, or the load sensor reads loaded there.
- hauling: the site is left loaded (GPS only: assumed loaded after the dwell; with a load
  sensor: unless it reads empty). A load sensor reading loaded outside any site also starts
  a trip, with an unknown origin.
- unloading: dwell ≥ ``place_dwell_s`` in a yard, a lift there, or the load sensor empty there.
- A site is left at once for a fix in a yard (a silence from the gate hid the road), and a
  hauling truck that dwells ``place_dwell_s`` at its own site (the trip's origin or one of its
  permit's) is loading again: its trip completes ``elsewhere`` (the load went unseen).
- completed: the yard is left. A load sensor reading empty outside any yard ends the trip
  with outcome ``elsewhere`` (the dumping rule raises the incident).
"""

from __future__ import annotations

from tracker.trips.core.events import Event, TripCompleted, TripStarted
from tracker.trips.core.state import PlaceKind, TripState, VehicleState, from_us
from tracker.trips.core.tracks import US, Step


def _pick_place(trip: TripState, step: Step) -> tuple[str, PlaceKind] | None:
    yards, sites = step.afix.yard_ids, step.afix.site_ids
    if yards and (trip.phase in ("hauling", "unloading") or not sites):
        return min(yards), "yard"
    if sites:
        return min(sites), "site"
    return None


ENTRY_GAP_S = 60.0
Left = tuple[str, PlaceKind, int]  # place id, kind, time of the first fix outside


def track_place(trip: TripState, step: Step) -> Left | None:
    """Update the place the vehicle is in; return the place it has just left, if any."""
    left: Left | None = None
    if trip.place_id is not None and trip.place_kind is not None:
        here = step.afix.yard_ids if trip.place_kind == "yard" else step.afix.site_ids
        # In a yard, out of the site: left for sure (places do not overlap), however few
        # fixes say so (a terminal silent from the site gate, back in the yard).
        in_yard = trip.place_kind == "site" and bool(step.afix.yard_ids)
        if trip.place_id in here:
            trip.place_out_fixes, trip.place_out_us = 0, None
        else:
            trip.place_out_fixes += 1
            if trip.place_out_us is None:
                trip.place_out_us = step.t_us
                if step.gap_s is not None and step.gap_s > ENTRY_GAP_S:
                    trip.place_out_us -= int(step.gap_s * US / 2)  # left during the gap
            if trip.place_out_fixes >= step.cfg.place_exit_fixes or in_yard:
                left = trip.place_id, trip.place_kind, trip.place_out_us
                trip.place_id = trip.place_kind = trip.place_entered_us = None
                trip.place_out_fixes, trip.place_out_us, trip.lifted_in_place = 0, None, False
    if trip.place_id is None:
        picked = _pick_place(trip, step)
        if picked is not None:
            trip.place_id, trip.place_kind = picked
            entered_us = step.t_us
            if step.gap_s is not None and step.gap_s > ENTRY_GAP_S:
                entered_us -= int(step.gap_s * US / 2)  # entered somewhere in the gap
            trip.place_entered_us, trip.place_out_us = entered_us, None
    fix = step.afix.fix
    if trip.place_id is not None and step.ctx.sensors.has_lift and fix.body_lifted:
        trip.lifted_in_place = True
    return left


def _count_sensor(trip: TripState, step: Step) -> None:
    loaded = step.afix.fix.loaded if step.ctx.sensors.has_load else None
    trip.sensor_loaded_fixes = trip.sensor_loaded_fixes + 1 if loaded is True else 0
    trip.sensor_empty_fixes = trip.sensor_empty_fixes + 1 if loaded is False else 0


def _dwell_s(trip: TripState, step: Step) -> float:
    if trip.place_entered_us is None:
        return 0.0
    return (step.t_us - trip.place_entered_us) / US


def _start(state: VehicleState, step: Step, origin_id: str | None, departed_us: int) -> Event:
    trip = state.trip
    trip.phase, trip.origin_id, trip.departed_us = "hauling", origin_id, departed_us
    trip.trip_id = f"{state.vehicle_id}:{trip.loading_us or departed_us}"
    permit = step.ctx.permit_for(step.time, origin_id)
    trip.permit_id = None if permit is None else permit.permit_id
    loading_at = None if trip.loading_us is None else from_us(trip.loading_us)
    return TripStarted(
        step.time, step.late, trip.trip_id, state.vehicle_id, origin_id, trip.permit_id, loading_at
    )


def _complete(state: VehicleState, step: Step, outcome: str) -> Event:
    trip = state.trip
    event = TripCompleted(
        time=step.time,
        late=step.late,
        trip_id=trip.trip_id or f"{state.vehicle_id}:{step.t_us}",
        vehicle_id=state.vehicle_id,
        origin_id=trip.origin_id,
        yard_id=trip.yard_id,
        permit_id=trip.permit_id,
        loading_at=None if trip.loading_us is None else from_us(trip.loading_us),
        departed_at=None if trip.departed_us is None else from_us(trip.departed_us),
        arrived_at=None if trip.arrived_us is None else from_us(trip.arrived_us),
        volume_m3=step.ctx.rated_volume_m3,
        volume_source="rated",
        outcome=outcome,
    )
    _reset(trip)
    return event


def _reset(trip: TripState) -> None:
    trip.phase, trip.trip_id, trip.origin_id, trip.permit_id = "idle", None, None, None
    trip.loading_us = trip.departed_us = trip.arrived_us = None
    trip.yard_id = None


def _loads_here(trip: TripState, step: Step) -> bool:
    """The site the vehicle is in is its trip's origin, or one of the trip permit's."""
    if trip.place_id is None:
        return False
    if trip.place_id == trip.origin_id:
        return True
    permit = step.ctx.permit_by_id(trip.permit_id)
    return permit is not None and trip.place_id in permit.origin_ids


def update_trip(state: VehicleState, step: Step) -> list[Event]:
    trip, cfg = state.trip, step.cfg
    left = track_place(trip, step)
    _count_sensor(trip, step)
    sensor_loaded = trip.sensor_loaded_fixes >= cfg.sensor_fixes
    sensor_empty = trip.sensor_empty_fixes >= cfg.sensor_fixes
    dwelt = _dwell_s(trip, step) >= cfg.place_dwell_s
    if trip.phase == "idle":
        if trip.place_kind == "site" and (dwelt or sensor_loaded):
            trip.phase, trip.origin_id = "loading", trip.place_id
            trip.loading_us = trip.place_entered_us
        elif trip.place_id is None and sensor_loaded:
            return [_start(state, step, None, step.t_us)]
    elif trip.phase == "loading":
        if left is not None:
            if step.ctx.sensors.has_load and trip.sensor_empty_fixes > 0:
                _reset(trip)
                return []
            return [_start(state, step, left[0], left[2])]
    elif trip.phase == "hauling":
        lifted = trip.lifted_in_place
        if trip.place_kind == "yard" and (dwelt or lifted or sensor_empty):
            trip.phase, trip.yard_id = "unloading", trip.place_id
            trip.arrived_us = trip.place_entered_us
        elif trip.place_id is None and sensor_empty:
            return [_complete(state, step, "elsewhere")]
        elif trip.place_kind == "site" and dwelt and _loads_here(trip, step):
            # Back at its own site (the trip's origin or its permit's) for a load: the previous
            # load went where no fix saw it (a terminal silent from the gate until after the
            # yard, a silence that hid the unloading). The trip ends there, elsewhere, and this
            # dwell is a new loading, not a loaded truck off its route.
            site_id, entered_us = trip.place_id, trip.place_entered_us
            completed = _complete(state, step, "elsewhere")
            trip.phase, trip.origin_id, trip.loading_us = "loading", site_id, entered_us
            return [completed]
    elif trip.phase == "unloading" and left is not None:
        return [_complete(state, step, "yard")]
    return []
