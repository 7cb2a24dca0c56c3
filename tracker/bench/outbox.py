"""``tracker bench outbox``: the outbox end to end, with a receiver down and a deliverer killed.

Real platform actions (blacklisting and delisting vehicles through tracker.blacklist.service,
whose trigger writes vehicle.listed / vehicle.delisted in the same transaction; each action one
transaction, as the API runs it) run at a steady ``--rate`` for ``--seconds``, from
``--producers`` processes of ``--tasks`` connections each (one Python process alone is a
bottleneck of its own). Five webhook subscriptions (HMAC-signed, ``--batch`` events per
request) hear them, served by ``--deliverers`` ``tracker deliver`` processes; receivers run in a
process of their own (tracker.bench.outbox_receivers): three healthy, one slow (``--slow-ms``
per request) and one down (connections refused) from 25 % to 55 % of the run. At 40 % one
deliverer is SIGKILLed and started again a second later. Then the bench waits for every
delivery and counts, at the receivers, what arrived: ``lost`` must be 0; ``duplicates`` are
repeats (each with the same idempotency key, the receiver's to drop). Latency is emitted
(the event's commit-time clock) to received, for the healthy receivers. ``deliveries_per_s`` is
delivered ÷ the time from the first event to the last delivery's first arrival.

Baseline, same run: a backlog of ``--backlog`` events drained by the same deliverers to one
subscription one event per request, then to one subscription in batches: the ratio is what
batching buys; then a backlog to all five subscriptions (what the deliverers drain with five
subscribers), once alone and once while the producers list and delist other trucks at
``--rate`` for half of ``--seconds`` (their events go to no one then). The load average is
reported with the figures (the machine is shared). Progress on stderr; last line: one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from tracker.bench.common import free_port, percentile, scratch_database
from tracker.bench.outbox_producers import cpu_s, producer
from tracker.registry import repo as registry
from tracker.settings import Settings

BENCH_DB = "tracker_bench_outbox"
KINDS = ("ok", "ok", "ok", "down", "slow")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _deliverer(url: str, wait: bool = True) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": url,
        "TRACKER_OUTBOX__POLL_INTERVAL_S": "0.05",
        "TRACKER_OUTBOX__BACKOFF_BASE_S": "0.25",
        "TRACKER_OUTBOX__BACKOFF_MAX_S": "1.0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "deliver", "--log-level", "error"],
        env=env,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    if wait:  # "deliverer running": its start-up is not counted as latency
        proc.stdout.readline()
    return proc


def _close(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdout is not None:
        proc.stdout.close()


def _seed(url: str, vehicles: int, first: int = 0) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        company = registry.ensure_company(conn, "基准运输公司")
        return [
            registry.ensure_vehicle(conn, f"粤Z{i:05d}", company, 16.0)
            for i in range(first, first + vehicles)
        ]


def _subscribe(url: str, ports: list[int], batch: int) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [
            int(
                conn.execute(  # type: ignore[index]
                    """INSERT INTO outbox_subscriptions
                           (name, kind, channel, target, secret, batch_max, event_types,
                            created_by)
                       VALUES (%s, 'department', 'webhook', %s, 'bench-secret', %s,
                               '{vehicle.listed,vehicle.delisted}', 'bench') RETURNING id""",
                    (f"receiver {p}", f"http://127.0.0.1:{p}/hook", batch),
                ).fetchone()[0]
            )
            for p in ports
        ]


def _wait_delivered(url: str, timeout_s: float, types: tuple[str, ...] | None = None) -> bool:
    """Until every event (of ``types``) is fanned out and every active delivery made."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                """SELECT (SELECT count(*) FROM outbox_events
                            WHERE fanned_at IS NULL
                              AND (%(t)s::text[] IS NULL OR type = ANY (%(t)s)))
                        + (SELECT count(*) FROM outbox_deliveries d
                             JOIN outbox_subscriptions s ON s.id = d.subscription_id
                            WHERE d.state <> 'delivered' AND s.active)""",
                {"t": None if types is None else list(types)},
            ).fetchone()
            if row == (0,):
                return True
            time.sleep(0.1)
    return False


def _read_logs(out: Path, ports: list[int]) -> dict[int, list[tuple[str, float, float]]]:
    logs: dict[int, list[tuple[str, float, float]]] = {}
    for p in ports:
        rows = []
        for line in (out / f"{p}.tsv").read_text().splitlines():
            key, emitted, received = line.split("\t")
            rows.append((key, float(emitted), float(received)))
        logs[p] = rows
    return logs


def _drain(url: str, ports: list[int], batch: int, events: int, go: Any = None) -> float:
    """Deliveries per second draining ``events`` queued for one subscription of ``batch`` per
    port (``go``: set once the backlog is queued, to start producers meanwhile)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE outbox_subscriptions SET active = false")
        for port in ports:
            conn.execute(
                """INSERT INTO outbox_subscriptions (name, kind, channel, target, batch_max,
                                                     event_types, created_by)
                   VALUES ('drain', 'department', 'webhook', %s, %s, '{yard.fill}', 'bench')""",
                (f"http://127.0.0.1:{port}/hook", batch),
            )
        with conn.transaction():
            conn.execute(
                """SELECT outbox_emit('yard.fill', now(), NULL, NULL, 1, NULL,
                                      jsonb_build_object('level', 80, 'seq', g))
                     FROM generate_series(1, %s) g""",
                (events,),
            )
        started = time.monotonic()
        if go is not None:
            go.set()
    if not _wait_delivered(url, 300, ("yard.fill",)):
        raise RuntimeError("the drain did not finish")
    return events * len(ports) / (time.monotonic() - started)


