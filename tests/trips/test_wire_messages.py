"""The typed messages on the pub/sub channels: each decodes what it encodes, and refuses what
is not one of them (subscribers log and skip those)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tracker.wire import (
    VEHICLE_STATES,
    FenceChange,
    IncidentMessage,
    VehicleStateMessage,
    YardAlert,
    rfc3339,
)

AT = datetime(2026, 11, 23, 8, 0, 1, 250_000, tzinfo=UTC)


def test_fence_change_round_trip() -> None:
    for change in (FenceChange("upsert", 3, 7), FenceChange("remove", 4, 9)):
        assert FenceChange.decode(change.encode()) == change


def test_incident_round_trip() -> None:
    message = IncidentMessage(
        type="route_deviation",
        vehicle_id=12,
        lon=104.05,
        lat=30.65,
        time=rfc3339(AT),
        event="opened",
        incident_id="inc-1",
        severity="normal",
        status="open",
    )
    assert IncidentMessage.decode(message.encode()) == message
    assert "detail" not in message.fields()
    assert IncidentMessage.decode(b'{"type": "speeding"}') == IncidentMessage("speeding")


def test_vehicle_state_round_trip() -> None:
    for state in VEHICLE_STATES:
        message = VehicleStateMessage(12, state, "trip-1", "17", AT)
        assert VehicleStateMessage.decode(message.encode()) == message
    assert b'"at":"2026-11-23T08:00:01.250000Z"' in message.encode()


def test_yard_alert_round_trip() -> None:
    alert = YardAlert(yard_id=4, level=95, fill_pct=96.5, closed=False, at=rfc3339(AT))
    assert YardAlert.decode(alert.encode()) == alert
    assert alert.fields()["type"] == "yard_capacity"


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (FenceChange, b'{"op": "move", "id": 1, "version": 1}'),
        (IncidentMessage, b"not json"),
        (IncidentMessage, b'{"vehicle_id": 3}'),
        (IncidentMessage, b"[1, 2]"),
        (VehicleStateMessage, b'{"vehicle_id": 3, "state": "flying", "at": "2026-11-23T08:00Z"}'),
        (VehicleStateMessage, b'{"vehicle_id": 3, "state": "idle", "at": "x"}'),
        (VehicleStateMessage, b'{"vehicle_id": true, "state": "idle", "at": "2026-11-23T08:00Z"}'),
        (YardAlert, b'{"type": "yard_capacity", "yard_id": 4, "level": "warning"}'),
    ],
)
def test_what_is_not_a_message_is_refused(kind: type, raw: bytes) -> None:
    with pytest.raises(ValueError):
        kind.decode(raw)


def test_revocation_round_trip() -> None:
    from tracker.wire import Revocation

    for message in (Revocation("terminal", 3), Revocation("vehicle", 4), Revocation("user", 5)):
        assert Revocation.decode(message.encode()) == message
    with pytest.raises(ValueError, match="kind"):
        Revocation.decode(b'{"kind": "company", "id": 1}')
    with pytest.raises(ValueError, match="id"):
        Revocation.decode(b'{"kind": "user", "id": "1"}')
