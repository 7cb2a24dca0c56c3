"""The live hub of one API process: its clients, their subscriptions, and routing.

The hub keeps a mirror of every vehicle's newest fix (seeded from ``LATEST_KEY`` and kept
current by the feed), so a snapshot is built from memory. Routing a fix updates the mirror first,
then offers the fix to the clients whose grid cells, followed vehicles or wide viewports it
touches; each client's :class:`CoalescingQueue` keeps it bounded.

Each vehicle's entry also carries the engine's state of the truck (``state``, ``trip_id``,
``permit_id``, ``state_at``): a state change re-routes the vehicle's newest fix with the new state,
so clients see it as a delta like any fix. The newest capacity alert of each disposal yard is
kept for snapshots too.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tracker import metrics
from tracker.live.queue import CoalescingQueue, Item
from tracker.live.subscription import Subscription, SubscriptionIndex
from tracker.wire import IncidentMessage, Timed, VehicleStateMessage, YardAlert, epoch_us

RECENT_INCIDENTS = 100
_FIX_PROPS = (
    "speed_kmh",
    "heading_deg",
    "ignition",
    "loaded",
    "body_lifted",
    "cover_closed",
    "alarm_bits",
)


def iso_from_us(t_us: int) -> str:
    moment = datetime.fromtimestamp(t_us / 1_000_000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class VehicleState:
    """A vehicle's newest fix as sent to clients, with what routing needs."""

    t_us: int
    lon: float
    lat: float
    company_id: int | None
    item: Item


@dataclass(frozen=True, slots=True)
class EngineState:
    """What the engine says a truck is doing (a ``VehicleStateMessage``), as of ``at_us``."""

    state: str
    trip_id: str | None
    permit_id: str | None
    at_us: int

    def fields(self) -> Item:
        return {
            "state": self.state,
            "trip_id": self.trip_id,
            "permit_id": self.permit_id,
            "state_at": iso_from_us(self.at_us),
        }


def engine_state_of(message: VehicleStateMessage) -> EngineState:
    return EngineState(message.state, message.trip_id, message.permit_id, epoch_us(message.at))


@dataclass(slots=True)
class LiveClient:
    key: int
    company_id: int | None  # a company user's own company: everything is restricted to it
    queue: CoalescingQueue
    subscription: Subscription | None = None
    sent_messages: int = 0
    sent_fixes: int = 0


