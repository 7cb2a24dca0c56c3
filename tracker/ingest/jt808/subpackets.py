"""Reassembly of sub-packaged ("long") messages, as a pure object (time is passed in).

A message is identified by its phone, message id, packet total and the serial of its first
packet (``serial - (index - 1)``): packets of one message carry consecutive serials, so every
packet names the range of serials its message spans. Serials wrap and terminals reuse them
(after a restart, say), so two messages of one identity may be in flight at once: a packet goes
to the oldest of them still missing its index, and one whose index every held message already
has with *other* bytes starts another (at most :data:`MAX_GENERATIONS`; the same bytes again are
a retransmission). A completed 0x0704 must consist exactly of its declared items, else it is
refused as packets of different messages (``conflicts``): never handled as one message.

Memory is bounded per connection (:class:`Reassembler`: ``max_messages`` partial messages and
``max_bytes`` of their bodies; a new message evicts the connection's own oldest) and in total
(:class:`ReassemblyBudget`, shared by every connection of a gateway: beyond it a packet is
refused with :class:`ReassemblyFullError`, never by evicting another connection's messages).
A message incomplete for ``retransmit_after_s`` since its last packet is due for a 0x8003
request naming its missing packets (:meth:`Reassembler.due_requests`, at most
``max_requests`` times); one older than ``max_age_s`` is dropped (``expired``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

from tracker.ingest.jt808.errors import ReassemblyFullError, SubpacketError
from tracker.ingest.jt808.frame import Frame
from tracker.ingest.jt808.header import SUBPACKET_BIT, Header

Identity = tuple[bytes, int, int, int]  # phone, message id, total, first serial
Key = tuple[bytes, int, int, int, int]  # the identity and a generation (several in flight)
BATCH_ID = 0x0704
MAX_GENERATIONS = 4  # messages of one identity in flight at once (a reused serial)


@dataclass(slots=True)
class ReassemblyBudget:
    """What all connections' partial messages may hold together, and what happened to them."""

    max_messages: int = 2_048
    max_bytes: int = 16 * 1024 * 1024
    messages: int = 0
    bytes: int = 0
    completed: int = 0
    refused: int = 0  # packets not held: a limit was reached
    conflicts: int = 0  # partial messages dropped: a reused serial brought other bytes
    evicted: int = 0  # partial messages dropped for a connection's newer ones
    expired: int = 0  # partial messages dropped: never completed in time
    requests: int = 0  # 0x8003 retransmission requests due


@dataclass(slots=True)
class _Pending:
    first_seen: float
    last_seen: float
    header: Header  # of a packet of this message: phone and dialect for a 0x8003
    parts: dict[int, bytes] = field(default_factory=dict)
    size: int = 0
    requests: int = 0
    first: Frame | None = None


@dataclass(frozen=True, slots=True)
class DueRequest:
    """A 0x8003 to send: the message's first serial and its missing packet indexes."""

    header: Header
    first_serial: int
    missing: tuple[int, ...]


