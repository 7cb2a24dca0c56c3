"""``tracker evidence verify PACK [--head HASH]``: check an evidence pack offline.

Exit 0 when every file's SHA-256, the manifest and the event chain hold (and the chain's head is
``--head``, when given); 1 naming the first mismatch; 2 when the file cannot be read."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tracker.evidence.verify import verify_pack


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker evidence", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("verify", help="check a pack: hashes, manifest, event chain")
    check.add_argument("pack", type=Path)
    check.add_argument("--head", help="the chain head the platform holds for this file")
    args = parser.parse_args(argv)
    try:
        data = args.pack.read_bytes()
    except OSError as exc:
        print(f"cannot read {args.pack}: {exc}", file=sys.stderr)
        return 2
    result = verify_pack(data, head=args.head)
    if not result.ok:
        print(f"FAILED: {result.problem}")
        return 1
    print(f"OK: {result.files} files, {result.events} events, chain head {result.head}")
    return 0
