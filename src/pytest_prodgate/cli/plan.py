"""``prodgate plan``: how many cases a gate needs, before building (SPEC §14).

The numbers come from the power computations the inconclusive hints use
(:mod:`pytest_prodgate.stats.samplesize`, at :data:`~pytest_prodgate.gating.gates.RESOLVE_POWER`
unless ``--power`` says otherwise):

* ``--floor F --expected P``: the cases at which a 0/1 accuracy gate's interval
  clears the floor with probability ``--power`` if the true accuracy is P
  (PASS when P > F, FAIL when P < F);
* ``--latency-q Q``: the fewest calls for a finite bound of the Q-quantile; with
  ``--within S`` (the share of calls expected within the budget) the calls at
  which the bound clears the budget with that probability;
* ``--max-regression M --discordance D``: the paired cases at which the
  regression gate's lower bound clears ``-M`` for an unchanged model (or one
  changed by ``--expected-change``) when a share D of cases flip either way;
* ``--cost-per-call USD`` (with ``--trials``): what that many cases cost;
* ``--from REPORT``: the extra cases for every inconclusive gate of a saved run
  (an uncapped cost gate gets no number to PASS, only the advice to declare
  ``cost_cap_usd``).
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any, TextIO

from pytest_prodgate.errors import ProdgateError

if TYPE_CHECKING:
    from pytest_prodgate.schema.report import RunReport

__all__ = ["PlanError", "add_parser", "plan"]

#: The method of a cost gate without ``cost_cap_usd``: it can FAIL, never PASS.
UNCAPPED = "betting-lower"


class PlanError(ProdgateError):
    """A bad ``prodgate plan`` request; the message names the flag."""


def add_parser(commands: Any) -> None:
    """Register ``plan`` on the command's subparsers."""
    p = commands.add_parser(
        "plan",
        help="how many cases a gate needs (before building, or for a saved run's gates).",
        description=(
            "How many cases (or calls) a gate needs to resolve with the given power, "
            "from the same computations as the inconclusive hints."
        ),
    )
    p.add_argument("--floor", type=float, help="accuracy floor to clear (0..1).")
    p.add_argument("--expected", type=float, help="the accuracy you expect (0..1).")
    p.add_argument("--latency-q", type=float, metavar="Q", help="latency quantile, e.g. 0.95.")
    p.add_argument(
        "--within",
        type=float,
        metavar="SHARE",
        help="share of calls expected within the latency budget (with --latency-q).",
    )
    p.add_argument("--max-regression", type=float, metavar="M", help="allowed accuracy drop.")
    p.add_argument(
        "--discordance",
        type=float,
        metavar="D",
        help="share of cases whose outcome flips between baseline and candidate.",
    )
    p.add_argument(
        "--expected-change",
        type=float,
        default=0.0,
        metavar="DELTA",
        help="expected accuracy change vs the baseline (default 0).",
    )
    p.add_argument("--power", type=float, help="chance of resolving (default 0.8).")
    p.add_argument("--confidence", type=float, default=0.95, help="two-sided (default 0.95).")
    p.add_argument(
        "--method",
        choices=("wilson", "clopper-pearson"),
        default="clopper-pearson",
        help="interval of the accuracy gate (default clopper-pearson, as "
        "--prodgate-ci-method=auto).",
    )
    p.add_argument("--cost-per-call", type=float, metavar="USD", help="price of one call.")
    p.add_argument("--trials", type=int, default=1, help="calls per case (default 1).")
    p.add_argument(
        "--from",
        dest="source",
        metavar="REPORT",
        help="plan the extra cases of every inconclusive gate of a saved JSON report.",
    )


def _fraction(flag: str, value: float | None, *, open_: bool = False) -> float:
    if value is None:
        raise PlanError(f"{flag} is required here (a number in [0, 1])")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise PlanError(f"{flag}={value!r}: must be a number in [0, 1]")
    if open_ and value in (0.0, 1.0):
        raise PlanError(f"{flag}={value!r}: must be strictly between 0 and 1")
    return value


def _check(args: argparse.Namespace) -> tuple[float, float]:
    from pytest_prodgate.gating.gates import RESOLVE_POWER

    power = RESOLVE_POWER if args.power is None else args.power
    if not (math.isfinite(power) and 0.5 <= power < 1.0):
        raise PlanError(f"--power={args.power!r}: must be in [0.5, 1)")
    c = args.confidence
    if not (math.isfinite(c) and 0.5 < c < 1.0):
        raise PlanError(f"--confidence={c!r}: must be in (0.5, 1)")
    if args.trials < 1:
        raise PlanError(f"--trials={args.trials!r}: must be >= 1")
    if args.cost_per_call is not None and not (
        math.isfinite(args.cost_per_call) and args.cost_per_call >= 0
    ):
        raise PlanError(f"--cost-per-call={args.cost_per_call!r}: must be a price >= 0")
    return power, c


def plan_accuracy(
    floor: float,
    expected: float,
    power: float,
    confidence: float,
    method: str = "clopper-pearson",
) -> int | None:
    """Cases at which a 0/1 accuracy gate resolves with probability ``power``."""
    from pytest_prodgate.stats import n_to_resolve_proportion

    return n_to_resolve_proportion(expected, floor, confidence, method=method, power=power)


def plan_latency(q: float, within: float, power: float, confidence: float) -> int | None:
    """Calls at which the q-quantile's bound clears the budget with probability ``power``."""
    import numpy as np

    from pytest_prodgate.stats import n_to_resolve_quantile

    grid = 100_000
    under = round(within * grid)
    values = np.concatenate([np.zeros(under), np.full(grid - under, 2.0)])
    return n_to_resolve_quantile(values, q, 1.0, confidence, power=power)


