"""``prodgate compare BASE NEW``: how two saved runs differ, suite by suite (SPEC §14).

Pure: no pytest, and no gating: nothing here decides a verdict. Per suite both
reports hold:

* the paired change of accuracy over the cases scored in both (each case's mean
  score over its trials, paired by case id, as the regression gate pairs them),
  with its bootstrap interval at NEW's confidence, resamples and seed (the
  stream of a gate named ``compare``);
* the flipped cases: passed (mean score >= 0.5) in BASE and missed in NEW
  (``regressed``), and the other way (``fixed``);
* latency p50 and p95 over every call, and cost per call, in each run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pytest_prodgate import stats
from pytest_prodgate.gating.aggregate import natural_key
from pytest_prodgate.gating.regression import case_scores
from pytest_prodgate.schema.report import CaseReport, RunReport

__all__ = ["Comparison", "Figures", "SuiteComparison", "compare_reports"]

#: The name of the statistics stream of the accuracy change (see :func:`stats.gate_seed`).
STREAM = "compare"


@dataclass(frozen=True)
class Figures:
    """Latency and cost of one suite in one run (``None`` when it has no such data)."""

    calls: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    cost_per_call_usd: float | None


@dataclass
class SuiteComparison:
    """One suite both runs hold."""

    suite: str
    paired: int
    base_accuracy: float | None = None
    new_accuracy: float | None = None
    #: Mean of (NEW - BASE) per paired case, with its interval.
    change: float | None = None
    lower: float | None = None
    upper: float | None = None
    method: str = ""
    regressed: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    base: Figures | None = None
    new: Figures | None = None


@dataclass
class Comparison:
    """Every suite both runs hold, and the suites only one holds."""

    confidence: float
    suites: list[SuiteComparison]
    only_base: list[str]
    only_new: list[str]


def figures(cases: list[CaseReport]) -> Figures:
    """Latency quantiles over every call and the mean cost per call of ``cases``."""
    latencies = np.array([x for c in cases for x in c.latencies_ms], dtype=float)
    calls = int(latencies.size)
    costs = [c.cost_usd for c in cases if c.cost_usd is not None]
    return Figures(
        calls=calls,
        latency_p50_ms=float(np.percentile(latencies, 50)) if calls else None,
        latency_p95_ms=float(np.percentile(latencies, 95)) if calls else None,
        cost_per_call_usd=sum(costs) / calls if costs and calls else None,
    )


def compare_reports(base: RunReport, new: RunReport) -> Comparison:
    """Compare ``new`` with ``base`` suite by suite (see the module docs)."""
    before = {s.name: s for s in base.suites}
    after = {s.name: s for s in new.suites}
    run = new.run
    out = []
    for name in sorted(set(before) & set(after)):
        b, n = before[name], after[name]
        bs, ns = case_scores(b.cases), case_scores(n.cases)
        both = sorted(set(bs) & set(ns), key=natural_key)
        sc = SuiteComparison(
            suite=name,
            paired=len(both),
            only_base=sorted(set(bs) - set(ns), key=natural_key),
            only_new=sorted(set(ns) - set(bs), key=natural_key),
            base=figures(b.cases),
            new=figures(n.cases),
        )
        if both:
            cur = np.array([ns[k] for k in both])
            old = np.array([bs[k] for k in both])
            iv = stats.paired_delta(
                cur,
                old,
                confidence=run.confidence,
                resamples=run.resamples,
                seed=stats.gate_seed(run.seed, name, STREAM),
            )
            sc.base_accuracy, sc.new_accuracy = float(old.mean()), float(cur.mean())
            sc.change, sc.lower, sc.upper, sc.method = iv.estimate, iv.lower, iv.upper, iv.method
            sc.regressed = [k for k in both if bs[k] >= 0.5 > ns[k]]
            sc.fixed = [k for k in both if ns[k] >= 0.5 > bs[k]]
        out.append(sc)
    return Comparison(
        confidence=run.confidence,
        suites=out,
        only_base=sorted(set(before) - set(after)),
        only_new=sorted(set(after) - set(before)),
    )
