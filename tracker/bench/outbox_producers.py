"""Producers for ``tracker bench outbox``: real platform actions (blacklisting and delisting
through tracker.blacklist.service, each one transaction as the API runs it) at a steady rate,
in processes of their own (one Python process alone is a bottleneck of its own)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import psycopg

from tracker.accounts.models import Principal, Role
from tracker.blacklist import service as blacklist
from tracker.blacklist.models import ListingIn

WHO = Principal("bench", Role.admin)


async def produce(
    url: str, vehicles: list[int], rate: float, seconds: float, tasks: int, go: Any = None
) -> int:
    """List and delist vehicles at ``rate`` actions per second, spread over ``tasks``
    connections, each action one transaction as the API runs it. ``go`` (an event): connect
    first, start when it is set."""
    per_task = rate / tasks
    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(tasks)]
    if go is not None:
        await asyncio.to_thread(go.wait)
    started = time.monotonic()

    async def one(conn: psycopg.AsyncConnection[Any], mine: list[int]) -> int:
        done = 0
        listed: dict[int, int] = {}
        async with conn:
            while (due := started + done / per_task) < started + seconds:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                vehicle = mine[done % len(mine)]
                if vehicle in listed:
                    async with conn.transaction():  # as POST /blacklist/{id}/delist does
                        await blacklist.delist(conn, listed.pop(vehicle), "整改完成", WHO, "manual")
                else:
                    body = ListingIn(vehicle_id=vehicle, reason="基准测试")
                    listed[vehicle] = int((await blacklist.list_vehicle(conn, body, WHO))["id"])
                done += 1
        return done

    counts = await asyncio.gather(*(one(c, vehicles[i::tasks]) for i, c in enumerate(conns)))
    return sum(counts)


def producer(
    url: str, vehicles: list[int], rate: float, seconds: float, tasks: int, go: Any, out: Any
) -> None:
    """One producer process (several keep one Python process from being the bottleneck);
    puts (actions, its CPU seconds)."""
    started = time.process_time()
    done = asyncio.run(produce(url, vehicles, rate, seconds, tasks, go))
    out.put((done, time.process_time() - started))


def cpu_s(pid: int) -> float:
    """A live process's user + system CPU seconds (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
