"""Every message round-trips through encode -> wire -> split -> decode in every dialect."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tracker.ingest.jt808 import (
    STRICT,
    Authentication,
    Dialect,
    FrameSplitter,
    Heartbeat,
    LocationBatch,
    Logout,
    Message,
    PlatformResponse,
    Reassembler,
    Registration,
    RegistrationReply,
    TerminalResponse,
    Version,
    decode,
    decode_frame,
    decode_message,
    encode_frames,
    encode_message,
    make_location,
)

DIALECTS = {
    "2011": Dialect(Version.V2011),
    "2013": Dialect(Version.V2013),
    "2019": Dialect(Version.V2019, protocol_version=1),
}
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
REPORT = make_location(
    lon=-116.397128,
    lat=-39.916527,
    fix_time=WHEN,
    speed_kmh=45.6,
    heading_deg=271,
    altitude_m=-12,
    alarm_bits=1 << 1,
    status_bits=0b11 | (0b11 << 8),
    extras=((0x01, (12345).to_bytes(4, "big")), (0x31, b"\x0c"), (0xE1, b"\x7e\x7d")),
)


def messages(version: Version) -> list[Message]:
    return [
        TerminalResponse(0xFFFF, 0x8103, 1),
        PlatformResponse(7, 0x0200, 4),
        Heartbeat(),
        Heartbeat(b"\x01\x02\x03"),
        Logout(),
        Registration(44, 303, "70111", "BSJ-A6", "0567872", 1, "粤B88888", version),
        Registration(0, 0, "M", "X", "ID", 0, "LSVAU2180N2183294", version),  # VIN when colour 0
        RegistrationReply(3, 0, "c0de-粤"),
        RegistrationReply(3, 4, None),
        Authentication("auth-code")
        if version is not Version.V2019
        else Authentication("auth-code", "123456789012345", "1.2.3"),
        REPORT,
        LocationBatch(1, (REPORT, REPORT)),
    ]


@pytest.mark.parametrize("name", list(DIALECTS))
def test_round_trip_every_message(name: str) -> None:
    dialect = DIALECTS[name]
    for serial, msg in enumerate(messages(dialect.version)):
        wire = encode_message(msg, phone="13800138000", serial=serial, dialect=dialect)
        (content,) = FrameSplitter().feed(wire)
        frame, decoded = decode(content, STRICT)
        assert decoded == msg, name
        assert frame.header.serial == serial
        assert frame.header.phone == "13800138000"
        assert frame.header.version is (Version.V2019 if name == "2019" else Version.V2013)


def test_location_values_survive_round_trip() -> None:
    wire = encode_message(REPORT, phone="1", serial=1)
    (content,) = FrameSplitter().feed(wire)
    _, msg = decode(content)
    assert msg == REPORT
    assert msg.fix_time == WHEN
    assert (msg.lon, msg.lat, msg.altitude_m) == (-116.397128, -39.916527, -12)
    assert msg.decoded.mileage_km == 1234.5 and msg.decoded.satellites == 12


def test_registration_widths_enforced() -> None:
    too_long = Registration(0, 0, "M" * 6, "X", "ID", 1, "P", Version.V2011)
    with pytest.raises(ValueError):
        encode_message(too_long, phone="1", serial=1)


def test_long_body_is_subpackaged_and_reassembled() -> None:
    batch = LocationBatch(0, (REPORT,) * 60)  # ~2.8 kB body
    dialect = DIALECTS["2019"]
    wires = encode_frames(batch, phone="13800138000", serial=0xFFFE, dialect=dialect)
    assert len(wires) == 3
    splitter, assembler = FrameSplitter(), Reassembler()
    whole = None
    for wire in reversed(wires):  # out of order on purpose
        (content,) = splitter.feed(wire)
        frame = decode_frame(content, STRICT)
        assert frame.header.is_subpacket and frame.header.packet_total == 3
        whole = assembler.add(frame, now=0.0)
    assert whole is not None and len(assembler) == 0
    assert whole.header.serial == 0xFFFE  # serials wrap: 0xFFFE, 0xFFFF, 0x0000
    assert decode_message(whole) == batch


def test_reassembler_is_bounded() -> None:
    wires = encode_frames(LocationBatch(0, (REPORT,) * 60), phone="1", serial=0)
    first = decode_frame(FrameSplitter().feed(wires[0])[0])
    assembler = Reassembler(max_messages=2, max_age_s=10)
    for serial in range(0, 300, 3):  # many different messages, each incomplete
        assembler.add(replace(first, header=replace(first.header, serial=serial)), now=0.0)
    assert len(assembler) == 2 and assembler.budget.evicted == 98
    latest = replace(first, header=replace(first.header, serial=297))
    assert assembler.missing(latest) == [2, 3]
    assembler.expire(now=11.0)
    assert len(assembler) == 0