class Reassembler:
    """One connection's partial messages."""

    def __init__(
        self,
        budget: ReassemblyBudget | None = None,
        *,
        max_messages: int = 8,
        max_bytes: int = 256 * 1024,
        max_packets: int = 256,
        max_age_s: float = 120.0,
        retransmit_after_s: float = 10.0,
        max_requests: int = 2,
    ) -> None:
        self.budget = budget if budget is not None else ReassemblyBudget()
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.max_packets = max_packets
        self.max_age_s = max_age_s
        self.retransmit_after_s = retransmit_after_s
        self.max_requests = max_requests
        self._pending: dict[Key, _Pending] = {}
        self.size = 0

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, frame: Frame, now: float) -> Frame | None:
        """Add one packet; return the whole message as a single frame once complete, ``None``
        while it is held. Raises :class:`SubpacketError` for an impossible packet and
        :class:`ReassemblyFullError` when a limit keeps it from being held."""
        header = frame.header
        total, index = header.packet_total, header.packet_index
        if total is None or index is None or not 1 <= index <= total:
            raise SubpacketError(f"packet {index} of {total} is out of range", header=header)
        if total > self.max_packets:
            raise SubpacketError(f"{total} packets exceed the limit", header=header)
        self.expire(now)
        ident = (header.phone_raw, header.msg_id, total, (header.serial - index + 1) & 0xFFFF)
        generations = [k for k in self._pending if k[:4] == ident]  # oldest first
        for k in generations:
            if self._pending[k].parts.get(index) == frame.body:  # a retransmission
                self._pending[k].last_seen = now
                return None
        # the oldest message of this identity still missing this packet takes it; a packet
        # every one of them holds with other bytes starts a new message (a reused serial)
        key = next((k for k in generations if index not in self._pending[k].parts), None)
        pending = None if key is None else self._pending[key]
        if key is None:
            if len(generations) >= MAX_GENERATIONS:
                self._drop(generations[0])
                self.budget.conflicts += 1
            gen = 1 + max((k[4] for k in generations), default=-1)
            key = (*ident, gen)
        size = len(frame.body)
        self._make_room(size, keep=key if pending is not None else None)
        if pending is None and self.budget.messages >= self.budget.max_messages:
            self.budget.refused += 1
            raise ReassemblyFullError("too many partial messages", header=header)
        if self.size + size > self.max_bytes or self.budget.bytes + size > self.budget.max_bytes:
            self.budget.refused += 1
            raise ReassemblyFullError("partial messages hold too many bytes", header=header)
        if pending is None:
            pending = self._pending[key] = _Pending(now, now, header)
            self.budget.messages += 1
        pending.parts[index] = frame.body
        pending.size += size
        pending.last_seen = now
        self.size += size
        self.budget.bytes += size
        if index == 1:
            pending.first = frame
        if len(pending.parts) < total or pending.first is None:
            return None
        self._drop(key)
        whole = _joined(pending.first, pending.parts, total)
        if not _consistent(whole):  # packets of two messages: never handled as one
            self.budget.conflicts += 1
            raise SubpacketError("packets of different messages", header=header)
        self.budget.completed += 1
        return whole

    def missing(self, frame: Frame) -> list[int]:
        """Indexes still missing for the message ``frame`` belongs to."""
        header = frame.header
        total, index = header.packet_total or 0, header.packet_index or 0
        ident = (header.phone_raw, header.msg_id, total, (header.serial - index + 1) & 0xFFFF)
        held = [p for k, p in self._pending.items() if k[:4] == ident]
        have = held[0].parts if held else {}
        return [i for i in range(1, total + 1) if i not in have]

    def due_requests(self, now: float) -> list[DueRequest]:
        """0x8003s due now: messages silent for ``retransmit_after_s`` (then again after as
        long, ``max_requests`` times in all)."""
        self.expire(now)
        due: list[DueRequest] = []
        for (_, _, total, first, _), p in self._pending.items():
            if p.requests >= self.max_requests or now - p.last_seen < self.retransmit_after_s:
                continue
            p.requests += 1
            p.last_seen = now  # the next request waits as long again
            missing = tuple(i for i in range(1, total + 1) if i not in p.parts)
            due.append(DueRequest(p.header, first, missing))
        self.budget.requests += len(due)
        return due

    def expire(self, now: float) -> None:
        stale = [k for k, p in self._pending.items() if now - p.first_seen > self.max_age_s]
        for key in stale:
            self._drop(key)
        self.budget.expired += len(stale)

    def clear(self) -> None:
        """Forget every partial message (the connection is gone): the budget gets them back."""
        for key in list(self._pending):
            self._drop(key)

    def _drop(self, key: Key) -> None:
        pending = self._pending.pop(key)
        self.size -= pending.size
        self.budget.bytes -= pending.size
        self.budget.messages -= 1

    def _make_room(self, size: int, keep: Key | None = None) -> None:
        """Evict this connection's oldest partial messages (never ``keep``) until one more
        message of ``size`` bytes fits its own limits."""

        def over() -> bool:
            count = len(self._pending) + (0 if keep is not None else 1)
            return count > self.max_messages or self.size + size > self.max_bytes

        while over():
            others = [k for k in self._pending if k != keep]
            if not others:
                return
            oldest = min(others, key=lambda k: self._pending[k].first_seen)
            self._drop(oldest)
            self.budget.evicted += 1


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


def _consistent(whole: Frame) -> bool:
    """A reassembled 0x0704 must be exactly its declared items (a splice of two batches
    rarely is); other messages are checked by their decoders."""
    if whole.header.msg_id != BATCH_ID:
        return True
    body = whole.body
    if len(body) < 3:
        return False
    (count,) = struct.unpack_from(">H", body)
    pos = 3
    for _ in range(count):
        if pos + 2 > len(body):
            return False
        (length,) = struct.unpack_from(">H", body, pos)
        pos += 2 + length
    return pos == len(body)
