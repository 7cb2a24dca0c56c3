"""What a lookup cell answers, and the per-bucket node that holds those answers.

An answer is the tuple of fence keys the cell is inside when no exact test is needed (the common
case: returned as is), or a :class:`Tested` holding those keys and the fences to test. A node is
a tuple of 512 answers, one per ``QUERY_RES`` cell of a ``BUCKET_RES`` bucket, indexed by the
cell's last three digits; the slot no cell uses holds the bucket's own answer. Tuples keep the
items inline, so a lookup touches few cache lines.
"""

from __future__ import annotations

from typing import Any

from tracker.geofence.cells import DEFAULT_SLOT, SLOT_MASK
from tracker.geofence.fences import Fence, FenceKey

Entry = tuple[tuple[FenceKey, ...], tuple[Fence, ...]]  # (inside, to test): the working form
EMPTY_ENTRY: Entry = ((), ())


class Tested:
    __slots__ = ("keys", "tests")

    def __init__(self, keys: tuple[FenceKey, ...], tests: tuple[Fence, ...]) -> None:
        self.keys = keys
        self.tests = tests

    def resolve(self, lon: float, lat: float) -> tuple[FenceKey, ...]:
        keys = self.keys  # no list or tuple built unless a test passes
        for fence in self.tests:
            if fence.covers_xy(lon, lat):
                keys = (*keys, fence.key)
        return keys

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tested) and self.keys == other.keys and self.tests == other.tests

    def __hash__(self) -> int:
        return hash((self.keys, self.tests))


Answer = tuple[FenceKey, ...] | Tested
Node = tuple[Answer, ...]


def to_answer(entry: Entry) -> Answer:
    return Tested(*entry) if entry[1] else entry[0]


def to_entry(answer: Answer) -> Entry:
    return (answer.keys, answer.tests) if isinstance(answer, Tested) else (answer, ())


def unpack(node: Node | None) -> tuple[Entry, dict[int, Entry]]:
    """A node as (bucket answer, slot -> answer for the slots that differ from it)."""
    if node is None:
        return EMPTY_ENTRY, {}
    default = node[DEFAULT_SLOT]
    own = {i: to_entry(a) for i, a in enumerate(node) if a is not default and i != DEFAULT_SLOT}
    return to_entry(default), own


def pack(default: Entry, own: dict[int, Entry]) -> Node | None:
    """The node for a bucket answer and the slots that differ (``None``: nothing there)."""
    if not own and default == EMPTY_ENTRY:
        return None
    shared: dict[Any, Answer] = {}  # equal entries become one answer object
    slots = [to_answer(default)] * (SLOT_MASK + 1)
    for slot, entry in own.items():
        answer = shared.get(entry)
        if answer is None:
            answer = shared[entry] = to_answer(entry)
        slots[slot] = answer
    return tuple(slots)
