"""Huge pages for a big index: fewer TLB misses on random lookups.

A city's index is about a gigabyte of small Python objects, and each lookup touches three or
four of them at random places: with 4 KiB pages nearly every one of those reads also misses the
TLB and walks the page tables. Linux backs memory with 2 MiB pages where a process asks for it
(``transparent_hugepage`` set to ``madvise``, Debian's default). After a bulk build,
:func:`collapse` asks for it on the process's anonymous writable memory (``MADV_HUGEPAGE``, so
that the kernel also keeps later growth there huge) and collapses what is already there at once
(``MADV_COLLAPSE``, Linux 6.1+), about a second per gigabyte. Measured on the benchmark city:
single lookups about 10 % faster, resident memory unchanged. Anything unsupported (another OS,
an older kernel, huge pages disabled) leaves memory as it was.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25
_PMD_SIZE = Path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")


def _huge_page_size() -> int | None:
    try:
        return int(_PMD_SIZE.read_text())
    except (OSError, ValueError):
        return None


def anonymous_regions(maps: str, page: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the writable private anonymous mappings (and the heap) in the text
    of ``/proc/<pid>/maps``, trimmed inwards to whole huge pages; empty ones left out."""
    out = []
    for line in maps.splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[1].startswith("rw") or parts[1][3] != "p":
            continue
        path = parts[5] if len(parts) > 5 else ""
        if path and path != "[heap]":
            continue
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        lo, hi = -(-lo // page) * page, hi // page * page
        if hi > lo:
            out.append((lo, hi))
    return out


def collapse() -> int:
    """Back the process's anonymous memory with huge pages; returns the MiB collapsed."""
    page = _huge_page_size()
    if not sys.platform.startswith("linux") or page is None:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    collapsed = 0
    for lo, hi in anonymous_regions(Path("/proc/self/maps").read_text(), page):
        madvise(lo, hi - lo, MADV_HUGEPAGE)
        if madvise(lo, hi - lo, MADV_COLLAPSE) == 0:
            collapsed += hi - lo
    log.debug("collapsed %d MiB into huge pages", collapsed >> 20)
    return collapsed >> 20
