"""Background tasks stop when asked, even when a round swallows the cancellation."""

from __future__ import annotations

import asyncio
import time

from tracker.app import create_app, lifespan
from tracker.settings import Settings
from tracker.tasks import periodic, stop


async def test_a_round_that_swallows_the_cancel_still_ends_the_task() -> None:
    rounds = 0
    entered = asyncio.Event()

    async def deaf_round() -> None:
        nonlocal rounds
        rounds += 1
        entered.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return  # what a lost cancellation looks like from outside

    task = asyncio.create_task(periodic("deaf", 0.01, deaf_round, (OSError,)))
    await entered.wait()
    started = time.monotonic()
    await stop([task])
    assert task.cancelled()
    assert rounds == 1
    assert time.monotonic() - started < 2.0


async def test_an_error_in_a_round_is_retried_next_round() -> None:
    calls: list[int] = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("database away")

    task = asyncio.create_task(periodic("flaky", 0.01, flaky, (OSError,)))
    for _ in range(200):
        if len(calls) >= 4:
            break
        await asyncio.sleep(0.01)
    await stop([task])
    assert len(calls) >= 4


async def test_stop_ignores_finished_and_missing_tasks() -> None:
    async def quick() -> None:
        return None

    done = asyncio.create_task(quick())
    await done
    await stop([done, None])


async def test_the_app_starts_and_stops_again_and_again(settings: Settings) -> None:
    fast = settings.model_copy(update={"capacity_interval_s": 0.01})
    for _ in range(8):
        app = create_app(fast)
        started = time.monotonic()
        async with lifespan(app):
            await asyncio.sleep(0.05)
        assert time.monotonic() - started < 10.0
