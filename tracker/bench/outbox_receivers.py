"""Webhook receivers for ``tracker bench outbox``, in a process of their own.

``python -m tracker.bench.outbox_receivers OUT_DIR SPEC...``: one keep-alive HTTP/1.1 server per
SPEC ``port:kind`` (kind ``ok``, ``slow`` (``--slow-ms`` per request) or ``down`` (closed from
``--down-from-s`` to ``--down-until-s`` after start: connections refused)). Every event received
is logged as ``idempotency_key <TAB> emitted_at <TAB> received_at`` (unix seconds) to
``OUT_DIR/PORT.tsv``, written on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from pathlib import Path

import orjson

from tracker.wire import parse_rfc3339

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class Receiver:
    def __init__(self, port: int, kind: str, slow_s: float) -> None:
        self.port, self.kind, self.slow_s = port, kind, slow_s
        self.log: list[tuple[str, float, float]] = []
        self.server: asyncio.Server | None = None
        self.conns: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(
            self.handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for w in list(self.conns):
                w.close()
            self.server = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conns.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                received = time.time()
                if self.slow_s:
                    await asyncio.sleep(self.slow_s)
                data = orjson.loads(body)
                for item in data.get("events", [data]):
                    emitted = parse_rfc3339(item["emitted_at"]).timestamp()
                    self.log.append((item["idempotency_key"], emitted, received))
                writer.write(_OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.conns.discard(writer)
            writer.close()

    def dump(self, out: Path) -> None:
        lines = (f"{k}\t{e:.6f}\t{r:.6f}\n" for k, e, r in self.log)
        (out / f"{self.port}.tsv").write_text("".join(lines))


async def _run(args: argparse.Namespace) -> None:
    receivers = []
    for spec in args.spec:
        port, kind = spec.split(":")
        receivers.append(Receiver(int(port), kind, args.slow_ms / 1000 if kind == "slow" else 0))
    for r in receivers:
        await r.open()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("receivers ready", flush=True)
    started = time.monotonic()
    down = [r for r in receivers if r.kind == "down"]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.down_from_s)
    if not stop.is_set():
        for r in down:
            await r.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.down_until_s - (time.monotonic() - started))
        for r in down:
            await r.open()
        await stop.wait()
    for r in receivers:
        await r.close()
        r.dump(Path(args.out))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("spec", nargs="+")
    parser.add_argument("--slow-ms", type=float, default=50.0)
    parser.add_argument("--down-from-s", type=float, default=5.0)
    parser.add_argument("--down-until-s", type=float, default=12.0)
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
