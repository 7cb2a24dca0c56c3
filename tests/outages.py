"""Cutting connections under the platform, for the outage tests: only the test's own Redis
database and PostgreSQL database, so a demo or another suite on the same servers is spared;
and a Redis server of the test's own, to kill."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import redis


def cut_redis_clients(rdb: redis.Redis) -> int:
    """Every client of ``rdb``'s database but ``rdb`` itself; how many were cut."""
    dbnum = int(rdb.connection_pool.connection_kwargs.get("db", 0))
    me = rdb.client_id()
    cut = 0
    for c in rdb.client_list():
        if int(c["db"]) == dbnum and int(c["id"]) != me:
            cut += int(rdb.client_kill_filter(_id=c["id"]))
    return cut


def cut_db_sessions(db: psycopg.Connection[Any], application_name: str | None = None) -> int:
    """Every other session of ``db``'s database (of one application, if named)."""
    query = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    if application_name is not None:
        row = db.execute(query + " AND application_name = %s", (application_name,)).fetchone()
    else:
        row = db.execute(query).fetchone()
    return int(row[0]) if row else 0


class OwnRedis:
    """A Redis server of the test's own (append-only file fsynced at every write, as a
    deployment's Redis keeps its streams), to kill with SIGKILL and start again on its port."""

    def __init__(self, directory: Path) -> None:
        self.dir, self.port = directory, _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
               "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always",
               "--save", "", "--logfile", str(self.dir / "redis.log")]  # fmt: skip
        self.proc = subprocess.Popen(cmd)
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port, socket_timeout=1) as probe:
                    if probe.ping():
                        return
            except redis.exceptions.RedisError:
                assert time.monotonic() < deadline, "own Redis did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
