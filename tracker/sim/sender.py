"""Posting simulated fixes to the HTTP API, with retries, counters and a progress display."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from tracker.sim.terminal import FixDict

POSITIONS_PATH = "/api/v1/positions"
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(slots=True)
class Counters:
    trucks: int = 0
    requests: int = 0
    fixes_sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0  # fixes the API answered as rejected, or refused with the whole request
    unauthorized: int = 0  # requests refused with 401 (a bad token)
    retries: int = 0
    errors: int = 0  # batches given up after the last retry
    dropped: int = 0  # fixes in those batches

    @property
    def acknowledged(self) -> int:
        return self.accepted + self.duplicates


class Poster:
    """POSTs one vehicle's batch at a time; at most ``concurrency`` requests in flight overall."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        counters: Counters,
        concurrency: int,
        max_attempts: int = 6,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.client = client
        self.counters = counters
        self.slots = asyncio.Semaphore(concurrency)
        self.max_attempts = max_attempts
        self.max_backoff_s = max_backoff_s

    async def post(self, token: str, fixes: list[FixDict]) -> None:
        # The API is idempotent on (vehicle, fix time), so resending after a failure is safe.
        headers = {"Authorization": f"Bearer {token}"}
        counters = self.counters
        for attempt in range(self.max_attempts):
            if attempt:
                counters.retries += 1
                await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), self.max_backoff_s))
            try:
                async with self.slots:
                    counters.requests += 1
                    response = await self.client.post(
                        POSITIONS_PATH, json={"fixes": fixes}, headers=headers
                    )
            except httpx.TransportError:
                continue
            if response.status_code >= 500 or response.status_code in RETRY_STATUSES:
                continue
            counters.fixes_sent += len(fixes)
            self._count(response, len(fixes))
            return
        counters.errors += 1
        counters.dropped += len(fixes)

    def _count(self, response: httpx.Response, n_fixes: int) -> None:
        counters = self.counters
        if response.status_code == 401:
            counters.unauthorized += 1
            counters.rejected += n_fixes
            return
        if response.status_code != 200:
            counters.rejected += n_fixes
            return
        try:
            body = response.json()
            counters.accepted += int(body.get("accepted", 0))
            counters.duplicates += int(body.get("duplicates", 0))
            counters.rejected += int(body.get("rejected", 0))
        except (ValueError, AttributeError, TypeError):
            counters.rejected += n_fixes


class ProgressView:
    """A live table on a terminal; a plain line every ``plain_every_s`` otherwise."""

    def __init__(self, counters: Counters, title: str, plain_every_s: float = 10.0) -> None:
        self.counters = counters
        self.title = title
        self.console = Console()
        self.plain_every_s = plain_every_s
        self._started = time.monotonic()
        self._samples: deque[tuple[float, int]] = deque([(self._started, 0)])

    def _rate(self, window_s: float = 10.0) -> float:
        """Requests per second over the last ``window_s``."""
        now = time.monotonic()
        self._samples.append((now, self.counters.requests))
        while len(self._samples) > 2 and self._samples[1][0] <= now - window_s:
            self._samples.popleft()
        then, requests = self._samples[0]
        return (self.counters.requests - requests) / (now - then) if now > then else 0.0

    def figures(self, overall: bool = False) -> dict[str, str]:
        c = self.counters
        elapsed_s = time.monotonic() - self._started
        rate = c.requests / elapsed_s if overall and elapsed_s > 0 else self._rate()
        return {
            "trucks": str(c.trucks),
            "fixes sent": str(c.fixes_sent),
            "acknowledged": f"{c.acknowledged} ({c.duplicates} dup)",
            "refused": str(c.rejected),
            "requests/s": f"{rate:.1f}",
            "errors": f"{c.errors} ({c.retries} retries, {c.unauthorized} 401)",
            "elapsed": f"{elapsed_s:.0f} s",
        }

    def _table(self) -> Table:
        table = Table(title=self.title, show_header=False)
        for name, value in self.figures().items():
            table.add_row(name, value)
        return table

    def line(self, overall: bool = False) -> str:
        return "  ".join(f"{k}={v}" for k, v in self.figures(overall).items())

    @contextlib.asynccontextmanager
    async def shown(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._refresh())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _refresh(self) -> None:
        if not self.console.is_terminal:
            while True:
                await asyncio.sleep(self.plain_every_s)
                print(self.line(), flush=True)
        with Live(self._table(), console=self.console, refresh_per_second=2) as live:
            while True:
                await asyncio.sleep(0.5)
                live.update(self._table())


def print_summary(view: ProgressView) -> None:
    print(f"done: {view.line(overall=True)}", file=sys.stdout, flush=True)
