"""Several gates at once: Holm's step-down on the FAIL side of one suite. Pure: no pytest.

A suite passes only when every one of its gates passes, so PASS needs no
correction: each PASS already holds at ``(1 - confidence) / 2``, and the
suite's PASS needs all of them. FAIL is another matter: with m gates each
exactly at its target, the chance that at least one of them FAILs grows with
m (about 1 - 0.975^m). :func:`holm_fail` keeps the chance of any false FAIL in
a suite at ``(1 - confidence) / 2``: the gate FAILs that the suite's
intervals at the Holm levels do not confirm become INCONCLUSIVE, saying why.

The family is a suite's gates decided on an interval against a locked number
(accuracy, slice floors, latency, cost, error rate, throughput) that were
tested (PASS, FAIL or INCONCLUSIVE). The regression gate is not in it (it is
its own comparison with a baseline, and a recorded one is carried as is when a
report is re-gated), nor are recovery (no interval) and integrity rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pytest_prodgate.gating.gates import SuiteContext
from pytest_prodgate.schema.report import GateReport

__all__ = ["FAMILY", "holm_fail", "holm_levels"]

#: Gate kinds whose FAIL decisions are corrected together within a suite.
FAMILY = frozenset(
    {
        "accuracy_floor",
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "cost_per_call_usd",
        "error_rate_max",
        "slice_floor",
        "throughput_rps",
    }
)
_TESTED = frozenset({"PASS", "FAIL", "INCONCLUSIVE"})


def _kind_name(gate: str) -> str:
    return gate.partition("[")[0]


def holm_levels(m: int, confidence: float) -> list[float]:
    """The two-sided confidence of each Holm step: one-sided α/m, α/(m-1), ..., α."""
    alpha = (1.0 - confidence) / 2.0
    return [1.0 - 2.0 * alpha / k for k in range(m, 0, -1)]


def holm_steps(
    candidates: list[str], m: int, confidence: float, fails_at: Callable[[float], set[str]]
) -> tuple[set[str], float]:
    """Holm's step-down on FAIL candidates: ``(confirmed, last level tried)``.

    ``fails_at(level)`` gives the candidates that FAIL at two-sided confidence
    ``level``. With r FAILs confirmed, the rest are tested at one-sided
    α/(m - r); stop when a step confirms none.
    """
    confirmed: set[str] = set()
    level = confidence
    while len(confirmed) < len(candidates):
        level = holm_levels(m, confidence)[len(confirmed)]
        new = {g for g in fails_at(level) if g in candidates} - confirmed
        if not new:
            break
        confirmed |= new
    return confirmed, level


def holm_fail(
    ctx: SuiteContext,
    gates: list[GateReport],
    evaluate: Callable[[SuiteContext], list[GateReport]],
) -> None:
    """Turn the FAILs of ``gates`` that Holm does not confirm into INCONCLUSIVE, in place.

    ``evaluate`` gates the suite again (the registry's ``evaluate_suite``) at
    a stricter confidence; only the verdicts of the family are read from it,
    the figures shown stay those at ``ctx.policy.confidence``.
    """
    family = [g for g in gates if _kind_name(g.gate) in FAMILY and g.verdict in _TESTED]
    candidates = [g.gate for g in family if g.verdict == "FAIL"]
    m = len(family)
    if m < 2 or not candidates:
        return
    confidence = ctx.policy.confidence
    strict: dict[str, GateReport] = {}

    def fails_at(level: float) -> set[str]:
        again = dataclasses.replace(
            ctx,
            policy=dataclasses.replace(ctx.policy, confidence=level),
            baseline=None,  # the regression gate is not in the family
            regression=None,
        )
        rows = {g.gate: g for g in evaluate(again)}
        strict.update(rows)
        return {name for name, g in rows.items() if g.verdict == "FAIL"}

    confirmed, level = holm_steps(candidates, m, confidence, fails_at)
    for g in family:
        if g.verdict != "FAIL" or g.gate in confirmed:
            continue
        other = strict.get(g.gate)
        g.verdict = "INCONCLUSIVE"
        g.reason = (
            f"{g.reason} With {m} gates in this suite, a FAIL must also hold at "
            f"{level:.2%} confidence (Holm, so that the suite's gates together FAIL falsely "
            f"at most {(1 - confidence) / 2:.1%} of the time), and there it does not."
        )
        if other is not None and other.verdict == "INCONCLUSIVE":
            g.hint, g.to_resolve = other.hint, other.to_resolve
            g.to_resolve_unit = other.to_resolve_unit
