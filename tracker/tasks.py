"""Background tasks of any process: periodic rounds, and stopping them for sure.

The periodic tasks themselves are declared once, in tracker.maintenance.

A round that is cancelled while it waits for a pooled connection can lose the cancellation on
Python 3.11 (``asyncio.wait_for`` returning a result that raced the cancel): the round returns
normally and the loop would sleep and go on, so a shutdown waiting for it would wait forever.
``periodic`` re-raises a pending cancellation after every round, and ``stop`` cancels again
until each task has really ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)


async def periodic(
    what: str,
    interval_s: float,
    round_: Callable[[], Awaitable[object]],
    retry_on: tuple[type[BaseException], ...],
) -> None:
    """Run ``round_`` every ``interval_s``; an error of ``retry_on`` is logged and retried next
    round. Ends only by cancellation."""
    me = asyncio.current_task()
    while True:
        try:
            await round_()
        except retry_on as exc:  # keep going: the next round retries
            log.warning("%s failed: %s", what, exc)
        if me is not None and me.cancelling():
            raise asyncio.CancelledError
        await asyncio.sleep(interval_s)


async def stop(tasks: Iterable[asyncio.Task[None] | None], grace_s: float = 5.0) -> None:
    """Cancel the tasks and wait until they have ended, cancelling again while any lingers."""
    pending = {t for t in tasks if t is not None and not t.done()}
    waited = 0.0
    while pending:
        for task in pending:
            task.cancel()
        done, pending = await asyncio.wait(pending, timeout=0.5)
        waited += 0.5
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.warning("task %s ended with %r", task.get_name(), task.exception())
        if pending and waited >= grace_s:
            names = ", ".join(t.get_name() for t in pending)
            log.error("tasks still running after %.0f s of cancelling: %s", waited, names)
            return
