"""Photos of a clue: the type told by magic bytes, the structure walked, metadata stripped.

Only JPEG and PNG are taken, whatever the client calls them. A JPEG is walked segment by segment
up to its scan data and loses every APPn segment except APP0 (JFIF), APP2 (ICC colour profile)
and APP14 (Adobe colour transform), and its comments: EXIF (with the GPS position, the camera's
serial number and the time), XMP and IPTC go. A PNG's chunks are checked (CRC) and its text,
time and eXIf chunks dropped. The pixels are not decoded or re-encoded: nothing is lost but the
metadata, and a photo shot in portrait whose rotation lived in EXIF shows sideways (documented in
docs/DECISIONS.md). Pure: no I/O.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_KEEP_APP = {0xE0, 0xE2, 0xEE}  # JFIF, ICC profile, Adobe
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_PNG_DROP = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}


class BadPhoto(ValueError):
    """Not a JPEG or PNG we accept; the message says why."""


@dataclass(frozen=True, slots=True)
class Photo:
    media_type: str  # image/jpeg | image/png
    data: bytes  # stripped of metadata


def clean(data: bytes) -> Photo:
    """The photo's type by its magic bytes, and its bytes without metadata (or BadPhoto)."""
    if data.startswith(JPEG_MAGIC):
        return Photo("image/jpeg", _jpeg(data))
    if data.startswith(PNG_MAGIC):
        return Photo("image/png", _png(data))
    raise BadPhoto("not a JPEG or PNG image (checked by its first bytes)")


def _jpeg(data: bytes) -> bytes:
    out = [b"\xff\xd8"]
    pos = 2
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise BadPhoto("broken JPEG: a segment does not start with a marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        if marker == 0xD9:
            raise BadPhoto("broken JPEG: no image data")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise BadPhoto("broken JPEG: a segment runs past the end")
        if marker == 0xDA:  # start of scan: the rest is image data up to EOI
            if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
                raise BadPhoto("broken JPEG: no end-of-image marker")
            out.append(data[pos:])
            return b"".join(out)
        metadata = 0xE0 <= marker <= 0xEF or marker == 0xFE  # APPn or a comment
        if not metadata or marker in _KEEP_APP:
            out.append(data[pos:end])
        pos = end


def _png(data: bytes) -> bytes:
    out = [PNG_MAGIC]
    pos = len(PNG_MAGIC)
    first = True
    while pos < len(data):
        if pos + 12 > len(data):
            raise BadPhoto("broken PNG: a chunk runs past the end")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise BadPhoto("broken PNG: a chunk runs past the end")
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            raise BadPhoto("broken PNG: a chunk's checksum does not match")
        if first and kind != b"IHDR":
            raise BadPhoto("broken PNG: the first chunk is not IHDR")
        first = False
        if kind not in _PNG_DROP:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            return b"".join(out)
    raise BadPhoto("broken PNG: no IEND chunk")
