"""Session messages: general responses, heartbeat, logout, registration, authentication.

Each message is a frozen dataclass with its ``MSG_ID``, a ``decode(body, version)``
classmethod and an ``encode(version)`` method. Decoders raise ``ValueError`` / ``IndexError``
/ ``struct.error`` on a malformed body; :mod:`tracker.ingest.jt808.codec` turns those into
:class:`~tracker.ingest.jt808.errors.BodyError` in one place.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from tracker.ingest.jt808.errors import Result
from tracker.ingest.jt808.fields import decode_text, encode_text
from tracker.ingest.jt808.header import Version

_RESPONSE = struct.Struct(">HHB")
_REG_HEAD = struct.Struct(">HH")
IMEI_SIZE = 15
SOFTWARE_VERSION_SIZE = 20


@dataclass(frozen=True, slots=True)
class TerminalResponse:
    """0x0001: the terminal acknowledges a platform message."""

    MSG_ID: ClassVar[int] = 0x0001
    reply_serial: int
    reply_id: int
    result: int

    @classmethod
    def decode(cls, body: bytes, version: Version) -> Self:
        return cls(*_RESPONSE.unpack_from(body))

    def encode(self, version: Version) -> bytes:
        return _RESPONSE.pack(self.reply_serial & 0xFFFF, self.reply_id, self.result)


@dataclass(frozen=True, slots=True)
class PlatformResponse:
    """0x8001: the platform's general response (result: :class:`Result`)."""

    MSG_ID: ClassVar[int] = 0x8001
    reply_serial: int
    reply_id: int
    result: int = Result.OK

    @classmethod
    def decode(cls, body: bytes, version: Version) -> Self:
        return cls(*_RESPONSE.unpack_from(body))

    def encode(self, version: Version) -> bytes:
        return _RESPONSE.pack(self.reply_serial & 0xFFFF, self.reply_id, self.result)


@dataclass(frozen=True, slots=True)
class RetransmissionRequest:
    """0x8003: the platform asks for the missing packets of a sub-packaged message: the first
    packet's serial WORD, a count (BYTE in 2011/2013, WORD in 2019), then each packet index as
    a WORD."""

    MSG_ID: ClassVar[int] = 0x8003
    first_serial: int
    packet_ids: tuple[int, ...]

    @classmethod
    def decode(cls, body: bytes, version: Version) -> Self:
        (first,) = struct.unpack_from(">H", body)
        if version is Version.V2019:
            (count,) = struct.unpack_from(">H", body, 2)
            pos = 4
        else:
            count, pos = body[2], 3
        ids = struct.unpack_from(f">{count}H", body, pos)
        return cls(first, tuple(ids))

    def encode(self, version: Version) -> bytes:
        ids = self.packet_ids[: 0xFFFF if version is Version.V2019 else 0xFF]
        count = struct.pack(">H", len(ids)) if version is Version.V2019 else bytes((len(ids),))
        return (
            struct.pack(">H", self.first_serial & 0xFFFF)
            + count
            + struct.pack(f">{len(ids)}H", *ids)
        )


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """0x0002: empty by the spec; some devices attach data, kept raw and otherwise ignored."""

    MSG_ID: ClassVar[int] = 0x0002
    extra: bytes = b""

    @classmethod
    def decode(cls, body: bytes, version: Version) -> Self:
        return cls(bytes(body))

    def encode(self, version: Version) -> bytes:
        return self.extra


@dataclass(frozen=True, slots=True)
class Logout:
    """0x0003: terminal logout (empty body)."""

    MSG_ID: ClassVar[int] = 0x0003

    @classmethod
    def decode(cls, body: bytes, version: Version) -> Self:
        return cls()

    def encode(self, version: Version) -> bytes:
        return b""


# (manufacturer, model, terminal id) widths and the fixed part's size per revision.
REGISTRATION_WIDTHS: dict[Version, tuple[int, int, int]] = {
    Version.V2011: (5, 8, 7),
    Version.V2013: (5, 20, 7),
    Version.V2019: (11, 30, 30),
}


def _fixed_size(version: Version) -> int:
    return 4 + sum(REGISTRATION_WIDTHS[version]) + 1


MAX_PLATE_COLOR = 9  # JT/T 697.7 colour codes run 0-9 (9 = other)