class LiveHub:
    def __init__(self, *, max_vehicles: int = 10_000, max_events: int = 256) -> None:
        self._keys = itertools.count(1)
        self._max_vehicles = max_vehicles
        self._max_events = max_events
        self.clients: dict[int, LiveClient] = {}
        self.index = SubscriptionIndex()
        self.latest: dict[int, VehicleState] = {}
        self.incidents: deque[Item] = deque(maxlen=RECENT_INCIDENTS)
        self._incident_clients: set[int] = set()
        self.engine_states: dict[int, EngineState] = {}
        self.yard_alerts: dict[int, Item] = {}  # yard id -> its newest capacity alert
        self.routed_fixes = 0
        self.deliveries = 0

    def connect(self, company_id: int | None = None) -> LiveClient:
        key = next(self._keys)
        client = LiveClient(key, company_id, CoalescingQueue(self._max_vehicles, self._max_events))
        self.clients[key] = client
        metrics.WS_CLIENTS.set(len(self.clients))
        return client

    def client_count(self) -> int:
        return len(self.clients)

    def disconnect(self, client: LiveClient) -> None:
        self.clients.pop(client.key, None)
        metrics.WS_CLIENTS.set(len(self.clients))
        self.index.remove(client.key)
        self._incident_clients.discard(client.key)

    def subscribe(self, client: LiveClient, sub: Subscription, request_id: str) -> None:
        """Replace the client's subscription; its next message is a fresh snapshot."""
        sub = sub.restricted_to(client.company_id)
        client.subscription = sub
        self.index.put(client.key, sub)
        if sub.incident_types:
            self._incident_clients.add(client.key)
        else:
            self._incident_clients.discard(client.key)
        client.queue.request_snapshot(request_id)

    def apply(self, timed: Timed, company_id: int | None, extra: Item) -> bool:
        """Take a stored fix (decoded from a stream row) into the mirror and route it; False if
        stale."""
        t_us, received_us, fix = timed
        vid = fix.vehicle_id
        held = self.latest.get(vid)
        if held is not None and held.t_us >= t_us:
            return False
        item: Item = {
            "vehicle_id": vid,
            "lon": fix.lon,
            "lat": fix.lat,
            "time": iso_from_us(t_us),
            "received_us": received_us,
        }
        for name in _FIX_PROPS:
            value = getattr(fix, name)
            if value is not None:
                item[name] = value
        item.update(extra)
        engine = self.engine_states.get(vid)
        if engine is not None:
            item.update(engine.fields())
        state = VehicleState(t_us, fix.lon, fix.lat, company_id, item)
        self.latest[vid] = state
        self._route(vid, state)
        return True

    def _route(self, vid: int, state: VehicleState) -> None:
        self.routed_fixes += 1
        clients = self.clients
        for key in set(self.index.candidates(vid, state.lon, state.lat)):
            client = clients.get(key)
            sub = client.subscription if client is not None else None
            if client is None or sub is None:
                continue
            if sub.wants_fix(vid, state.lon, state.lat, state.company_id):
                client.queue.put_fix(vid, state.t_us, state.item)
                self.deliveries += 1

    def seed(self, vid: int, state: VehicleState) -> None:
        """Take a fix read from ``LATEST_KEY`` (no routing: clients ask for snapshots)."""
        held = self.latest.get(vid)
        if held is None or held.t_us < state.t_us:
            engine = self.engine_states.get(vid)
            if engine is not None:
                state.item = {**state.item, **engine.fields()}
            self.latest[vid] = state

    def engine_state(self, vid: int, engine: EngineState) -> bool:
        """Take the engine's state of a truck; False if an older one. A truck with a fix is
        re-routed with the new state (a delta with the same fix), so clients recolour it."""
        held = self.engine_states.get(vid)
        if held is not None and held.at_us > engine.at_us:
            return False
        self.engine_states[vid] = engine
        fix = self.latest.get(vid)
        if fix is not None and held != engine:
            # A new dict: the old one may sit in a client's queue or a snapshot being sent.
            fix.item = {**fix.item, **engine.fields()}
            self._route(vid, fix)
        return True

    def yard_alert(self, alert: YardAlert) -> None:
        """A disposal yard's capacity alert: kept (newest per yard) and sent to every client."""
        fields = alert.fields()
        self.yard_alerts[alert.yard_id] = fields
        self.broadcast(fields)

    def incident(self, message: IncidentMessage, company_id: int | None, **extra: Any) -> int:
        """Offer an incident to the clients subscribed to its type; how many took it."""
        event = {**message.fields(), **extra, "company_id": company_id}
        self.incidents.append(event)
        kind = str(event.get("type", ""))
        taken = 0
        for key in list(self._incident_clients):
            client = self.clients.get(key)
            if client is None or client.subscription is None:
                continue
            if client.subscription.wants_incident(kind, company_id):
                client.queue.put_event({"type": "incident", "incident": event})
                taken += 1
        return taken

    def stats(self) -> dict[str, Any]:
        queues = [c.queue for c in self.clients.values()]
        return {
            "clients": len(self.clients),
            "vehicles": len(self.latest),
            "routed_fixes": self.routed_fixes,
            "deliveries": self.deliveries,
            "queued_fixes": sum(q.pending_fixes for q in queues),
            "largest_queue": max((q.pending_fixes for q in queues), default=0),
            "coalesced": sum(q.coalesced for q in queues),
            "overflows": sum(q.overflows for q in queues),
        }

    def broadcast(self, event: Item) -> None:
        for client in self.clients.values():
            client.queue.put_event(event)

    def snapshot(self, client: LiveClient) -> tuple[list[Item], list[Item]]:
        """The vehicles and recent incidents the client's subscription admits (the yard alerts
        are for everyone: :attr:`yard_alerts`)."""
        sub = client.subscription
        if sub is None:
            return [], []
        vehicles = [
            s.item
            for vid, s in self.latest.items()
            if sub.wants_fix(vid, s.lon, s.lat, s.company_id)
        ]
        incidents = [
            e
            for e in self.incidents
            if sub.wants_incident(str(e.get("type", "")), e.get("company_id"))
        ]
        return vehicles, incidents