def plan_regression(
    max_regression: float, discordance: float, change: float, power: float, confidence: float
) -> int | None:
    """Paired cases at which the regression gate's lower bound clears ``-max_regression``.

    A per-case difference is -1, 0 or 1; with a share ``discordance`` of flips
    its variance is ``discordance - change**2``. The number is the hints'
    :func:`~pytest_prodgate.stats.n_to_resolve_mean` for an interval of that spread.
    """
    from pytest_prodgate.stats import Interval, n_to_resolve_mean, z_two_sided

    var = discordance - change**2
    if var <= 0:
        raise PlanError(f"--discordance={discordance!r}: must exceed the squared --expected-change")
    n0 = 10_000
    half = z_two_sided(confidence) * math.sqrt(var / n0)
    iv = Interval(change, change - half, change + half, n0, "normal")
    return n_to_resolve_mean(iv, -max_regression, power=power, confidence=confidence)


def _cost(n: int, args: argparse.Namespace) -> str:
    if args.cost_per_call is None:
        return ""
    return f" (~${n * args.trials * args.cost_per_call:,.2f} at ${args.cost_per_call:g} a call)"


def _needed(n: int | None, unit: str, args: argparse.Namespace, side: str | None = None) -> str:
    """``N units (~$cost) to SIDE``, or why no number resolves it."""
    if n is None:
        return "no number resolves it: the expected value sits on the target"
    to = f" to {side}" if side else ""
    return f"{n:,} {unit}{'' if n == 1 else 's'}{_cost(n, args)}{to}"


def plan(args: argparse.Namespace, out: TextIO, report: RunReport | None) -> int:
    """Print the plan; ``report`` is the ``--from`` report (loaded by the command)."""
    power, confidence = _check(args)
    lines: list[str] = []
    pct = f"{power:.0%} power, {confidence:.0%} confidence"
    if args.floor is not None or args.expected is not None:
        floor = _fraction("--floor", args.floor)
        expected = _fraction("--expected", args.expected)
        n = plan_accuracy(floor, expected, power, confidence, args.method)
        side = "PASS" if expected > floor else "FAIL"
        lines.append(
            f"accuracy_floor >= {floor:g} at an expected {expected:g}: "
            f"{_needed(n, 'case', args, side)} ({pct}, {args.method})"
        )
    if args.latency_q is not None:
        from pytest_prodgate.stats import min_n_for_quantile

        q = _fraction("--latency-q", args.latency_q, open_=True)
        least = min_n_for_quantile(q, confidence)
        lines.append(f"latency p{q * 100:g}: at least {least:,} calls for a finite bound")
        if args.within is not None:
            within = _fraction("--within", args.within)
            n = plan_latency(q, within, power, confidence)
            side = "PASS" if within > q else "FAIL"
            lines.append(
                f"latency p{q * 100:g} with {within:g} of calls within budget: "
                f"{_needed(n, 'call', args, side)} ({pct})"
            )
    elif args.within is not None:
        raise PlanError("--within needs --latency-q")
    if args.max_regression is not None or args.discordance is not None:
        m = _fraction("--max-regression", args.max_regression)
        d = _fraction("--discordance", args.discordance)
        n = plan_regression(m, d, args.expected_change, power, confidence)
        lines.append(
            f"regression (max {m:g}) with {d:g} of cases flipping, change "
            f"{args.expected_change:+g}: {_needed(n, 'paired case', args)} ({pct})"
        )
    if report is not None:
        lines.extend(_from_report(report, args))
    if not lines:
        raise PlanError(
            "nothing to plan: give --floor/--expected, --latency-q, "
            "--max-regression/--discordance or --from REPORT"
        )
    out.write("\n".join(lines) + "\n")
    return 0


def _from_report(report: RunReport, args: argparse.Namespace) -> list[str]:
    """Extra cases (calls) for every inconclusive gate of a saved run.

    An uncapped cost gate (method ``betting-lower``) can never PASS: its line
    says to declare ``cost_cap_usd`` instead of promising a number.
    """
    from pytest_prodgate.gating.cost import NO_CAP

    lines = []
    for s in report.suites:
        per_case = [c.cost_usd for c in s.cases if c.cost_usd is not None]
        mean_cost = sum(per_case) / len(per_case) if per_case else None
        for g in s.gates:
            if g.verdict != "INCONCLUSIVE":
                continue
            head = f"{s.name} {g.gate}: n={g.n:,}"
            if g.method == UNCAPPED and g.to_resolve is None:
                lines.append(f"{head}: no number of calls lets it pass; {NO_CAP}")
                continue
            if g.to_resolve is None:
                lines.append(f"{head}: no number resolves it ({g.hint or g.reason})")
                continue
            unit = g.to_resolve_unit or "case"
            extra = max(0, g.to_resolve - g.n)
            cost = ""
            if args.cost_per_call is not None:
                cost = _cost(extra, args)
            elif mean_cost is not None and unit == "case":
                cost = f" (~${extra * mean_cost:,.2f} at this run's ${mean_cost:.4g} a case)"
            more = f"{head}: about {g.to_resolve:,} {unit}s in all, {extra:,} more{cost}"
            if g.method == UNCAPPED:  # more calls can show a FAIL, never a PASS
                more += f" to show a FAIL; {NO_CAP}"
            lines.append(more)
    if not lines:
        lines.append(f"no inconclusive gate in {args.source}")
    return lines
