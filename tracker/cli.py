"""The ``tracker`` command.

Subcommands are small; each heavy one lives in its domain package and is imported lazily so that
``tracker --help`` stays fast. The long-running processes (serve, gateway, engine, maintenance)
are declared in tracker.processes; the rest are tools that run once. Benchmarks and tools are
modules exposing ``main(argv) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tracker import processes

BENCHES: dict[str, str] = {
    "ingest": "tracker.bench.ingest",
    "history": "tracker.bench.history",
    "geofence": "tracker.bench.geofence",
    "jt808": "tracker.bench.jt808",
    "live": "tracker.bench.live",
    "detect": "tracker.bench.detect",
    "engine": "tracker.bench.engine",
    "capacity": "tracker.bench.capacity",
    "kpi": "tracker.bench.kpi",
    "faults": "tracker.bench.faults",
    "packs": "tracker.bench.packs",
    "outbox": "tracker.bench.outbox",
    "cases": "tracker.bench.cases",
    "exports": "tracker.bench.exports",
}


def _run_module(module: str, argv: Sequence[str]) -> int:
    mod = importlib.import_module(module)
    result: int = mod.main(list(argv))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="tracker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for process in processes.PROCESSES:
        sub.add_parser(process.command, help=process.help, add_help=False)
    sub.add_parser("migrate", help="apply database migrations", add_help=False)
    sub.add_parser(
        "seed", help="register a demo fleet (company, trucks, terminals)", add_help=False
    )
    sub.add_parser("simulate", help="drive simulated trucks on real roads", add_help=False)
    sub.add_parser("user", help="manage staff accounts (user add ...)", add_help=False)
    sub.add_parser(
        "import", help="import sites, yards and zones (import geojson ...)", add_help=False
    )
    sub.add_parser(
        "capacity", help="yard capacity ledger (capacity reconcile [--fix])", add_help=False
    )
    sub.add_parser("evidence", help="evidence packs (evidence verify PACK)", add_help=False)

    sub.add_parser(
        "cases", help="case taxonomy and jurisdictions (cases taxonomy|areas FILE)", add_help=False
    )
    bench = sub.add_parser("bench", help="run a benchmark and print its figures")
    bench.add_argument("name", choices=sorted(BENCHES))
    if not args or args[0] in {"-h", "--help"}:
        parser.print_help()
        return 0
    command, rest = args[0], args[1:]
    if command == "bench":
        if not rest or rest[0] not in BENCHES:
            parser.parse_args(args)  # prints the usage error and exits
        return _run_module(BENCHES[rest[0]], rest[1:])
    if command in processes.BY_COMMAND:
        return processes.run(processes.BY_COMMAND[command], rest)
    modules = {
        "migrate": "tracker.db",
        "seed": "tracker.sim.seed",
        "simulate": "tracker.sim.cli",
        "user": "tracker.accounts.cli",
        "import": "tracker.registry.importer",
        "capacity": "tracker.capacity.reconcile",
        "evidence": "tracker.evidence.cli",
        "cases": "tracker.cases.cli",
    }
    if command not in modules:
        parser.parse_args(args)
        return 2
    return _run_module(modules[command], rest)


if __name__ == "__main__":
    raise SystemExit(main())
