"""What a simulated terminal's JT/T 808 session says besides its positions: heartbeats.

A connected terminal that has sent nothing for ``HEARTBEAT_S`` sends a heartbeat (0x0002,
docs/JT808.md §4). Positions held back (a blind-area run, uploaded later as 0x0704 type 1)
leave the connection idle while the terminal still records: it heartbeats. A terminal that
is cut or off sends nothing at all. Without a GNSS fix (an urban canyon, a tunnel) it sends
unlocated reports, or nothing once the network is gone too: no heartbeat either way (an
unlocated report is a position message, refused or flagged invalid by ingest, not a
heartbeat). Pure: derived from what the terminal recorded and uploaded.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

HEARTBEAT_S = 60.0  # the terminal's heartbeat interval (JT/T 808 parameter 0x0001)
RECORDING_S = 30.0  # a terminal that took a fix this recently is still recording
STEP_S = 5.0


def heartbeat_times(
    uploads_s: Iterable[float],
    recorded_s: Iterable[float],
    end_s: float,
    silent: Iterable[tuple[float, float]] = (),
) -> list[float]:
    """Heartbeat send times: whenever the connection has been idle (no upload, no heartbeat)
    for ``HEARTBEAT_S`` while the terminal is recording (a fix taken in the last
    ``RECORDING_S``, sent or held back) and not ``silent`` (cut or off: nothing at all).
    ``uploads_s`` are the upload times, late ones included; ``recorded_s`` the fix times the
    terminal took (silences and cuts removed)."""
    spans = sorted(silent)
    uploads = sorted(uploads_s)
    recorded = sorted(recorded_s)
    beats: list[float] = []
    last_msg_s = 0.0
    i = 0
    t_s = 0.0
    while t_s <= end_s:
        while i < len(uploads) and uploads[i] <= t_s:
            last_msg_s = max(last_msg_s, uploads[i])
            i += 1
        off = any(a_s <= t_s <= b_s for a_s, b_s in spans)
        if t_s - last_msg_s >= HEARTBEAT_S and not off and _recording(recorded, t_s):
            beats.append(t_s)
            last_msg_s = t_s
        t_s += STEP_S
    return beats


def _recording(recorded: list[float], t_s: float) -> bool:
    k = bisect.bisect_right(recorded, t_s)
    return k > 0 and t_s - recorded[k - 1] <= RECORDING_S


def heard_at(beats: list[float], t_s: float) -> float | None:
    """The latest heartbeat at or before ``t_s`` (what the gateway has recorded by then)."""
    k = bisect.bisect_right(beats, t_s)
    return beats[k - 1] if k else None
