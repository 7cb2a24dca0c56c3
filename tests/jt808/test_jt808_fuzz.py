"""Fuzz the splitter and decoder: garbage never crashes, hangs or grows memory."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.ingest.jt808 import (
    LENIENT,
    STRICT,
    FrameSplitter,
    Jt808Error,
    Reassembler,
    decode_frame,
    decode_message,
)
from tracker.ingest.jt808.framing import seal

BOUND = 256
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes biased towards the ones that matter to the codec.
special = st.sampled_from([0x7E, 0x7D, 0x01, 0x02, 0x00, 0xFF, 0x40, 0x20])
byte = st.one_of(st.integers(0, 255), special)
chunk = st.lists(byte, max_size=400).map(bytes)


def frame_like() -> st.SearchStrategy[bytes]:
    """Plausible frames: a real header for a known id, random body, valid checksum."""
    ids = st.sampled_from([0x0001, 0x0002, 0x0003, 0x0100, 0x0102, 0x0200, 0x0704, 0x8001, 0x8100])
    attrs = st.integers(0, 0xFFFF)
    body = st.lists(byte, max_size=120).map(bytes)
    return st.builds(
        lambda i, a, b: seal(i.to_bytes(2, "big") + a.to_bytes(2, "big") + bytes(8) + b),
        ids, attrs, body,
    )  # fmt: skip


def run(chunks: list[bytes]) -> None:
    splitter = FrameSplitter(max_frame_bytes=BOUND)
    assembler = Reassembler(max_messages=4)
    for data in chunks:
        for content in splitter.feed(data):
            assert len(content) <= BOUND
            for options in (STRICT, LENIENT):
                try:
                    frame = decode_frame(content, options)
                    if frame.header.is_subpacket:
                        whole = assembler.add(frame, now=0.0)
                        if whole is None:
                            continue
                        frame = whole
                    decode_message(frame)
                except Jt808Error:
                    pass
        assert splitter.buffered <= BOUND
        assert len(assembler) <= 4


@FUZZ
@given(st.lists(chunk, max_size=8))
def test_random_bytes(chunks: list[bytes]) -> None:
    run(chunks)


@FUZZ
@given(st.lists(st.one_of(frame_like(), chunk), max_size=8), st.integers(1, 64))
def test_frames_mixed_with_garbage_in_random_reads(parts: list[bytes], size: int) -> None:
    stream = b"".join(parts)
    run([stream[i : i + size] for i in range(0, len(stream), size)])
