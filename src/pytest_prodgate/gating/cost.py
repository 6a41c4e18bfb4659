"""The cost gate ``cost_per_call_usd``: BCa bootstrap of the mean cost per call (SPEC §6)."""

from __future__ import annotations

import numpy as np

from pytest_prodgate import stats
from pytest_prodgate.gating.gates import GateKind, SuiteContext, finish, gate_report, no_data
from pytest_prodgate.schema.report import GateReport

__all__ = ["cost"]


def cost(ctx: SuiteContext, kind: GateKind) -> list[GateReport]:
    """``cost_per_call_usd``: every successful call's cost plus its share of added costs."""
    budget = kind.target(ctx.targets)
    if budget is None:
        return []
    gate = kind.name
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
    cl = np.array(clusters)
    multi = len(np.unique(cl)) < len(cl)
    iv = stats.bootstrap_mean(
        arr,
        confidence=ctx.policy.confidence,
        resamples=ctx.policy.resamples,
        seed=ctx.seed(gate),
        clusters=cl if multi else None,
    )
    return [finish(ctx, kind, gate, budget, iv, "mean cost per call (USD)", "call")]
