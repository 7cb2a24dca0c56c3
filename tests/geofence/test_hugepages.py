"""Huge pages for the index: which mappings are asked, and that asking is harmless."""

from __future__ import annotations

from tracker.geofence import hugepages

MAPS = """\
00400000-00421000 r-xp 00000000 fe:01 1234 /usr/bin/python3.11
01000000-01a00000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000500000 rw-p 00000000 00:00 0
7f0000500000-7f0000600000 rw-s 00000000 00:05 77 /dev/shm/x
7f0000600000-7f0000700000 rw-p 00000000 fe:01 99 /usr/lib/libc.so.6
7f0000700000-7f0000800000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
"""


def test_only_private_anonymous_writable_memory_in_whole_huge_pages() -> None:
    page = 2 << 20
    assert hugepages.anonymous_regions(MAPS, page) == [
        (0x01000000, 0x01A00000),  # the heap, already aligned
        (0x7F0000000000, 0x7F0000400000),  # 5 MiB trimmed to two whole huge pages
    ]  # shared, file-backed, the stack and a region smaller than a huge page are left out


def test_collapse_is_harmless_wherever_it_runs() -> None:
    data = [list(range(100)) for _ in range(20_000)]  # some heap to collapse
    collapsed = hugepages.collapse()
    assert collapsed >= 0
    assert sum(map(sum, data)) == 20_000 * 4950
