"""Malformed frames give the codec's own errors, each telling the gateway what to do."""

from __future__ import annotations

import pytest

from tracker.ingest.jt808 import (
    STRICT,
    BodyError,
    ChecksumError,
    CorruptFrameError,
    EncryptedMessageError,
    HeaderError,
    Jt808Error,
    Result,
    SubpacketError,
    UnsupportedMessageError,
    decode,
    decode_frame,
    general_reply,
)
from tracker.ingest.jt808.framing import escape

HEARTBEAT_PAYLOAD = bytes.fromhex("00020000012345678900000A")


def content(payload: bytes) -> bytes:
    """Escaped frame content (no delimiters) with a correct checksum."""
    cs = 0
    for b in payload:
        cs ^= b
    return escape(payload + bytes((cs,)))


@pytest.mark.parametrize(
    ("raw", "error", "reply"),
    [
        (b"\x7d\x05abc", CorruptFrameError, None),
        (b"\x01", CorruptFrameError, None),
        (content(bytes.fromhex("0002000001")), HeaderError, None),
        (content(HEARTBEAT_PAYLOAD)[:-1] + b"\x00", ChecksumError, Result.BAD_MESSAGE),
        # declares 5 body bytes, carries none (strict length)
        (content(bytes.fromhex("00010005012345678900000A")), BodyError, Result.BAD_MESSAGE),
        # 0x0001 whose 3 bytes cannot hold serial, id and result
        (content(bytes.fromhex("00010003012345678900000A000102")), BodyError, Result.BAD_MESSAGE),
        # 0x0200 shorter than its 28-byte basic block
        (content(bytes.fromhex("02000002012345678900000A0001")), BodyError, Result.BAD_MESSAGE),
        # unknown message id
        (
            content(bytes.fromhex("0F0F0000012345678900000A")),
            UnsupportedMessageError,
            Result.UNSUPPORTED,
        ),
        # RSA-encrypted body
        (
            content(bytes.fromhex("02000400012345678900000A")),
            EncryptedMessageError,
            Result.UNSUPPORTED,
        ),
        # sub-packet index beyond total, decoded without reassembly
        (
            content(bytes.fromhex("02002000012345678900000A00020003")),
            SubpacketError,
            Result.BAD_MESSAGE,
        ),
    ],
)
def test_malformed(raw: bytes, error: type[Jt808Error], reply: Result | None) -> None:
    with pytest.raises(error) as info:
        decode(raw, STRICT)
    assert info.value.reply_result == reply
    assert info.value.should_reply == (reply is not None)


def test_negative_reply_echoes_serial_and_dialect() -> None:
    raw = content(bytes.fromhex("0F0F0000012345678900002A"))
    with pytest.raises(UnsupportedMessageError) as info:
        decode(raw)
    header = info.value.header
    assert header is not None and info.value.reply_result is not None
    wire = general_reply(header, info.value.reply_result, serial=9)
    reply = decode_frame(wire[1:-1], STRICT)
    assert reply.header.msg_id == 0x8001 and reply.header.serial == 9
    assert reply.header.phone_raw == header.phone_raw
    assert reply.body == bytes.fromhex("002A0F0F03")  # terminal serial, its id, unsupported


def test_body_length_lenient_surplus_is_ignored() -> None:
    # francistm-0200-2-device style: surplus bytes before a valid checksum.
    payload = bytes.fromhex("00020000012345678900000A") + b"\x00\x00\x00"
    frame, _ = decode(content(payload))
    assert frame.body == b""
    with pytest.raises(BodyError):
        decode(content(payload), STRICT)


def test_bad_time_rejects_fix_not_frame() -> None:
    body = bytes(8) + bytes.fromhex("0000000200000001") + bytes(6) + bytes.fromhex("9999999999FF")
    payload = bytes.fromhex("0200001C012345678900000A") + body
    _, msg = decode(content(payload), STRICT)
    assert getattr(msg, "fix_time", "missing") is None
