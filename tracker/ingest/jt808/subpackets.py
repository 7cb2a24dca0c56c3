"""Reassembly of sub-packaged ("long") messages, as a pure object.

Packets of one message share phone, message id and total, and carry consecutive serial
numbers, so ``serial - (index - 1)`` (the first packet's serial) identifies the message.
Memory is bounded: at most ``max_messages`` incomplete messages, each with at most
``max_packets`` packets, and anything older than ``max_age_s`` is evicted. Time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tracker.ingest.jt808.errors import SubpacketError
from tracker.ingest.jt808.frame import Frame
from tracker.ingest.jt808.header import SUBPACKET_BIT

Key = tuple[bytes, int, int, int]  # phone, message id, total, first serial


@dataclass(slots=True)
class _Pending:
    first_seen: float
    first: Frame | None = None
    parts: dict[int, bytes] = field(default_factory=dict)


class Reassembler:
    def __init__(
        self, *, max_messages: int = 64, max_packets: int = 256, max_age_s: float = 120.0
    ) -> None:
        self.max_messages = max_messages
        self.max_packets = max_packets
        self.max_age_s = max_age_s
        self._pending: dict[Key, _Pending] = {}
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, frame: Frame, now: float) -> Frame | None:
        """Add one packet; return the whole message as a single frame once complete."""
        header = frame.header
        total, index = header.packet_total, header.packet_index
        if total is None or index is None or not 1 <= index <= total:
            raise SubpacketError(f"packet {index} of {total} is out of range", header=header)
        if total > self.max_packets:
            raise SubpacketError(f"{total} packets exceed the limit", header=header)
        self.expire(now)
        key = (header.phone_raw, header.msg_id, total, (header.serial - index + 1) & 0xFFFF)
        pending = self._pending.get(key)
        if pending is None:
            self._make_room()
            pending = self._pending[key] = _Pending(now)
        pending.parts[index] = frame.body
        if index == 1:
            pending.first = frame
        if len(pending.parts) < total or pending.first is None:
            return None
        del self._pending[key]
        return _joined(pending.first, pending.parts, total)

    def missing(self, frame: Frame) -> list[int]:
        """Indexes still missing for the message ``frame`` belongs to (for a 0x8003 request)."""
        header = frame.header
        total, index = header.packet_total or 0, header.packet_index or 0
        key = (header.phone_raw, header.msg_id, total, (header.serial - index + 1) & 0xFFFF)
        pending = self._pending.get(key)
        have = pending.parts if pending else {}
        return [i for i in range(1, total + 1) if i not in have]

    def expire(self, now: float) -> None:
        stale = [k for k, p in self._pending.items() if now - p.first_seen > self.max_age_s]
        for key in stale:
            del self._pending[key]
        self.evicted += len(stale)

    def _make_room(self) -> None:
        while len(self._pending) >= self.max_messages:
            oldest = min(self._pending, key=lambda k: self._pending[k].first_seen)
            del self._pending[oldest]
            self.evicted += 1


def _joined(first: Frame, parts: dict[int, bytes], total: int) -> Frame:
    body = b"".join(parts[i] for i in range(1, total + 1))
    attributes = first.header.attributes & ~SUBPACKET_BIT & ~0x03FF
    header = replace(
        first.header,
        attributes=attributes | min(len(body), 0x03FF),
        packet_total=None,
        packet_index=None,
    )
    return replace(first, header=header, body=body)