def _figures(
    logs: dict[int, list[tuple[str, float, float]]], ports: list[int], subs: list[int],
    event_ids: list[int], first_event_at: float,
) -> dict[str, Any]:  # fmt: skip
    """Counts at the receivers; ``deliveries_per_s`` is delivered ÷ the time from the first
    event's commit (its ``emitted_at``) to the last delivery's first arrival."""
    expected = {f"muck-{e}-{s}" for e in event_ids for s in subs}
    received = Counter(k for p in ports for k, _e, _r in logs[p])
    got = set(received) & expected
    arrived: dict[str, float] = {}
    for p in ports:
        for key, _emitted, recv in logs[p]:
            arrived[key] = min(recv, arrived.get(key, recv))
    last_delivery_at = max((arrived[k] for k in got), default=first_event_at)
    span_s = max(last_delivery_at - first_event_at, 1e-9)
    healthy = [p for p, kind in zip(ports, KINDS, strict=True) if kind == "ok"]
    first_seen: dict[str, float] = {}
    for p in healthy:
        for key, emitted, recv in logs[p]:
            first_seen.setdefault(key, (recv - emitted) * 1000)
    latencies = list(first_seen.values())
    return {
        "events": len(event_ids),
        "subscribers": len(subs),
        "delivered": len(got),
        "lost": len(expected - got),
        "duplicates": sum(received.values()) - len(received),
        "unexpected": len(set(received) - expected),
        "deliveries_per_s": round(len(got) / span_s, 1),
        "first_event_to_last_delivery_s": round(span_s, 2),
        "p50_event_to_delivery_ms": round(percentile(latencies, 50), 1),
        "p99_event_to_delivery_ms": round(percentile(latencies, 99), 1),
    }


