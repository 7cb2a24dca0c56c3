"""One frame's content (as the splitter yields it) to a checked header and body."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.ingest.jt808.errors import ChecksumError, CorruptFrameError, EncryptedMessageError
from tracker.ingest.jt808.framing import checksum, unescape
from tracker.ingest.jt808.header import Header, parse_header, slice_body


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """Strictness, from configuration. Real captures carry bad checksums and lengths."""

    verify_checksum: bool = True
    strict_length: bool = False


DEFAULT_OPTIONS = DecodeOptions()
STRICT = DecodeOptions(verify_checksum=True, strict_length=True)
LENIENT = DecodeOptions(verify_checksum=False, strict_length=False)


@dataclass(frozen=True, slots=True)
class Frame:
    header: Header
    body: bytes
    checksum_ok: bool
    raw: bytes  # unescaped header + body + checksum, worth storing for later re-decoding


def decode_frame(content: bytes, options: DecodeOptions = DEFAULT_OPTIONS) -> Frame:
    """Escaped frame content (no delimiters) to a :class:`Frame`.

    Raises :class:`CorruptFrameError` / :class:`HeaderError` (drop), or, with the header
    attached, :class:`ChecksumError` / :class:`BodyError` (reply 'bad message') and
    :class:`EncryptedMessageError` (reply 'unsupported').
    """
    raw = unescape(content)
    if len(raw) < 2:
        raise CorruptFrameError(f"frame of {len(raw)} bytes")
    payload, expected = raw[:-1], raw[-1]
    header, size = parse_header(payload)
    ok = checksum(payload) == expected
    if not ok and options.verify_checksum:
        raise ChecksumError(
            f"checksum {expected:#04x}, computed {checksum(payload):#04x}", header=header
        )
    body = slice_body(payload, header, size, strict=options.strict_length)
    if header.encryption:
        raise EncryptedMessageError(f"encryption {header.encryption} not supported", header=header)
    return Frame(header, body, ok, raw)
