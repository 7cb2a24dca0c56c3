"""Framing: delimiters, escaping, checksum, the streaming splitter."""

from __future__ import annotations

import pytest

from tracker.ingest.jt808 import (
    LENIENT,
    STRICT,
    ChecksumError,
    CorruptFrameError,
    FrameSplitter,
    decode,
    decode_frame,
    escape,
    unescape,
    wrap,
)
from tracker.ingest.jt808.framing import checksum, seal

HEARTBEAT = bytes.fromhex("7E00020000012345678900000A817E")  # SmallChi 0x0002 Test1/Test2


def test_spec_escape_example() -> None:
    content = bytes.fromhex("307E087D55")
    wire = bytes.fromhex("7E307D02087D01557E")
    assert wrap(content) == wire
    assert unescape(escape(content)) == content
    (frame,) = FrameSplitter().feed(wire)
    assert unescape(frame) == content


@pytest.mark.parametrize(
    "content", [b"\x7d", b"\x7d\x03", b"\x30\x7d\x00\x01", b"\x7d\x7d\x01", b"ab\x7d"]
)
def test_invalid_escape_is_corrupt(content: bytes) -> None:
    with pytest.raises(CorruptFrameError):
        unescape(content)


def test_escape_order_does_not_double_escape() -> None:
    assert escape(b"\x7e\x7d") == b"\x7d\x02\x7d\x01"
    assert unescape(b"\x7d\x02\x7d\x01") == b"\x7e\x7d"


def test_checksum_is_xor() -> None:
    assert checksum(b"") == 0
    assert checksum(bytes.fromhex("00020000012345678900000A")) == 0x81


def test_escaped_checksum_byte() -> None:
    # SmallChi 0x0002 Test3: the checksum is 0x7E and travels as 7D 02.
    wire = bytes.fromhex("7E 00 02 00 00 04 00 21 67 92 87 00 2B 7D 02 7E".replace(" ", ""))
    (content,) = FrameSplitter().feed(wire)
    frame, _ = decode(content, STRICT)
    assert frame.raw[-1] == 0x7E
    assert frame.header.serial == 43
    assert frame.header.phone == "40021679287"


def test_seal_appends_checksum_and_escapes() -> None:
    assert seal(bytes.fromhex("00020000012345678900000A")) == HEARTBEAT


def test_bad_checksum_strict_and_lenient() -> None:
    bad = bytearray(HEARTBEAT[1:-1])
    bad[-1] ^= 0xFF
    with pytest.raises(ChecksumError) as err:
        decode_frame(bytes(bad), STRICT)
    assert err.value.should_reply and err.value.header is not None
    frame = decode_frame(bytes(bad), LENIENT)
    assert not frame.checksum_ok
    assert frame.header.serial == 10


def test_back_to_back_frames() -> None:
    frames = FrameSplitter().feed(HEARTBEAT * 3)
    assert frames == [HEARTBEAT[1:-1]] * 3


def test_partial_frames_byte_by_byte() -> None:
    splitter = FrameSplitter()
    out: list[bytes] = []
    for b in HEARTBEAT + HEARTBEAT:
        out += splitter.feed(bytes((b,)))
    assert out == [HEARTBEAT[1:-1]] * 2
    assert splitter.buffered == 0


def test_leading_and_trailing_garbage() -> None:
    splitter = FrameSplitter()
    frames = splitter.feed(b"\x01\x02garbage" + HEARTBEAT + b"trailing")
    assert frames == [HEARTBEAT[1:-1]]
    assert splitter.discarded_bytes == len(b"\x01\x02garbage")
    # The trailing bytes sit in the buffer as a candidate until the next delimiter...
    frames = splitter.feed(HEARTBEAT)
    # ...and come out as one bad candidate, which the decoder rejects; the frame after is intact.
    assert frames[0] == b"trailing"
    assert frames[1] == HEARTBEAT[1:-1]


def test_truncated_frame_followed_by_good_one() -> None:
    truncated = HEARTBEAT[:8]
    frames = FrameSplitter().feed(truncated + HEARTBEAT)
    assert frames[-1] == HEARTBEAT[1:-1]


def test_oversize_candidate_is_discarded_and_buffer_bounded() -> None:
    splitter = FrameSplitter(max_frame_bytes=64)
    assert splitter.feed(b"\x7e" + b"\x55" * 1000) == []
    assert splitter.buffered <= 64
    assert splitter.oversize_frames == 1
    # The delimiter ending the oversize candidate resynchronises the stream.
    assert splitter.feed(b"\x55" * 10 + HEARTBEAT) == [HEARTBEAT[1:-1]]
    assert splitter.buffered == 0


def test_splitter_rejects_silly_bound() -> None:
    with pytest.raises(ValueError):
        FrameSplitter(max_frame_bytes=0)