def registration_version(body: bytes, header_version: Version) -> Version:
    """Which layout a 0x0100 body uses.

    2011 and 2013 share a header, so the body decides: the fixed part is 25 vs 37 bytes, and
    when both fit (a 2011 body carrying a 17-character VIN is 42 bytes) the plate-colour byte
    must hold a colour code, not text.
    """
    if header_version is Version.V2019 and len(body) >= _fixed_size(Version.V2019):
        return Version.V2019
    fits = [v for v in (Version.V2013, Version.V2011) if len(body) >= _fixed_size(v)]
    if not fits:
        raise ValueError(f"registration body of {len(body)} bytes is too short")
    for version in fits:
        if body[_fixed_size(version) - 1] <= MAX_PLATE_COLOR:
            return version
    return fits[0]


@dataclass(frozen=True, slots=True)
class Registration:
    """0x0100. ``plate`` is the VIN when ``plate_color`` is 0 (vehicle not yet registered)."""

    MSG_ID: ClassVar[int] = 0x0100
    province_id: int
    city_id: int
    manufacturer_id: str
    model: str
    terminal_id: str
    plate_color: int
    plate: str
    body_version: Version = Version.V2013

    @classmethod
    def decode(cls, body: bytes, version: Version) -> Self:
        body_version = registration_version(body, version)
        maker_w, model_w, id_w = REGISTRATION_WIDTHS[body_version]
        province, city = _REG_HEAD.unpack_from(body)
        pos = _REG_HEAD.size
        maker = decode_text(body[pos : pos + maker_w])
        pos += maker_w
        model = decode_text(body[pos : pos + model_w])
        pos += model_w
        terminal_id = decode_text(body[pos : pos + id_w])
        pos += id_w
        color = body[pos]
        plate = decode_text(body[pos + 1 :])
        return cls(province, city, maker, model, terminal_id, color, plate, body_version)

    def encode(self, version: Version) -> bytes:
        maker_w, model_w, id_w = REGISTRATION_WIDTHS[self.body_version]
        return b"".join(
            (
                _REG_HEAD.pack(self.province_id, self.city_id),
                encode_text(self.manufacturer_id, maker_w),
                encode_text(self.model, model_w),
                encode_text(self.terminal_id, id_w),
                bytes((self.plate_color,)),
                encode_text(self.plate),
            )
        )


class RegistrationResult:
    """0x8100 result codes."""

    OK = 0
    VEHICLE_ALREADY_REGISTERED = 1
    VEHICLE_UNKNOWN = 2
    TERMINAL_ALREADY_REGISTERED = 3
    TERMINAL_UNKNOWN = 4


@dataclass(frozen=True, slots=True)
class RegistrationReply:
    """0x8100: result and, only on success, the auth code the terminal sends back in 0x0102."""

    MSG_ID: ClassVar[int] = 0x8100
    reply_serial: int
    result: int
    auth_code: str | None = None

    @classmethod
    def decode(cls, body: bytes, version: Version) -> Self:
        serial, result = struct.unpack_from(">HB", body)
        code = decode_text(body[3:]) if result == RegistrationResult.OK else None
        return cls(serial, result, code)

    def encode(self, version: Version) -> bytes:
        head = struct.pack(">HB", self.reply_serial & 0xFFFF, self.result)
        if self.result != RegistrationResult.OK:
            return head
        return head + encode_text(self.auth_code or "")


@dataclass(frozen=True, slots=True)
class Authentication:
    """0x0102. 2011/2013: the body is the code. 2019: length-prefixed code, IMEI, version."""

    MSG_ID: ClassVar[int] = 0x0102
    auth_code: str
    imei: str | None = None
    software_version: str | None = None

    @classmethod
    def decode(cls, body: bytes, version: Version) -> Self:
        if version is Version.V2019 and body:
            code_len = body[0]
            if len(body) >= 1 + code_len + IMEI_SIZE:
                code = body[1 : 1 + code_len]
                imei = body[1 + code_len : 1 + code_len + IMEI_SIZE]
                rest = body[1 + code_len + IMEI_SIZE :]
                return cls(decode_text(code), decode_text(imei), decode_text(rest))
        # 2013 layout, or a flagged frame whose body does not fit the 2019 layout.
        return cls(decode_text(body))

    def encode(self, version: Version) -> bytes:
        code = encode_text(self.auth_code)
        if version is not Version.V2019:
            return code
        if len(code) > 0xFF:
            raise ValueError("auth code longer than 255 bytes")
        return b"".join(
            (
                bytes((len(code),)),
                code,
                encode_text(self.imei or "", IMEI_SIZE),
                encode_text(self.software_version or "", SOFTWARE_VERSION_SIZE),
            )
        )
