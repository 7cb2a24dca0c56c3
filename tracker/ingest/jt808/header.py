"""Message header: 2011/2013 (12 bytes, BCD[6] phone) and 2019 (17 bytes, version byte,
BCD[10] phone), each +4 bytes of packet item when sub-packaged.

Some terminals set the 2019 version flag (attribute bit 14) yet send a 2013 header. We tell
the two apart by length consistency: the layout for which ``len(payload) - header == declared
body length`` wins; when neither fits we trust the flag. Such a terminal is answered with a
plain 2013 header (flag clear), the layout its parser actually reads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import IntEnum

from tracker.ingest.jt808.errors import BodyError, HeaderError
from tracker.ingest.jt808.fields import bcd_encode, phone_from_bcd

BODY_LENGTH_MASK = 0x03FF
MAX_BODY_LENGTH = BODY_LENGTH_MASK
ENCRYPTION_SHIFT = 10
ENCRYPTION_MASK = 0x7
ENCRYPTION_RSA = 1
SUBPACKET_BIT = 1 << 13
VERSION_FLAG_BIT = 1 << 14

SHORT_HEADER = 12  # 2011/2013
LONG_HEADER = 17  # 2019
PACKET_ITEM = 4
SHORT_PHONE = 6
LONG_PHONE = 10

_SHORT = struct.Struct(">HH6sH")
_LONG = struct.Struct(">HHB10sH")
_PACKET = struct.Struct(">HH")


class Version(IntEnum):
    """Protocol revision. 2011 and 2013 share the header; only a registration tells them apart."""

    V2011 = 2011
    V2013 = 2013
    V2019 = 2019


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a terminal speaks, captured from its frames, so replies use its own dialect."""

    version: Version = Version.V2013
    protocol_version: int = 1  # the 2019 header's version byte
    flag_with_short_header: bool = False  # the bit-14-with-2013-header quirk

    @property
    def long_header(self) -> bool:
        return self.version is Version.V2019

    def refined(self, body_version: Version) -> Dialect:
        """Refine 2013 to 2011 (or back) from a registration body; the header kind stays."""
        if self.long_header or body_version is Version.V2019:
            return self
        return replace(self, version=body_version)


@dataclass(frozen=True, slots=True)
class Header:
    msg_id: int
    attributes: int
    phone_raw: bytes  # as received: replies echo it byte for byte
    serial: int
    version: Version  # V2013 for the short header, V2019 for the long one
    protocol_version: int | None = None
    packet_total: int | None = None
    packet_index: int | None = None
    flag_with_short_header: bool = False

    @property
    def body_length(self) -> int:
        return self.attributes & BODY_LENGTH_MASK

    @property
    def encryption(self) -> int:
        return (self.attributes >> ENCRYPTION_SHIFT) & ENCRYPTION_MASK

    @property
    def is_subpacket(self) -> bool:
        return bool(self.attributes & SUBPACKET_BIT)

    @property
    def phone(self) -> str:
        """Normalised terminal identity (leading zeros stripped; binary IMEI decoded)."""
        return phone_from_bcd(self.phone_raw)

    @property
    def dialect(self) -> Dialect:
        return Dialect(self.version, self.protocol_version or 1, self.flag_with_short_header)


def _long_layout(payload_len: int, attributes: int) -> tuple[bool, bool]:
    """(use the 2019 layout, flag set with a short header) for a frame's attributes."""
    if not attributes & VERSION_FLAG_BIT:
        return False, False
    declared = attributes & BODY_LENGTH_MASK
    extra = PACKET_ITEM if attributes & SUBPACKET_BIT else 0
    if payload_len - LONG_HEADER - extra == declared:
        return True, False
    if payload_len - SHORT_HEADER - extra == declared:
        return False, True
    return True, False


def parse_header(payload: bytes) -> tuple[Header, int]:
    """Parse the header of an unescaped payload (checksum removed); return it and its size."""
    if len(payload) < SHORT_HEADER:
        raise HeaderError(f"frame of {len(payload)} bytes is shorter than a header")
    attributes = int.from_bytes(payload[2:4], "big")
    long, quirk = _long_layout(len(payload), attributes)
    if long:
        if len(payload) < LONG_HEADER:
            raise HeaderError("frame too short for a 2019 header")
        msg_id, attributes, proto, phone, serial = _LONG.unpack_from(payload)
        header = Header(msg_id, attributes, phone, serial, Version.V2019, proto)
        size = LONG_HEADER
    else:
        msg_id, attributes, phone, serial = _SHORT.unpack_from(payload)
        header = Header(msg_id, attributes, phone, serial, Version.V2013, None, None, None, quirk)
        size = SHORT_HEADER
    if header.is_subpacket:
        if len(payload) < size + PACKET_ITEM:
            raise HeaderError("frame too short for its packet item")
        total, index = _PACKET.unpack_from(payload, size)
        header = replace(header, packet_total=total, packet_index=index)
        size += PACKET_ITEM
    return header, size


def slice_body(payload: bytes, header: Header, size: int, *, strict: bool) -> bytes:
    """The body after the header, reconciled with the declared length.

    Lenient: surplus bytes are ignored and a short body is taken as present (both occur in
    real captures). Strict: any disagreement is a bad message.
    """
    body = payload[size:]
    declared = header.body_length
    if len(body) == declared:
        return body
    if strict:
        raise BodyError(f"body has {len(body)} bytes, header declares {declared}", header=header)
    return body[:declared]


def phone_field(phone: str | bytes, dialect: Dialect) -> bytes:
    """The header's phone bytes for ``dialect``: digits are BCD-encoded, raw bytes re-padded."""
    size = LONG_PHONE if dialect.long_header else SHORT_PHONE
    if isinstance(phone, str):
        return bcd_encode(phone, size)
    if len(phone) <= size:
        return phone.rjust(size, b"\x00")
    trimmed = phone.lstrip(b"\x00")
    if len(trimmed) > size:
        raise ValueError(f"phone {phone.hex()} does not fit in BCD[{size}]")
    return trimmed.rjust(size, b"\x00")


def encode_header(
    msg_id: int,
    body_length: int,
    phone: str | bytes,
    serial: int,
    dialect: Dialect,
    packet: tuple[int, int] | None = None,
) -> bytes:
    """Header bytes in ``dialect``; ``packet`` is (total, index) for a sub-packet."""
    if not 0 <= body_length <= MAX_BODY_LENGTH:
        raise ValueError(f"body of {body_length} bytes needs sub-packaging")
    attributes = body_length | (SUBPACKET_BIT if packet else 0)
    raw_phone = phone_field(phone, dialect)
    serial &= 0xFFFF
    if dialect.long_header:
        attributes |= VERSION_FLAG_BIT
        out = _LONG.pack(msg_id, attributes, dialect.protocol_version, raw_phone, serial)
    else:
        out = _SHORT.pack(msg_id, attributes, raw_phone, serial)
    if packet:
        out += _PACKET.pack(*packet)
    return out
