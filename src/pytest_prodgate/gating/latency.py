"""The latency gates ``latency_pXX_ms``: distribution-free bounds of a quantile (SPEC §6)."""

from __future__ import annotations

from pytest_prodgate import stats
from pytest_prodgate.gating.gates import (
    RESOLVE_POWER,
    GateKind,
    SuiteContext,
    compare,
    count,
    explain,
    gate_report,
    likely,
    no_data,
)
from pytest_prodgate.schema.report import GateReport

__all__ = ["latency"]


def latency(ctx: SuiteContext, kind: GateKind) -> list[GateReport]:
    """``latency_pXX_ms``: the quantile's order-statistic interval against the budget, or
    its clustered bounds when a case made several calls (its trials, retries)."""
    budget = kind.target(ctx.targets)
    if budget is None or kind.quantile is None:
        return []
    q = kind.quantile
    gate = kind.name
    keep = ctx.policy.cache_latency != "exclude"
    values = ctx.columns.latencies
    if values.size == 0:
        why = (
            "no model call was recorded: call the model through the prodgate_model "
            "fixture (a pytest_prodgate.Model)."
        )
        if not keep and ctx.columns.any_replayed:
            why = (
                "every call was replayed from the cache and --prodgate-cache-latency=exclude "
                "leaves replays out: rerun with --prodgate-cache-mode=refresh to measure latency."
            )
        elif any("disabled" in str(c.notes.get("latency_source", "")) for c in ctx.cases):
            why = (
                "pytest-benchmark is disabled in this run (it switches itself off under "
                "xdist -n, and with --benchmark-disable), so its timings were not recorded, "
                "and no model call was: run this suite without -n, or call the model "
                "through the prodgate_model fixture."
            )
        return [no_data(ctx, kind, gate, budget, why)]
    confidence = ctx.policy.confidence
    cases = ctx.columns.latency_cases
    n_cases = stats.distinct_count(cases)
    clustered = n_cases < values.size
    if clustered:
        # A case's calls (trials, retries, an agent's steps) share its input and are
        # alike: pooled as independent they erred up to 18% a side; cases are the units.
        iv = stats.quantile_bounds_clustered(values, cases, q, confidence, ctx.seed(gate))
    else:
        iv = stats.quantile_bounds(values, q, confidence)
    verdict = compare(kind.comparator, budget, iv)
    what = f"p{round(q * 100)} latency (ms)"
    reason = explain(kind, budget, iv, verdict, what, confidence)
    need = stats.min_n_for_quantile(q, confidence)
    more: int | None = None
    hint = ""
    if clustered:
        if verdict == "INCONCLUSIVE":
            hint = (
                f"The {values.size:,} calls came from {n_cases:,} cases, and a case's "
                "calls are alike, so the bounds count cases: more cases narrow them "
                "more than more calls per case."
            )
    elif values.size < need:
        more = need
        hint = (
            f"A finite interval for p{round(q * 100)} needs at least {need:,} calls "
            f"at {confidence:.0%} confidence; this run has {values.size:,}."
        )
    elif verdict == "INCONCLUSIVE":
        more = stats.n_to_resolve_quantile(values, q, budget, confidence, power=RESOLVE_POWER)
        side, likely_verdict = likely(kind.comparator, iv.estimate, budget)
        hint = (
            f"About {count(more, 'call')} would likely show p{round(q * 100)} {side} "
            f"{kind.value(budget)} ms, a {likely_verdict} (with {RESOLVE_POWER:.0%} probability), "
            "if the latency distribution stays the same."
            if more is not None
            else "The observed distribution sits on the budget: more calls would not resolve it."
        )
    inconclusive = verdict == "INCONCLUSIVE"
    return [
        gate_report(
            ctx.name,
            gate,
            kind.comparator,
            budget,
            verdict,
            iv,
            reason,
            hint,
            to_resolve=more if inconclusive else None,
            to_resolve_unit="call",
        )
    ]
