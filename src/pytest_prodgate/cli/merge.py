"""``prodgate merge SHARD.json… --json OUT``: gate a sharded run's reports as one run (SPEC §14).

The checks and the gating are :func:`pytest_prodgate.gating.merge.merge_shards`;
this module reads the files, prints the merged table as ``prodgate show`` does,
and writes the merged report atomically. Exit status as ``prodgate gate``: 0 the
run passes, 1 a gate fails it, 2 bad input (one line naming the files).
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any, TextIO

from pytest_prodgate.cli.main import (
    EXIT_FAIL,
    EXIT_OK,
    UsageError,
    _check_output,
    _load,
    _resolve,
    show,
)

__all__ = ["add_parser", "merge"]


def add_parser(commands: Any) -> None:
    """Declare ``prodgate merge`` on the command's subparsers."""
    p = commands.add_parser(
        "merge",
        help="gate the reports of every shard of a run (--prodgate-shard) as one run.",
        description=(
            "Check that the reports are shards 1..N of one run, pool their cases and "
            "recompute every gate over all of them, as one unsharded run would; "
            "exit 0 when the run passes, 1 when a gate fails it, 2 on bad input."
        ),
    )
    p.add_argument("shards", metavar="SHARD", nargs="+", help="a shard's JSON report.")
    p.add_argument(
        "-o",
        "--json",
        dest="out",
        metavar="OUT",
        default=None,
        help="write the merged report (JSON, the format of --prodgate-report) to OUT.",
    )
    p.add_argument(
        "--baseline",
        metavar="PATH",
        default=None,
        help="the baseline the shards ran against (--prodgate-baseline), when they had one.",
    )


def merge(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``prodgate merge``; bad input raises :class:`~pytest_prodgate.cli.main.UsageError`."""
    from pytest_prodgate.errors import MergeError
    from pytest_prodgate.gating.merge import Shard, merge_shards

    target = _resolve(args.out) if args.out is not None else None
    if target is not None:
        inputs = [("the shard", raw) for raw in args.shards]
        if args.baseline is not None:
            inputs.append(("--baseline", args.baseline))
        _check_output("--json", target, inputs)
    shards = [Shard(raw, _load(raw)) for raw in args.shards]
    baseline = sha = name = None
    if args.baseline is not None:
        path = _resolve(args.baseline)
        baseline = _load(args.baseline, "--baseline")
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        name = str(path)
    try:
        result = merge_shards(shards, baseline=baseline, baseline_name=name, baseline_sha256=sha)
    except MergeError as exc:
        raise UsageError(str(exc)) from None
    show(result, out)
    if target is not None:
        from pytest_prodgate.schema.files import write_report

        try:
            write_report(target, result)
        except OSError as exc:
            raise UsageError(f"--json {target}: cannot write: {exc}") from None
        print(f"prodgate: report written to {target}", file=out)
    return EXIT_FAIL if result.fails_run else EXIT_OK
