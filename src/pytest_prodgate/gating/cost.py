"""The cost gate ``cost_per_call_usd``: the mean cost per call (SPEC §6).

With a declared per-call cap (marker keyword ``cost_cap_usd``, e.g. max_tokens
× output price) the mean of costs in ``[0, cap]`` has an exact bound, the
betting bound over cases (:func:`~pytest_prodgate.stats.betting_mean`).
Without one, no method can bound the mean of an unbounded, skewed cost from
above at any n (one call in a thousand could cost a fortune), so the gate
never PASSes: it FAILs when the betting lower bound of costs ``>= 0``
(:func:`~pytest_prodgate.stats.nonnegative_lower`) is above the budget, and
is otherwise INCONCLUSIVE, asking for the cap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_prodgate import stats
from pytest_prodgate.gating.gates import (
    GateKind,
    GatePolicy,
    SuiteContext,
    count,
    finish,
    gate_report,
    no_data,
)
from pytest_prodgate.schema.report import GateReport

__all__ = ["NO_CAP", "cost", "cost_interval"]

#: The reason of an uncapped cost gate that did not FAIL.
NO_CAP = "declare cost_cap_usd (the most one call can cost) to let this gate pass."


def cost_interval(
    values: np.ndarray[Any, Any],
    clusters: np.ndarray[Any, Any] | None,
    cap: float | None,
    policy: GatePolicy,
    seed: np.random.SeedSequence,
) -> stats.Interval:
    """Interval of the mean cost per call; unbounded above without a cap.

    With ``cap`` (and ``ci_method`` other than ``bootstrap``): the betting
    bound of the per-case mean cost per call in ``[0, cap]`` (method
    ``"betting"``) when every case made as many calls; when cases made
    different numbers of calls, the betting bound of the ratio of the cases'
    sums to their calls (:func:`~pytest_prodgate.stats.betting_ratio`, method
    ``"betting-ratio"``). Without a cap: the same bounds' lower side, costs
    being ``>= 0``, and upper bound ``inf`` (method ``"betting-lower"``).
    Each side errs at most ``(1 - confidence) / 2`` at every n. Under
    ``bootstrap``: the BCa bootstrap of the ratio of sums, clustered by case,
    when there is a cap or cases made different numbers of calls (its lower
    side only without a cap). The estimate stays the mean over calls.
    """
    units = values
    est = float(values.mean())
    sums = sizes = None
    if clusters is not None:
        codes = stats.cluster_codes(clusters)
        sizes = np.bincount(codes)
        sums = np.bincount(codes, weights=np.maximum(values, 0.0))
        units = sums / sizes
    unequal = sizes is not None and bool(sizes.min() != sizes.max())
    if policy.ci_method == "bootstrap" and (cap is not None or unequal):
        iv = stats.bootstrap_mean(
            values,
            confidence=policy.confidence,
            resamples=policy.resamples,
            seed=seed,
            clusters=clusters,
        )
        upper = iv.upper if cap is not None else np.inf
        return stats.Interval(est, min(iv.lower, est), max(upper, est), len(values), iv.method)
    if unequal and sums is not None and sizes is not None:
        # Cases making more calls weigh more in the mean per call than in the mean of
        # case means: bounding the latter erred in half the runs when the number of
        # calls goes with their cost (retries, agents). The betting bound of the ratio
        # weighs each case by its calls.
        iv = stats.betting_ratio(sums, sizes, policy.confidence, seed, cap=cap)
        return stats.Interval(est, min(iv.lower, est), max(iv.upper, est), len(values), iv.method)
    iv = _exact(units, cap, policy, seed)
    return stats.Interval(est, min(iv.lower, est), max(iv.upper, est), len(values), iv.method)


def _exact(
    units: np.ndarray[Any, Any],
    cap: float | None,
    policy: GatePolicy,
    seed: np.random.SeedSequence,
) -> stats.Interval:
    """The betting bound of the case means: costs in ``[0, cap]``, or ``>= 0`` without a
    cap (method ``betting-lower``, upper bound ``inf``)."""
    if cap is None:
        return stats.nonnegative_lower(np.maximum(units, 0.0), policy.confidence, seed)
    iv = stats.betting_mean(np.clip(units, 0.0, cap), policy.confidence, seed, low=0.0, high=cap)
    return stats.Interval(iv.estimate, iv.lower, iv.upper, iv.n, "betting")


#: The most kinds of cost failure a reason names (the rest are counted).
_KINDS_SHOWN = 3


def _no_cost_reason(failed: list[tuple[str, str]]) -> str:
    """Why the calls have no cost, one clause per kind (``returned nan``, ``returned -1``),
    each with its count and first case: a reason naming only the first hid the others."""
    kinds: dict[str, list[str]] = {}
    for nodeid, why in failed:
        kinds.setdefault(why, []).append(nodeid)
    n = len(failed)
    parts = [
        f"{why} ({count(len(ids), 'call')}, first {ids[0]})" if len(ids) > 1 else f"{ids[0]}: {why}"
        for why, ids in list(kinds.items())[:_KINDS_SHOWN]
    ]
    rest = len(kinds) - _KINDS_SHOWN
    more = f"; and {rest} more kind{'s' if rest > 1 else ''} of failure" if rest > 0 else ""
    return f"{count(n, 'call')} {'has' if n == 1 else 'have'} no cost: {'; '.join(parts)}{more}"


def cost(ctx: SuiteContext, kind: GateKind) -> list[GateReport]:
    """``cost_per_call_usd``: every successful call's cost plus its share of added costs."""
    budget = kind.target(ctx.targets)
    if budget is None:
        return []
    gate = kind.name
    cap_value = ctx.targets.get("cost_cap_usd")
    cap = None if cap_value is None else float(cap_value)
    samples = ctx.columns.cost
    values, clusters = samples.values, samples.clusters
    failed = samples.failed + (samples.unpriced if samples.priced else [])
    known = samples.known
    if failed:
        why = _no_cost_reason(failed)
        return [gate_report(ctx.name, gate, kind.comparator, budget, "INCOMPLETE", None, why)]
    if not values or not known:
        why = (
            "no cost was recorded: give Model(cost=...) or Model(pricing=Pricing(...)), "
            "or call prodgate_case.add_cost()."
        )
        return [no_data(ctx, kind, gate, budget, why)]
    arr = np.array(values, dtype=float)
    if cap is not None and float(arr.max()) > cap:
        why = (
            f"a call cost {arr.max():.6g} USD, more than the declared cost_cap_usd={cap:g}: "
            "the cap is wrong, so no bound can rest on it. Raise it to the true per-call maximum."
        )
        return [gate_report(ctx.name, gate, kind.comparator, budget, "INCOMPLETE", None, why)]
    cl = np.array(clusters)
    multi = stats.distinct_count(cl) < len(cl)
    iv = cost_interval(arr, cl if multi else None, cap, ctx.policy, ctx.seed(gate))
    report = finish(ctx, kind, gate, budget, iv, "mean cost per call (USD)", "call")
    if cap is None and report.verdict == "INCONCLUSIVE":
        report.reason = (
            f"mean cost per call (USD) {kind.value(iv.estimate)}; without a cap it has no "
            f"upper bound: {NO_CAP}"
        )
        if iv.estimate <= budget:  # more calls could show a FAIL, never a PASS
            report.hint = (
                "No number of calls shows an uncapped mean cost within budget; with the "
                "cap (e.g. max_tokens x output price + the longest prompt x input price) "
                "the bound is exact at any n."
            )
            report.to_resolve, report.to_resolve_unit = None, ""
    return [report]
