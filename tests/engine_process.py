"""``tracker engine`` as a subprocess against the test database and Redis, and waiting for it to
consume what was published (shared by the engine crash test and the ledger replay test)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import redis

from tracker.wire import stream_key

SHARDS = 8


class EngineProcess:
    def __init__(self, database_url: str, redis_url: str, log: Path) -> None:
        self.env = {
            **os.environ,
            "TRACKER_DATABASE_URL": database_url,
            "TRACKER_REDIS_URL": redis_url,
            "TRACKER_SHARDS": str(SHARDS),
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "tracker.cli", "engine", "--shards", "all",
               "--batch-entries", "1", "--tick-s", "1"]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=out)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(20)
            self.proc = None


def stream_heads(rdb: redis.Redis) -> dict[int, str]:
    heads: dict[int, str] = {}
    for shard in range(SHARDS):
        last = rdb.xrevrange(stream_key(shard), count=1)
        if last:
            heads[shard] = last[0][0].decode()
    return heads


async def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def wait_published(rdb: redis.Redis, entries: int, timeout_s: float = 10) -> None:
    def published() -> bool:
        return sum(int(rdb.xlen(stream_key(s))) for s in range(SHARDS)) >= entries

    await wait_for(published, timeout_s, "the stream publisher")


async def wait_consumed(
    db: psycopg.Connection[Any], rdb: redis.Redis, entries: int, timeout_s: float = 20
) -> None:
    """Every published entry (at least ``entries``) committed by the engine's shards."""
    await wait_published(rdb, entries)
    heads = stream_heads(rdb)

    def consumed() -> bool:
        rows = dict(db.execute("SELECT shard, stream_id FROM engine_shards").fetchall())
        return all(rows.get(s) == head for s, head in heads.items())

    await wait_for(consumed, timeout_s, "the engine to consume every entry")
