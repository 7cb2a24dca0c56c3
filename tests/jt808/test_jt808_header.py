"""Header layouts, attributes, dialect capture and replies in the terminal's dialect."""

from __future__ import annotations

import pytest

from tracker.ingest.jt808 import (
    STRICT,
    Dialect,
    Header,
    Heartbeat,
    RegistrationReply,
    Version,
    decode,
    decode_frame,
    encode_message,
    general_reply,
    registration_reply,
    reply_id_for,
)
from tracker.ingest.jt808.header import encode_header, phone_field


@pytest.mark.parametrize(
    ("attributes", "length", "rsa", "subpacket", "flag"),
    [  # SmallChi JT808HeaderMessageBodyPropertyTest check values
        (0x24FF, 255, True, True, False),
        (0x64FF, 255, True, True, True),
        (0x44FF, 255, True, False, True),
    ],
)
def test_attribute_bits(
    attributes: int, length: int, rsa: bool, subpacket: bool, flag: bool
) -> None:
    header = Header(0x0200, attributes, bytes(6), 0, Version.V2013)
    assert header.body_length == length
    assert (header.encryption == 1) is rsa
    assert header.is_subpacket is subpacket
    assert bool(attributes & 0x4000) is flag


def test_header_sizes() -> None:
    assert len(encode_header(2, 0, "1", 0, Dialect(Version.V2013))) == 12
    assert len(encode_header(2, 0, "1", 0, Dialect(Version.V2013), (2, 1))) == 16
    assert len(encode_header(2, 0, "1", 0, Dialect(Version.V2019))) == 17
    assert len(encode_header(2, 0, "1", 0, Dialect(Version.V2019), (2, 1))) == 21
    with pytest.raises(ValueError):
        encode_header(2, 1024, "1", 0, Dialect())


def test_2019_phone_is_bcd10() -> None:
    wire = encode_message(
        Heartbeat(), phone="12345678901234567890", serial=1, dialect=Dialect(Version.V2019, 3)
    )
    frame, _ = decode(wire[1:-1], STRICT)
    assert frame.header.phone == "12345678901234567890"
    assert frame.header.protocol_version == 3
    assert frame.header.dialect == Dialect(Version.V2019, 3)


def test_phone_field_repads_raw_bytes() -> None:
    assert phone_field(bytes.fromhex("013800138000"), Dialect(Version.V2019)) == bytes.fromhex(
        "00000000013800138000"
    )
    assert phone_field(bytes.fromhex("00000000013800138000"), Dialect()) == bytes.fromhex(
        "013800138000"
    )


@pytest.mark.parametrize("dialect", [Dialect(Version.V2013), Dialect(Version.V2019, 1)])
def test_replies_use_the_terminals_dialect(dialect: Dialect) -> None:
    request = encode_message(Heartbeat(), phone="13800138000", serial=77, dialect=dialect)
    header = decode_frame(request[1:-1]).header
    reply = decode_frame(general_reply(header, serial=5)[1:-1], STRICT)
    assert reply.header.version is header.version
    assert reply.header.phone_raw == header.phone_raw
    assert reply.body == bytes.fromhex("004D000200")


def test_quirk_terminal_is_answered_with_plain_2013_header() -> None:
    header = decode_frame(
        bytes.fromhex("0102400C01003000068109024A313030333030303036383185")
    ).header
    assert header.flag_with_short_header
    reply = decode_frame(registration_reply(header, 0, "abc", serial=1)[1:-1], STRICT)
    assert reply.header.attributes & 0x4000 == 0
    assert reply.header.phone_raw == header.phone_raw
    _, msg = decode(registration_reply(header, 0, "abc", serial=1)[1:-1])
    assert msg == RegistrationReply(0x0902, 0, "abc")


def test_dialect_refined_by_registration() -> None:
    assert Dialect(Version.V2013).refined(Version.V2011) == Dialect(Version.V2011)
    assert Dialect(Version.V2019).refined(Version.V2011) == Dialect(Version.V2019)


def test_reply_ids() -> None:
    assert reply_id_for(0x0100) == 0x8100
    assert reply_id_for(0x0001) is None
    for msg_id in (0x0002, 0x0003, 0x0102, 0x0200, 0x0704):
        assert reply_id_for(msg_id) == 0x8001
