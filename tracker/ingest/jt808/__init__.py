"""JT/T 808 codec: pure functions and objects, no I/O.

Gateway flow per connection::

    splitter = FrameSplitter()
    for content in splitter.feed(data):
        try:
            frame = decode_frame(content, options)
            if frame.header.is_subpacket:
                # ack the packet, then wait for the rest
                frame = reassembler.add(frame, now)
            message = decode_message(frame)          # dispatch by message id
        except Jt808Error as err:
            if err.should_reply:                     # 2 bad message / 3 unsupported
                send(general_reply(err.header, err.reply_result, serial=next_serial()))
            continue                                 # else drop the frame
        ...
        send(general_reply(frame.header, Result.OK, serial=next_serial()))

Replies are encoded in the terminal's own dialect (``frame.header.dialect``).
"""

from tracker.ingest.jt808.codec import (
    DECODERS,
    Message,
    decode,
    decode_message,
    encode_frames,
    encode_message,
    general_reply,
    registration_reply,
    reply_id_for,
)
from tracker.ingest.jt808.errors import (
    BodyError,
    ChecksumError,
    CorruptFrameError,
    EncryptedMessageError,
    FrameError,
    HeaderError,
    Jt808Error,
    Result,
    SubpacketError,
    UnsupportedMessageError,
)
from tracker.ingest.jt808.frame import LENIENT, STRICT, DecodeOptions, Frame, decode_frame
from tracker.ingest.jt808.framing import FrameSplitter, escape, seal, unescape, wrap
from tracker.ingest.jt808.header import Dialect, Header, Version
from tracker.ingest.jt808.location import (
    BatchKind,
    LoadState,
    LocationBatch,
    LocationExtras,
    LocationReport,
    make_location,
)
from tracker.ingest.jt808.messages import (
    Authentication,
    Heartbeat,
    Logout,
    PlatformResponse,
    Registration,
    RegistrationReply,
    RegistrationResult,
    TerminalResponse,
)
from tracker.ingest.jt808.sensors import (
    STANDARD,
    SensorMapping,
    SignalSource,
    location_to_fix_fields,
    sensor_states,
)
from tracker.ingest.jt808.subpackets import Reassembler

__all__ = [
    "DECODERS",
    "LENIENT",
    "STANDARD",
    "STRICT",
    "Authentication",
    "BatchKind",
    "BodyError",
    "ChecksumError",
    "CorruptFrameError",
    "DecodeOptions",
    "Dialect",
    "EncryptedMessageError",
    "Frame",
    "FrameError",
    "FrameSplitter",
    "Header",
    "HeaderError",
    "Heartbeat",
    "Jt808Error",
    "LoadState",
    "LocationBatch",
    "LocationExtras",
    "LocationReport",
    "Logout",
    "Message",
    "PlatformResponse",
    "Reassembler",
    "Registration",
    "RegistrationReply",
    "RegistrationResult",
    "Result",
    "SensorMapping",
    "SignalSource",
    "SubpacketError",
    "TerminalResponse",
    "UnsupportedMessageError",
    "Version",
    "decode",
    "decode_frame",
    "decode_message",
    "encode_frames",
    "encode_message",
    "escape",
    "general_reply",
    "location_to_fix_fields",
    "make_location",
    "registration_reply",
    "reply_id_for",
    "seal",
    "sensor_states",
    "unescape",
    "wrap",
]
