"""``prodgate compare BASE NEW``: per suite, how NEW differs from BASE, without gating.

The figures are :func:`pytest_prodgate.gating.compare.compare_reports`; this
module prints them. Exit status: 0 (a comparison never fails), 2 bad input.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO

from pytest_prodgate.cli.main import EXIT_OK, _load

if TYPE_CHECKING:
    from pytest_prodgate.gating.compare import Comparison

__all__ = ["add_parser", "compare", "lines"]

_SHOWN = 10


def add_parser(commands: Any) -> None:
    """Declare ``prodgate compare`` on the command's subparsers."""
    p = commands.add_parser(
        "compare",
        help="per suite, the paired accuracy change, flipped cases, latency and cost (no gate).",
        description=(
            "Compare NEW with BASE suite by suite: the paired change of accuracy with its "
            "interval, the cases that flipped, and the changes of latency and cost. "
            "Nothing is gated: exit 0, or 2 on bad input."
        ),
    )
    p.add_argument("base", metavar="BASE", help="the earlier JSON report.")
    p.add_argument("new", metavar="NEW", help="the later JSON report.")


def compare(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``prodgate compare``; bad input raises the command's usage error."""
    from pytest_prodgate.gating.compare import compare_reports

    result = compare_reports(_load(args.base), _load(args.new))
    out.write("\n".join(lines(result, args.base, args.new)) + "\n")
    return EXIT_OK


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f} ms" if abs(x) >= 100 else f"{x:.3g} ms"


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x:.6f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or a == 0:
        return ""
    return f" ({b / a:.2f}x)"


def _ids(ids: list[str]) -> str:
    more = f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    return ", ".join(ids[:_SHOWN]) + more


def lines(result: Comparison, base: str, new: str) -> list[str]:
    """The comparison as ``prodgate compare`` prints it."""
    pct = f"{result.confidence:.0%}"
    out = [f"prodgate compare: {base} -> {new} (no gate)"]
    for s in result.suites:
        out.append(f"suite {s.suite}:")
        if s.change is None:
            out.append("  accuracy: no case scored in both runs (pair cases by stable ids)")
        else:
            out.append(
                f"  accuracy {s.base_accuracy:.3f} -> {s.new_accuracy:.3f}: change "
                f"{s.change:+.3f}, {pct} interval [{s.lower:+.3f}, {s.upper:+.3f}] "
                f"over {s.paired:,} paired cases ({s.method})"
            )
        out.append(f"  flipped: {len(s.regressed)} regressed, {len(s.fixed)} fixed")
        if s.regressed:
            out.append(f"    regressed: {_ids(s.regressed)}")
        if s.fixed:
            out.append(f"    fixed: {_ids(s.fixed)}")
        if s.only_base or s.only_new:
            out.append(
                f"  not paired: {len(s.only_base)} only in BASE, {len(s.only_new)} only in NEW"
            )
        b, n = s.base, s.new
        assert b is not None
        assert n is not None
        for label, attr in (("latency p50", "latency_p50_ms"), ("latency p95", "latency_p95_ms")):
            x, y = getattr(b, attr), getattr(n, attr)
            out.append(f"  {label}: {_ms(x)} -> {_ms(y)}{_ratio(x, y)}")
        out.append(
            f"  cost per call: {_usd(b.cost_per_call_usd)} -> {_usd(n.cost_per_call_usd)}"
            f"{_ratio(b.cost_per_call_usd, n.cost_per_call_usd)}"
            f" ({b.calls:,} -> {n.calls:,} calls)"
        )
    if result.only_base:
        out.append(f"suites only in BASE: {', '.join(result.only_base)}")
    if result.only_new:
        out.append(f"suites only in NEW: {', '.join(result.only_new)}")
    if not result.suites:
        out.append("no suite in both reports")
    return out
