"""Messages in and out: decode a frame's body through a table keyed by message id, and
encode messages (replies, simulator traffic) into wire frames in a terminal's dialect."""

from __future__ import annotations

import struct
from collections.abc import Callable

from tracker.ingest.jt808.errors import BodyError, Result, SubpacketError, UnsupportedMessageError
from tracker.ingest.jt808.frame import DEFAULT_OPTIONS, DecodeOptions, Frame, decode_frame
from tracker.ingest.jt808.framing import seal
from tracker.ingest.jt808.header import MAX_BODY_LENGTH, Dialect, Header, Version, encode_header
from tracker.ingest.jt808.location import LocationBatch, LocationReport
from tracker.ingest.jt808.messages import (
    Authentication,
    Heartbeat,
    Logout,
    PlatformResponse,
    Registration,
    RegistrationReply,
    RetransmissionRequest,
    TerminalResponse,
)

Message = (
    TerminalResponse
    | PlatformResponse
    | Heartbeat
    | Logout
    | Registration
    | RegistrationReply
    | Authentication
    | LocationReport
    | LocationBatch
    | RetransmissionRequest
)

_MESSAGE_TYPES: tuple[type[Message], ...] = (
    TerminalResponse,
    PlatformResponse,
    Heartbeat,
    Logout,
    Registration,
    RegistrationReply,
    Authentication,
    LocationReport,
    LocationBatch,
    RetransmissionRequest,
)
DECODERS: dict[int, Callable[[bytes, Version], Message]] = {
    cls.MSG_ID: cls.decode for cls in _MESSAGE_TYPES
}
# Terminal messages and the platform message that answers them; 0x0001 needs no answer.
REPLY_IDS: dict[int, int | None] = {
    TerminalResponse.MSG_ID: None,
    Registration.MSG_ID: RegistrationReply.MSG_ID,
}
_MALFORMED = (ValueError, IndexError, struct.error)
DEFAULT_DIALECT = Dialect()


def reply_id_for(msg_id: int) -> int | None:
    """Which message answers ``msg_id``: 0x8100 for a registration, else 0x8001."""
    return REPLY_IDS.get(msg_id, PlatformResponse.MSG_ID)


def decode_message(frame: Frame) -> Message:
    """A complete frame's body to its message (reassemble sub-packets first)."""
    header = frame.header
    if header.packet_total is not None:
        raise SubpacketError("sub-packet: reassemble before decoding", header=header)
    decoder = DECODERS.get(header.msg_id)
    if decoder is None:
        raise UnsupportedMessageError(f"message {header.msg_id:#06x}", header=header)
    try:
        return decoder(frame.body, header.version)
    except _MALFORMED as exc:
        raise BodyError(f"message {header.msg_id:#06x}: {exc}", header=header) from exc


def decode(content: bytes, options: DecodeOptions = DEFAULT_OPTIONS) -> tuple[Frame, Message]:
    """Splitter output to (frame, message) for single-packet messages."""
    frame = decode_frame(content, options)
    return frame, decode_message(frame)


def encode_frames(
    message: Message, *, phone: str | bytes, serial: int, dialect: Dialect = DEFAULT_DIALECT
) -> list[bytes]:
    """Wire frames for ``message``; bodies over 1023 bytes are sub-packaged with consecutive
    serial numbers starting at ``serial``."""
    body = message.encode(dialect.version)
    if len(body) <= MAX_BODY_LENGTH:
        return [seal(encode_header(message.MSG_ID, len(body), phone, serial, dialect) + body)]
    chunks = [body[i : i + MAX_BODY_LENGTH] for i in range(0, len(body), MAX_BODY_LENGTH)]
    return [
        seal(
            encode_header(
                message.MSG_ID, len(chunk), phone, serial + i, dialect, (len(chunks), i + 1)
            )
            + chunk
        )
        for i, chunk in enumerate(chunks)
    ]


def encode_message(
    message: Message, *, phone: str | bytes, serial: int, dialect: Dialect = DEFAULT_DIALECT
) -> bytes:
    """One wire frame (``ValueError`` if the body needs sub-packaging)."""
    body = message.encode(dialect.version)
    return seal(encode_header(message.MSG_ID, len(body), phone, serial, dialect) + body)


def general_reply(request: Header, result: int = Result.OK, *, serial: int) -> bytes:
    """0x8001 answering ``request``, in the terminal's dialect. ``serial`` is the platform's
    own counter; the terminal's serial goes into the body."""
    body = PlatformResponse(request.serial, request.msg_id, result)
    return encode_message(body, phone=request.phone_raw, serial=serial, dialect=request.dialect)


def registration_reply(
    request: Header, result: int, auth_code: str | None = None, *, serial: int
) -> bytes:
    """0x8100 answering a registration; the code is sent only with result 0."""
    body = RegistrationReply(request.serial, result, auth_code)
    return encode_message(body, phone=request.phone_raw, serial=serial, dialect=request.dialect)
