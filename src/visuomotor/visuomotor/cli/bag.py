"""Inspect and mend rosbag2 bags: ``visuomotor bag info BAG`` and ``visuomotor bag repair BAG [--out DIR]``.

``info`` reads the whole bag (every MCAP chunk decompressed and CRC-checked) and prints its storage, topics
with types and message counts, duration, and whether it was closed cleanly or needs repair; exit code 0
when it is whole, 1 when it needs ``repair``. ``repair`` makes a bag whose recording was killed (or whose
chunks are corrupt) readable again: MCAP, every message of every whole chunk is copied into a new closed bag
(``--out``, default ``BAG-repaired`` beside it) and each dropped chunk is named; sqlite3, the database's
committed log is merged and ``metadata.yaml`` regenerated from its tables (in place, or on a copy at
``--out``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from visuomotor.bag import bag_status, repair_bag

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="storage, topics, counts, duration; closed cleanly or needs repair")
    info.add_argument("bag", type=Path, metavar="BAG", help="bag directory (or its .mcap/.db3 file)")
    info.add_argument("--json", action="store_true", help="print the report as JSON")
    repair = sub.add_parser("repair", help="rewrite a killed or corrupt bag into a valid one")
    repair.add_argument("bag", type=Path, metavar="BAG", help="bag directory (or its .mcap/.db3 file)")
    repair.add_argument(
        "--out",
        type=Path,
        help="repaired bag directory to create (default: MCAP, BAG-repaired beside it; sqlite3, in place)",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "info":
        status = bag_status(args.bag)
        if args.json:
            print(json.dumps(status.to_dict(), indent=2))
        else:
            print("\n".join(status.lines()))
        return 1 if status.needs_repair else 0
    report = repair_bag(args.bag, args.out)
    print("\n".join(report.lines()))
    after = bag_status(report.out)
    if after.needs_repair:  # never expected: say so rather than hand back a bag that is still broken
        print("\n".join(["the repaired bag still has problems:", *after.lines()]))
        return 1
    return 0
