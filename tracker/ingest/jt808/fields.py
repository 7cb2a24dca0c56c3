"""Field types of JT/T 808: BCD, fixed-width and GBK text, the terminal phone number.

Pure helpers shared by the header and message codecs. They raise ``ValueError`` on bad input;
callers turn that into the codec's own error types with context.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

BEIJING_OFFSET = timedelta(hours=8)
_PRINTABLE_MIN = 0x20


def bcd_decode(raw: bytes) -> str:
    """Packed BCD to a digit string; ``ValueError`` if a nibble is not 0-9."""
    digits = raw.hex()
    if not digits.isdigit() and digits:
        raise ValueError(f"not BCD: {digits}")
    return digits


def bcd_encode(digits: str, size: int) -> bytes:
    """Digit string to ``size`` bytes of packed BCD, left-padded with zeros."""
    if not digits.isdigit() and digits:
        raise ValueError(f"not decimal digits: {digits!r}")
    if len(digits) > size * 2:
        raise ValueError(f"{digits!r} does not fit in BCD[{size}]")
    return bytes.fromhex(digits.rjust(size * 2, "0"))


def luhn_digit(digits: str) -> str:
    """The Luhn check digit that completes ``digits`` (as in IMEIs)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def phone_from_bcd(raw: bytes) -> str:
    """The terminal identity from the header's phone field, normalised.

    BCD numbers lose their leading zeros (libraries disagree on padding; the key must not).
    Some vendors put a binary IMEI in the six bytes instead of BCD: read it as a 48-bit
    integer and append the Luhn digit, which yields the printed IMEI.
    """
    try:
        digits = bcd_decode(raw)
    except ValueError:
        number = str(int.from_bytes(raw, "big"))
        return number + luhn_digit(number)
    return digits.lstrip("0") or "0"


def decode_text(raw: bytes) -> str:
    """A STRING / fixed-width text field: GBK, 0x00 padding and spaces stripped.

    A field holding binary (control bytes, e.g. a BCD terminal id where ASCII was due) is
    returned as hex so it stays printable and stable. Left padding with ASCII '0' (seen in
    the wild) is kept: it cannot be told from a real leading zero.
    """
    stripped = raw.strip(b"\x00")
    if any(b < _PRINTABLE_MIN for b in stripped):
        return stripped.hex()
    return stripped.decode("gbk", errors="replace").strip()


def encode_text(text: str, size: int | None = None) -> bytes:
    """GBK text, right-padded with 0x00 to ``size`` when given (the spec's padding)."""
    raw = text.encode("gbk")
    if size is None:
        return raw
    if len(raw) > size:
        raise ValueError(f"{text!r} does not fit in BYTE[{size}]")
    return raw.ljust(size, b"\x00")


def bcd_time_to_utc(raw: bytes, utc_offset: timedelta = BEIJING_OFFSET) -> datetime | None:
    """BCD[6] YYMMDDhhmmss in the terminal's zone (GMT+8 by default) to aware UTC.

    Returns ``None`` for all-zero, non-decimal or impossible times: the fix is unusable, the
    frame is not.
    """
    try:
        digits = bcd_decode(raw)
        year, month, day, hour, minute, second = (int(digits[i : i + 2]) for i in range(0, 12, 2))
        local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    return local - utc_offset


def utc_to_bcd_time(when: datetime, utc_offset: timedelta = BEIJING_OFFSET) -> bytes:
    """Aware datetime to BCD[6] in the terminal's zone (inverse of :func:`bcd_time_to_utc`)."""
    local = when.astimezone(UTC) + utc_offset
    if not 2000 <= local.year <= 2099:
        raise ValueError(f"{when} is outside the BCD[6] year range")
    return bytes.fromhex(local.strftime("%y%m%d%H%M%S"))