def _run(args: argparse.Namespace) -> dict[str, Any]:
    url = scratch_database(Settings.load(), args.database_name)
    vehicles = _seed(url, args.vehicles)
    ports = [free_port() for _ in KINDS]
    out = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    receivers = subprocess.Popen(
        [
            sys.executable, "-m", "tracker.bench.outbox_receivers", str(out),
            *[f"{p}:{k}" for p, k in zip(ports, KINDS, strict=True)],
            "--slow-ms", str(args.slow_ms), "--down-from-s", str(args.seconds * 0.25),
            "--down-until-s", str(args.seconds * 0.55),
        ],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert receivers.stdout is not None
    receivers.stdout.readline()  # "receivers ready"
    subs = _subscribe(url, ports, args.batch)
    deliverers = [_deliverer(url) for _ in range(args.deliverers)]
    ctx = multiprocessing.get_context("spawn")
    go, counts = ctx.Event(), ctx.Queue()
    n = args.producers
    procs = [
        ctx.Process(
            target=producer,
            args=(url, vehicles[i::n], args.rate / n, args.seconds, args.tasks, go, counts),
        )
        for i in range(n)
    ]
    load_before = os.getloadavg()
    try:
        for proc in procs:
            proc.start()
        time.sleep(2.0)  # the producers import and connect before the clock starts
        _say(
            f"producing {args.rate}/s for {args.seconds} s ({n} processes × {args.tasks} "
            f"connections) to {len(subs)} receivers"
        )
        started = time.monotonic()
        go.set()
        time.sleep(args.seconds * 0.4)
        _say("SIGKILL one deliverer")
        deliverers[0].send_signal(signal.SIGKILL)
        deliverers[0].wait()
        _close(deliverers[0])
        time.sleep(1.0)
        deliverers[0] = _deliverer(url, wait=False)  # the producers go on meanwhile
        got = [counts.get(timeout=args.seconds * 10 + 120) for _ in procs]
        actions = sum(a for a, _cpu in got)
        producers_cpu_s = sum(cpu for _a, cpu in got)
        produced_s = time.monotonic() - started
        for proc in procs:
            proc.join()
        load_during = os.getloadavg()
        _say(f"{actions} actions; waiting for every delivery")
        if not _wait_delivered(url, args.settle_s):
            _say("not everything was delivered in time")
        # CPU of the main run (the killed deliverer's first life is not counted)
        deliverers_cpu_s = sum(cpu_s(d.pid) for d in deliverers)
        receivers_cpu_s = cpu_s(receivers.pid)
        elapsed = time.monotonic() - started
        with psycopg.connect(url, autocommit=True) as conn:
            event_ids = [int(r[0]) for r in conn.execute("SELECT id FROM outbox_events")]
            first = conn.execute("SELECT extract(epoch FROM min(created_at)) FROM outbox_events")
            first_event_at = float(first.fetchone()[0])  # type: ignore[index]
        _say("baseline: draining a backlog one event per request, then batched")
        one_at_a_time = _drain(url, ports[:1], 1, args.backlog)
        batched = _drain(url, ports[1:2], args.batch, args.backlog)
        _say("draining a backlog to the 5 receivers, batched")
        batched_5 = _drain(url, ports, args.batch, args.backlog)
        _say("again, while the producers list and delist other trucks at the same rate")
        go2 = ctx.Event()
        more = _seed(url, args.vehicles, first=args.vehicles)
        procs = [
            ctx.Process(
                target=producer,
                args=(url, more[i::n], args.rate / n, args.seconds / 2, args.tasks, go2, counts),
            )
            for i in range(n)
        ]
        for proc in procs:
            proc.start()
        time.sleep(2.0)
        started_2 = time.monotonic()  # (the backlog's insert counts as producing time too)
        batched_5_producing = _drain(url, ports, args.batch, args.backlog, go2)
        actions_2 = sum(counts.get(timeout=args.seconds * 10 + 120)[0] for _ in procs)
        produced_2_s = time.monotonic() - started_2
        for proc in procs:
            proc.join()
    finally:
        for d in deliverers:
            d.send_signal(signal.SIGTERM)
        for d in deliverers:
            d.wait(30)
            _close(d)
        receivers.send_signal(signal.SIGTERM)
        receivers.wait(30)
        _close(receivers)
        counts.close()
    logs = _read_logs(out, ports)
    drained = {f"muck-{e}-" for e in event_ids}
    for p in ports:  # leave the main run's deliveries only
        logs[p] = [row for row in logs[p] if row[0].rsplit("-", 1)[0] + "-" in drained]
    result = _figures(logs, ports, subs, event_ids, first_event_at)
    result.update(
        {
            "actions": actions,
            "actions_per_s_achieved": round(actions / produced_s, 1),
            "elapsed_s": round(elapsed, 1),
            "rate_per_s": args.rate,
            "seconds": args.seconds,
            "producers": args.producers,
            "tasks": args.tasks,
            "load_avg_1m_before": round(load_before[0], 2),
            "cpu_s": {
                "producers": round(producers_cpu_s, 1),
                "deliverers": round(deliverers_cpu_s, 1),
                "receivers": round(receivers_cpu_s, 1),
            },
            "load_avg_1m_after_producing": round(load_during[0], 2),
            "batch": args.batch,
            "deliverers": args.deliverers,
            "deliverer_killed": 1,
            "receivers": {"healthy": 3, "slow_ms": args.slow_ms, "down_s": args.seconds * 0.3},
            "drain_batched_per_s": round(batched, 1),
            "drain_5_subscriptions_per_s": round(batched_5, 1),
            "drain_5_subscriptions_while_producing_per_s": round(batched_5_producing, 1),
            "actions_while_draining": actions_2,
            "actions_per_s_while_draining": round(actions_2 / produced_2_s, 1),
            "baseline_one_at_a_time_per_s": round(one_at_a_time, 1),
            "ratio": round(batched / one_at_a_time, 2),
        }
    )
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker bench outbox", description=__doc__)
    parser.add_argument("--rate", type=float, default=500.0, help="platform actions per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--producers", type=int, default=2, help="producer processes")
    parser.add_argument("--tasks", type=int, default=8, help="connections per producer")
    parser.add_argument("--vehicles", type=int, default=400)
    parser.add_argument("--batch", type=int, default=100, help="webhook events per request")
    parser.add_argument("--deliverers", type=int, default=2)
    parser.add_argument("--slow-ms", type=float, default=50.0)
    parser.add_argument("--backlog", type=int, default=3000)
    parser.add_argument("--settle-s", type=float, default=120.0)
    parser.add_argument("--database-name", default=BENCH_DB, help="the scratch database")
    result = _run(parser.parse_args(argv))
    print(json.dumps(result, ensure_ascii=False))
    return 0
