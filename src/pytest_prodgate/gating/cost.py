"""The cost gate ``cost_per_call_usd``: the mean cost per call (SPEC §6).

With a declared per-call cap (marker keyword ``cost_cap_usd``, e.g. max_tokens
× output price) the mean of costs in ``[0, cap]`` has an exact bound, the
betting bound over cases (:func:`~pytest_prodgate.stats.betting_mean`).
Without one, no method can bound the mean of an unbounded, skewed cost from
few calls: below :data:`MIN_CALLS_UNCAPPED` calls the gate is INCONCLUSIVE
and says how many it needs (never a PASS on one call); from there on it uses
the BCa bootstrap, whose error the decision table measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_prodgate import stats
from pytest_prodgate.gating.gates import (
    GateKind,
    GatePolicy,
    SuiteContext,
    finish,
    gate_report,
    no_data,
)
from pytest_prodgate.schema.report import GateReport

__all__ = ["MIN_CALLS_UNCAPPED", "cost", "cost_interval"]

#: Fewer calls than this, without a ``cost_cap_usd``, give an INCONCLUSIVE cost gate.
MIN_CALLS_UNCAPPED = 30


def cost_interval(
    values: np.ndarray[Any, Any],
    clusters: np.ndarray[Any, Any] | None,
    cap: float | None,
    policy: GatePolicy,
    seed: np.random.SeedSequence,
) -> stats.Interval:
    """Interval of the mean cost per call; unbounded below the minimum without a cap.

    With ``cap`` (and ``ci_method`` other than ``bootstrap``): the betting
    bound of the per-case mean cost per call in ``[0, cap]`` (method
    ``"betting"``; the estimate stays the mean over calls). Without: fewer
    than :data:`MIN_CALLS_UNCAPPED` calls give ``(-inf, inf)``, method
    ``"too-few-calls"``; more give the BCa bootstrap (clustered by case).
    """
    if cap is not None and policy.ci_method != "bootstrap":
        if clusters is None:
            iv = stats.betting_mean(values, policy.confidence, seed, low=0.0, high=cap)
        else:
            _, codes = np.unique(clusters, return_inverse=True)
            means = np.bincount(codes, weights=values) / np.bincount(codes)
            iv = stats.betting_mean(
                np.clip(means, 0.0, cap), policy.confidence, seed, low=0.0, high=cap
            )
        est = float(values.mean())
        return stats.Interval(est, min(iv.lower, est), max(iv.upper, est), len(values), "betting")
    if cap is None and len(values) < MIN_CALLS_UNCAPPED:
        return stats.Interval(float(values.mean()), -np.inf, np.inf, len(values), "too-few-calls")
    return stats.bootstrap_mean(
        values,
        confidence=policy.confidence,
        resamples=policy.resamples,
        seed=seed,
        clusters=clusters,
    )


def cost(ctx: SuiteContext, kind: GateKind) -> list[GateReport]:
    """``cost_per_call_usd``: every successful call's cost plus its share of added costs."""
    budget = kind.target(ctx.targets)
    if budget is None:
        return []
    gate = kind.name
    cap_value = ctx.targets.get("cost_cap_usd")
    cap = None if cap_value is None else float(cap_value)
    values: list[float] = []
    clusters: list[int] = []
    failed: list[str] = []
    unpriced: list[str] = []
    priced = any(
        c.cost_usd is not None or c.cost_error is not None
        for _, t in ctx.scored
        for c in t.calls
        if c.kind == "call"
    )
    known = False
    for k, (_, t) in enumerate(ctx.scored):
        # A failed call returned nothing to price: leave it out rather than count $0.
        calls = [c for c in t.calls if c.kind == "call" and c.ok]
        known = known or t.added_cost_usd > 0
        if not calls:
            if t.added_cost_usd > 0:
                values.append(t.added_cost_usd)
                clusters.append(k)
            continue
        share = t.added_cost_usd / len(calls)
        for c in calls:
            if c.cost_error is not None:
                failed.append(f"{t.nodeid}: {c.cost_error}")
                continue
            if c.cost_usd is None and priced and not share:
                # Beside priced calls, an unpriced one is unknown, not free.
                unpriced.append(f"{t.nodeid}: {c.model or 'a model'} has no cost= or pricing=")
                continue
            known = known or c.cost_usd is not None
            values.append((c.cost_usd or 0.0) + share)
            clusters.append(k)
    failed.extend(unpriced)
    if failed:
        why = f"{len(failed)} calls have no cost: {failed[0]}" + (
            f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        )
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
    multi = len(np.unique(cl)) < len(cl)
    iv = cost_interval(arr, cl if multi else None, cap, ctx.policy, ctx.seed(gate))
    report = finish(ctx, kind, gate, budget, iv, "mean cost per call (USD)", "call")
    if iv.method == "too-few-calls":
        report.reason = (
            f"mean cost per call (USD) {iv.estimate:.6g} from {len(arr)} calls: below "
            f"{MIN_CALLS_UNCAPPED} calls a mean of unbounded costs has no trustworthy "
            "interval, so it can neither pass nor fail."
        )
        report.hint = (
            f"Without a per-call cap the mean cost needs at least {MIN_CALLS_UNCAPPED} calls "
            f"for an interval; this run has {len(arr)}. Declare cost_cap_usd (e.g. max_tokens "
            "x price per token) for an exact bound at any n."
        )
        report.to_resolve, report.to_resolve_unit = MIN_CALLS_UNCAPPED, "call"
    return [report]
