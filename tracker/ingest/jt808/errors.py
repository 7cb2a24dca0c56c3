"""Errors of the JT/T 808 codec, defined once.

Every error says what the gateway should do with the frame that caused it: ``reply_result``
is the 0x8001 result code to answer with (2 bad message, 3 unsupported), or ``None`` when the
frame must be dropped silently (we could not even read whom to answer). ``header`` is the
parsed header when the failure came after it, so the reply can carry the right serial.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracker.ingest.jt808.header import Header


class Result(IntEnum):
    """Result codes of 0x0001 / 0x8001 general responses (4 exists only in 0x8001)."""

    OK = 0
    FAILURE = 1
    BAD_MESSAGE = 2
    UNSUPPORTED = 3
    ALARM_CONFIRMED = 4


class Jt808Error(Exception):
    """Base of every codec error. Nothing else escapes the codec on bad input."""

    reply_result: Result | None = None

    def __init__(self, message: str, *, header: Header | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.header = header

    @property
    def should_reply(self) -> bool:
        """True when the gateway should answer with a 0x8001 carrying ``reply_result``."""
        return self.reply_result is not None and self.header is not None


class FrameError(Jt808Error):
    """The frame itself is unusable (escaping, size, header): drop it."""


class CorruptFrameError(FrameError):
    """Invalid escape sequence (0x7D not followed by 0x01/0x02) or an empty frame."""


class HeaderError(FrameError):
    """Too short for a header, or a header that contradicts itself."""


class ChecksumError(Jt808Error):
    """XOR checksum mismatch (strict mode). The header was readable, so answer 'bad message'."""

    reply_result = Result.BAD_MESSAGE


class BodyError(Jt808Error):
    """The body does not match its message layout."""

    reply_result = Result.BAD_MESSAGE


class UnsupportedMessageError(Jt808Error):
    """A message id the codec does not decode."""

    reply_result = Result.UNSUPPORTED


class EncryptedMessageError(UnsupportedMessageError):
    """RSA (or reserved) encryption bits set; we hold no keys."""


class SubpacketError(Jt808Error):
    """A sub-packet that cannot belong to a reassembly (bad index/total)."""

    reply_result = Result.BAD_MESSAGE


class ReassemblyFullError(Jt808Error):
    """A sub-packet the platform cannot hold now (its limits are reached): not kept, answered 1
    so the terminal sends it again later."""

    reply_result = Result.FAILURE
