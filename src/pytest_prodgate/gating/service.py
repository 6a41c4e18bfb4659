"""Service gates: ``throughput_rps`` over load runs, ``recovery_s`` over drills (SPEC §6)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_prodgate import stats
from pytest_prodgate.gating.gates import GateKind, SuiteContext, finish, gate_report, no_data
from pytest_prodgate.schema.report import DrillReport, GateReport, Verdict
from pytest_prodgate.stats.windows import throughput_interval, window_autocorrelation

__all__ = ["recovery", "recovery_estimate", "throughput"]


def throughput(ctx: SuiteContext, kind: GateKind) -> list[GateReport]:
    """``throughput_rps``: successful requests/s over time windows (autocorrelation-aware)."""
    target = kind.target(ctx.targets)
    if target is None:
        return []
    gate = kind.name
    runs = [r for c in ctx.cases for t in c.trials for r in t.load_runs]
    if not runs:
        why = "no load run was recorded: drive one with prodgate_load."
        return [no_data(ctx, kind, gate, target, why)]
    policy = ctx.policy
    est, lo, hi, windows, method = throughput_interval(
        runs, policy.confidence, policy.resamples, ctx.seed(gate), method=policy.ci_method
    )
    iv = stats.Interval(est, lo, hi, windows, method)
    if any(r.timed_out for r in runs):
        why = (
            "a load run timed out with calls still in flight: its rate is not a "
            "sustained throughput. Give the model a timeout_s or a longer grace_s."
        )
        return [gate_report(ctx.name, gate, kind.comparator, target, "INCOMPLETE", iv, why)]
    report = finish(ctx, kind, gate, target, iv, "successful requests/s", "window")
    caveats = []
    rho = window_autocorrelation(runs)
    if rho is not None:
        caveats.append(
            f"the windows' lag-1 autocorrelation is {rho:+.2f}"
            + (" (the interval allows for it)" if method == "window-poisson-ar1" else "")
        )
    calls = sum(len(r.calls) for r in runs)
    errors = sum(r.errors() for r in runs)
    if errors:
        caveats.append(f"{errors:,} of {calls:,} requests failed and are not counted")
    if any(r.saturated for r in runs):
        caveats.append(
            "the load runner could not keep its concurrency in flight, so this is a "
            "lower bound of capacity: raise concurrency or use arun with an async client"
        )
    if method == "too-few-windows":
        report.hint = (
            "The run was too short for 5 time windows of ~5 call latencies each: "
            "run it longer (duration_s) to get an interval."
        )
        report.to_resolve, report.to_resolve_unit = None, ""
    if caveats:
        report.reason = (
            (report.reason + " " if report.reason else "") + "; ".join(caveats).capitalize() + "."
        )
    return [report]


def recovery_estimate(
    drills: Sequence[DrillReport | Mapping[str, Any]],
) -> tuple[float, int, bool]:
    """``(worst recovery seconds, number of drills, whether any failed)``.

    A drill's time is its ``recovered_s``; for a failed drill that is the time
    from the fault to its recovery step's deadline. A drill without a finite
    ``recovered_s`` (it raised before its recovery step) counts as ``inf``.
    Drills are :class:`DrillReport` s or their dicts (``Drill.result``).

    Raises:
        ValueError: no drills.
    """
    if not drills:
        raise ValueError("recovery_estimate() needs at least one drill")
    worst = -math.inf
    failed = False
    for d in drills:
        drill = DrillReport.model_validate(d) if isinstance(d, Mapping) else d
        value = drill.recovered_s
        seconds = math.inf if value is None or not math.isfinite(value) else value
        worst = max(worst, seconds)
        failed = failed or not drill.recovered or drill.error is not None
    return worst, len(drills), failed


def recovery(ctx: SuiteContext, kind: GateKind) -> list[GateReport]:
    """``recovery_s``: the slowest drill against the budget (no interval)."""
    budget = kind.target(ctx.targets)
    if budget is None:
        return []
    gate = kind.name
    drills = [d for c in ctx.cases for t in c.trials for d in t.drills]
    if not drills:
        why = "no recovery drill was recorded: time one with prodgate_drill."
        return [no_data(ctx, kind, gate, budget, why)]
    worst, n, failed = recovery_estimate(drills)
    iv = stats.Interval(worst, worst, worst, n, "observed-max")
    verdict: Verdict = "PASS" if worst <= budget and not failed else "FAIL"
    reason = ""
    if failed:
        names = [str(d.name) for d in drills if not d.recovered]
        reason = (
            f"{len(names)} of {n} drills never recovered within their timeout "
            f"({', '.join(names[:3])}); a failed drill counts as its timeout."
        )
    elif verdict == "FAIL":
        reason = f"the slowest of {n} drills took {worst:.3g} s > {budget:.3g} s."
    report = gate_report(ctx.name, gate, kind.comparator, budget, verdict, iv, reason)
    report.lower = report.upper = None  # the worst drill: no interval (SPEC §6)
    return [report]
