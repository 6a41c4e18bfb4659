"""The regression gate: accuracy now vs a baseline report, paired by case id (SPEC §6)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pytest_prodgate import stats
from pytest_prodgate.gating.aggregate import SuiteData, natural_key
from pytest_prodgate.gating.gates import (
    RESOLVE_POWER,
    SCORED,
    GateKind,
    GatePolicy,
    SuiteContext,
    compare,
    count,
    gate_report,
    likely,
)
from pytest_prodgate.schema.report import CaseReport, GateReport, RegressionReport, RunReport

__all__ = [
    "NEW_SUITE_NOTE",
    "baseline_suites",
    "case_scores",
    "paired_interval",
    "paired_scores",
    "regression",
]

#: The note of a suite the baseline does not have (when it shares others).
NEW_SUITE_NOTE = "new suite: not in the baseline, no regression gate"


def layout_note(baseline_name: str, suites: Sequence[str]) -> str:
    """The note of every suite when the baseline shares none with this run."""
    return (
        f"baseline {baseline_name} has none of this run's suites "
        f"(it has: {', '.join(sorted(suites)[:5])}): another suite layout?"
    )


def baseline_suites(
    suites: Sequence[SuiteData], baseline: RunReport, baseline_name: str
) -> dict[str, list[CaseReport]]:
    """Baseline cases of every suite of this run that the baseline also has.

    When the baseline shares no suite at all with this run (another suite
    layout), every suite is compared with nothing, so its regression gate is
    NO_DATA and says why, rather than silently skipping the comparison; each
    suite gets a note saying so.
    """
    before = {s.name: s.cases for s in baseline.suites}
    shared = {s.name: before[s.name] for s in suites if s.name in before}
    if shared or not before:
        return shared
    note = layout_note(baseline_name, list(before))
    for s in suites:
        s.notes.append(note)
    return {s.name: [] for s in suites}


def case_scores(cases: Sequence[CaseReport]) -> dict[str, float]:
    """Per-case mean score over the trials that scored (trials stay with their case),
    by the id a report holds (:func:`~pytest_prodgate.schema.redact.report_ids`): a
    run pairs with a baseline written with secrets in its ids redacted. Ids that
    redaction made ambiguous are left out (:func:`paired_scores`)."""
    return paired_scores(cases)[0]


def paired_scores(cases: Sequence[CaseReport]) -> tuple[dict[str, float], list[str]]:
    """:func:`case_scores`, and the report ids left out of it: those that differ only
    in a redacted secret (``X``, ``X #2``). Which raw id is which depends on the cases
    that ran, so they name no case across runs and are never paired
    (:func:`~pytest_prodgate.schema.redact.ambiguous_ids`)."""
    from pytest_prodgate.schema.redact import ambiguous_ids, report_ids

    rids = report_ids(c.id for c in cases)
    skip = ambiguous_ids(rids)
    out: dict[str, float] = {}
    for c, rid in zip(cases, rids, strict=True):
        if rid in skip:
            continue
        scores = [t.score for t in c.trials if t.outcome in SCORED and t.score is not None]
        if scores:
            out[rid] = float(sum(scores)) / len(scores)
    return out, sorted(skip, key=natural_key)


def paired_interval(
    current: np.ndarray[Any, Any],
    baseline: np.ndarray[Any, Any],
    max_regression: float,
    policy: GatePolicy,
    seed: np.random.SeedSequence,
) -> stats.Interval:
    """Interval of mean(current - baseline) over paired per-case scores.

    ``auto``: 0/1 scores on both sides with ``max_regression == 0`` give the
    exact McNemar interval (:func:`~pytest_prodgate.stats.mcnemar_delta`);
    with ``max_regression > 0``, graded scores or trials, the betting bound of
    the differences in [-1, 1] (for 0/1 scores with a margin it is valid too
    and more powerful than McNemar's Bonferroni-combined margin interval:
    ``benchmarks/bench_decisions.py --margin``). ``bootstrap``: the paired BCa
    bootstrap.
    """
    if policy.ci_method == "bootstrap":
        return stats.paired_delta(current, baseline, policy.confidence, policy.resamples, seed=seed)
    binary = bool(np.all(np.isin(current, (0.0, 1.0))) and np.all(np.isin(baseline, (0.0, 1.0))))
    if binary and max_regression == 0.0:
        regressed = int(np.count_nonzero(baseline > current))
        fixed = int(np.count_nonzero(current > baseline))
        return stats.mcnemar_delta(
            regressed, fixed, len(current), policy.confidence, margin=max_regression
        )
    return stats.betting_mean(current - baseline, policy.confidence, seed, low=-1.0, high=1.0)


def _load_or_drill_only(cases: Sequence[CaseReport]) -> bool:
    """A suite of load runs and drills only has no accuracy to compare with a baseline."""
    return bool(cases) and all(any(t.load_runs or t.drills for t in c.trials) for c in cases)


def regression(ctx: SuiteContext, kind: GateKind) -> list[GateReport]:
    """Accuracy now vs ``ctx.baseline``, paired by case id; sets ``ctx.regression``.

    Only cases present (and scored) in both runs are compared: a baseline from a
    partial run (``-k``, a shard) never turns missing cases into regressions.
    """
    if ctx.baseline is None or _load_or_drill_only(ctx.cases):
        return []
    suite, name, policy = ctx.name, ctx.baseline_name, ctx.policy
    # Ids that differ only in a redacted secret cannot be paired: they count as unmatched.
    current, hidden_cur = paired_scores(ctx.cases)
    before, hidden_base = paired_scores(ctx.baseline)
    both = sorted(set(current) & set(before), key=natural_key)
    only_cur = sorted(set(current) - set(before), key=natural_key) + hidden_cur
    only_base = sorted(set(before) - set(current), key=natural_key) + hidden_base
    info = RegressionReport(
        baseline=name,
        baseline_commit=ctx.baseline_commit,
        paired=len(both),
        only_current=only_cur,
        only_baseline=only_base,
        partial=bool(only_cur or only_base),
    )
    ctx.regression = info
    target = -float(ctx.targets.get(kind.keyword or "", 0.0))
    if info.partial:
        info.note = (
            f"compared the {len(both):,} cases scored in both runs; "
            f"{len(only_base):,} only in the baseline and {len(only_cur):,} only in this run "
            "are not compared."
        )
        if hidden_cur or hidden_base:
            info.note += (
                f" Of those, {len(hidden_cur) + len(hidden_base):,} have ids that differ only in "
                "a redacted secret: which is which depends on the cases that ran, so they are "
                "never paired."
            )
    if not both:
        why = (
            f"the baseline {name} has no suite {suite!r} (another suite layout?)."
            if not ctx.baseline
            else f"no case id of this suite was scored in both this run and the baseline "
            f"{name}: pair cases by stable ids (load_cases id field)."
        )
        return [gate_report(suite, kind.name, kind.comparator, target, "NO_DATA", None, why)]
    cur = np.array([current[k] for k in both])
    base = np.array([before[k] for k in both])
    info.regressed = [k for k in both if before[k] >= 0.5 > current[k]]
    info.fixed = [k for k in both if current[k] >= 0.5 > before[k]]
    info.baseline_accuracy = float(base.mean())
    info.current_accuracy = float(cur.mean())
    iv = paired_interval(cur, base, -target, policy, ctx.seed(kind.name))
    delta = cur - base
    n = len(delta)
    # A floor on the variance (rule of three) so that "no case flipped" still
    # reports an honest, non-zero detectable regression.
    var = max(float(delta.var(ddof=1)) if n > 1 else 0.0, 3.0 / n)
    z = stats.z_two_sided(policy.confidence)
    mde = (z + stats.z_one_sided(RESOLVE_POWER)) * math.sqrt(var / n)
    # A drop of more than 1 is impossible: then no regression is detectable at all.
    info.min_detectable_regression = mde if mde <= 1.0 else None
    verdict = compare(kind.comparator, target, iv)
    what = (
        f"accuracy change {iv.estimate:+.3f} vs baseline over {n:,} paired cases "
        f"({len(info.regressed)} regressed, {len(info.fixed)} fixed)"
    )
    pct = f"{policy.confidence:.0%}"
    t = kind.value(target)
    reason = ""
    hint = ""
    needed: int | None = None
    if verdict == "FAIL":
        reason = f"{what}; the {pct} interval's upper bound {iv.upper:+.3f} < {t}."
    elif verdict == "INCONCLUSIVE":
        reason = f"{what}; the {pct} interval [{iv.lower:+.3f}, {iv.upper:+.3f}] straddles {t}."
        needed = stats.n_to_resolve_mean(
            iv, target, power=RESOLVE_POWER, confidence=policy.confidence
        )
        side, likely_verdict = likely(kind.comparator, iv.estimate, target)
        hint = (
            f"About {count(needed, 'paired case')} would likely show a change {side} {t}, "
            f"a {likely_verdict} (with {RESOLVE_POWER:.0%} probability), "
            f"if the change stays at {iv.estimate:+.3f}."
            if needed
            else "The change sits on the allowed regression: more cases would not resolve it."
        )
    if info.partial:
        reason = (reason + " " if reason else "") + "Partial comparison: " + info.note
    return [
        gate_report(
            suite,
            kind.name,
            kind.comparator,
            target,
            verdict,
            iv,
            reason,
            hint,
            to_resolve=needed or None,
            to_resolve_unit="paired case",
        )
    ]
