"""Byte stream to frames: delimiters, escaping, checksum.

On the wire a message is ``7E | escaped(header + body + checksum) | 7E``. Inside the
delimiters 0x7E travels as ``7D 02`` and 0x7D as ``7D 01``; the checksum is the XOR of the
unescaped header and body.

:class:`FrameSplitter` treats every 0x7E as a boundary and yields what lies between two of
them, so back-to-back frames (``7E 7E``), partial reads and garbage between frames all fall
out of one rule; bytes before the first delimiter are garbage. Its buffer never holds more
than ``max_frame_bytes``: a candidate that grows past it is discarded up to the next 0x7E.
"""

from __future__ import annotations

from functools import reduce
from operator import xor

from tracker.ingest.jt808.errors import CorruptFrameError

FLAG = 0x7E
ESCAPE = 0x7D
_FLAG_BYTE = b"\x7e"
_ESCAPE_BYTE = b"\x7d"
# Largest legal frame: 2019 header with packet item (21) + body (1023) + checksum (1),
# every byte escaped to two.
MAX_FRAME_BYTES = 2 * (21 + 1023 + 1)


def escape(data: bytes) -> bytes:
    """Escape 0x7D then 0x7E (order matters: the 7D of a 7E escape must not be doubled)."""
    return data.replace(_ESCAPE_BYTE, b"\x7d\x01").replace(_FLAG_BYTE, b"\x7d\x02")


def unescape(content: bytes) -> bytes:
    """Undo :func:`escape`; a 0x7D followed by anything but 01/02 is a corrupt frame."""
    if ESCAPE not in content:
        return content
    parts = content.split(_ESCAPE_BYTE)
    out = bytearray(parts[0])
    for part in parts[1:]:
        if not part or part[0] not in (1, 2):
            raise CorruptFrameError(f"invalid escape sequence 0x7D {part[:1].hex()}")
        out.append(ESCAPE if part[0] == 1 else FLAG)
        out += part[1:]
    return bytes(out)


def checksum(data: bytes) -> int:
    """XOR of every byte (computed on unescaped header + body)."""
    return reduce(xor, data, 0)


def wrap(payload: bytes) -> bytes:
    """Unescaped header + body + checksum to a wire frame with delimiters."""
    return b"\x7e" + escape(payload) + b"\x7e"


def seal(header_and_body: bytes) -> bytes:
    """Append the checksum and wrap: header + body to a complete wire frame."""
    return wrap(header_and_body + bytes((checksum(header_and_body),)))


class FrameSplitter:
    """Incremental splitter: ``feed(bytes) -> [frame content, ...]`` (still escaped).

    The content returned excludes the delimiters. Empty candidates (``7E 7E``) are skipped.
    ``discarded_bytes`` and ``oversize_frames`` count what resynchronisation threw away.
    """

    __slots__ = (
        "_buf",
        "_skipping",
        "_synced",
        "discarded_bytes",
        "max_frame_bytes",
        "oversize_frames",
    )

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._synced = False  # seen a delimiter yet
        self._skipping = False  # inside an oversize candidate
        self.discarded_bytes = 0
        self.oversize_frames = 0

    @property
    def buffered(self) -> int:
        """Bytes held for an unfinished frame (always <= ``max_frame_bytes``)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        start = 0
        while start < len(data):
            idx = data.find(FLAG, start)
            if idx < 0:
                self._append(data[start:])
                break
            self._append(data[start:idx])
            self._boundary(frames)
            start = idx + 1
        return frames

    def _append(self, chunk: bytes) -> None:
        if not chunk:
            return
        if not self._synced or self._skipping:
            self.discarded_bytes += len(chunk)
            return
        if len(self._buf) + len(chunk) > self.max_frame_bytes:
            self.discarded_bytes += len(self._buf) + len(chunk)
            self.oversize_frames += 1
            self._buf.clear()
            self._skipping = True
            return
        self._buf += chunk

    def _boundary(self, frames: list[bytes]) -> None:
        if self._buf:
            frames.append(bytes(self._buf))
            self._buf.clear()
        self._synced = True
        self._skipping = False
