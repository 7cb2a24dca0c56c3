"""Truck states for the live map: what one vehicle is doing, as of the engine's last commit.

The worker publishes a vehicle's state whenever it changes, as a
``tracker.wire.VehicleStateMessage`` on the ``VEHICLE_STATES`` channel, and keeps the current
one in the ``VSTATE_KEY`` hash, so a page that opens reads the hash, then follows the channel.
``state`` is one of ``tracker.wire.VEHICLE_STATES``; ``at`` the vehicle's last fix time, or the
clock tick that changed it.

Precedence: ``offline`` (a terminal_offline episode is open, or a terminal_tampering one for a
loaded departure silent from the site gate) over ``suspected`` (a loaded silence of 5 min seen
by the clock, or one revealed at the reappearance and waiting for late fixes) over
``blacklisted`` (a listed vehicle) over ``in_incident`` (any other open episode) over the trip
phase.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tracker.trips.core.models import VehicleContext
from tracker.trips.core.rules_drive import OFFLINE, TAMPER
from tracker.trips.core.state import VehicleState, from_us
from tracker.wire import VehicleStateName as VState

Key = tuple[VState, str | None, str | None]  # state, trip id, permit id: what makes a change


def vehicle_state(state: VehicleState, ctx: VehicleContext) -> VState:
    tracks = state.tracks
    offline = tracks.get(OFFLINE)
    if offline is not None and offline.episode is not None:
        return "offline"
    tamper = tracks.get(TAMPER)
    silent_departure = (
        tamper is not None
        and tamper.episode is not None
        and (tamper.episode.detail.get("reason") == "silent_departure")
    )
    if silent_departure:
        return "offline"  # silent from the site gate: nothing to show but the last fix
    if state.suspected_us is not None or state.offline_pending:
        return "suspected"  # silent ≥ 5 min, or a silence that late fixes may still fill
    if ctx.blacklisted:
        return "blacklisted"
    if any(t.episode is not None for t in tracks.values()):
        return "in_incident"
    return state.trip.phase


def state_key(state: VehicleState, ctx: VehicleContext) -> Key:
    return vehicle_state(state, ctx), state.trip.trip_id, state.trip.permit_id


def state_at(state: VehicleState, now: datetime | None, previous: datetime | None) -> datetime:
    """When the state was reached: ``now`` for a tick, else the vehicle's last fix time; never
    before the previous message's ``at`` (consumers keep the newest, so it must not go back
    when a held-back batch turns an ``offline`` truck into a ``hauling`` one)."""
    if now is not None:
        at = now
    elif state.last is not None:
        at = from_us(state.last.t_us)
    else:
        at = datetime.now(UTC)
    return at if previous is None or at > previous else previous
