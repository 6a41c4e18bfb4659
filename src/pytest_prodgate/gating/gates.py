"""What every gate evaluator shares. Pure: no pytest.

A gate kind is one :class:`GateKind` of :mod:`pytest_prodgate.gating.registry`;
its evaluator reads one suite (a :class:`SuiteContext`) and returns
:class:`~pytest_prodgate.schema.report.GateReport` rows built by :func:`gate_report`,
with the statistical verdict of its interval (:func:`compare`), why it did not
pass (:func:`explain`) and how many cases would likely resolve it
(:func:`resolve_hint`). Whether a verdict fails the run, and the overrides
(some cases produced no result, the run was interrupted), are decided only in
:mod:`pytest_prodgate.gating.run`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pytest_prodgate import stats
from pytest_prodgate.schema.report import (
    SCORED,
    CaseReport,
    GateReport,
    RegressionReport,
    TrialReport,
    Verdict,
)

__all__ = [
    "NO_RESULT",
    "RESOLVE_POWER",
    "SCORED",
    "Comparator",
    "GateKind",
    "GatePolicy",
    "LockKind",
    "SuiteContext",
    "compare",
    "count",
    "explain",
    "finish",
    "gate_report",
    "likely",
    "no_data",
    "resolve_hint",
    "scored_trials",
    "worst",
]

Comparator = Literal[">=", "<="]
#: How a locked target loosens (see :mod:`pytest_prodgate.gating.integrity`).
LockKind = Literal["floor", "budget", "max_regression", "trials"]

#: "Would likely resolve it": the n at which the gate resolves with this probability
#: if the true value is the one observed.
RESOLVE_POWER = 0.8
#: Trial outcomes that produced no result: the gate cannot pass on them.
NO_RESULT = frozenset({"error", "crashed", "not_run"})
_SEVERITY: tuple[str, ...] = (
    "SHARD",
    "PASS",
    "INCONCLUSIVE",
    "FAIL",
    "INCOMPLETE",
    "NO_DATA",
    "LOOSENED",
    "TAMPERED",
)


@dataclass(frozen=True)
class GatePolicy:
    """The statistics settings and the gating policy every gate of a run shares."""

    confidence: float = 0.95
    resamples: int = 9999
    seed: int = 0
    ci_method: str = "auto"
    #: ``"fail"`` / ``"warn"`` for every inconclusive gate; ``None``: each gate
    #: kind's default (absolute gates fail, the regression gate warns).
    inconclusive: str | None = None
    #: ``"report"`` never fails the run.
    mode: Literal["gate", "report"] = "gate"
    #: ``"exclude"``: latency gates leave out calls replayed from the cache.
    cache_latency: Literal["replay", "exclude"] = "replay"


if TYPE_CHECKING:
    from pytest_prodgate.gating.columns import ScoredColumns
    from pytest_prodgate.gating.tally import SuiteTally

    Evaluator = Callable[["SuiteContext", "GateKind"], list[GateReport]]


@dataclass(frozen=True)
class GateKind:
    """One kind of gate: everything the evaluator, the reporters and the lock need.

    ``name`` is the gate's name in the report (``slice_floor`` stands for every
    ``slice_floor[TAG]``, ``sealed_dataset`` for ``sealed_dataset[PATH]``,
    ``locked`` for ``locked:KEYWORD``); ``keyword`` the marker keyword that
    declares it (``None`` for the integrity rows).
    """

    name: str
    keyword: str | None
    comparator: Comparator
    #: The unit of its figures, for headers and docs (``""`` for a share).
    unit: str
    #: A figure as the table shows it.
    fmt: Callable[[float], str]
    #: How its marker keyword loosens in ``prodgate.lock`` (``None``: not locked).
    lock: LockKind | None
    #: Its evaluator; ``None`` for rows built elsewhere (integrity).
    evaluate: Evaluator | None = None
    #: ``"warn"`` when an inconclusive verdict passes by default (the regression gate).
    inconclusive_default: Literal["fail", "warn"] = "fail"
    #: The quantile a latency gate bounds.
    quantile: float | None = None
    #: The target cell of the table; ``None``: comparator and formatted target.
    target_text: Callable[[GateReport], str] | None = None
    #: The interval cell of the table when there is an estimate; ``None``: the bounds.
    interval_text: str | None = None
    #: Rows carried over as recorded when a saved report is re-gated (integrity rows,
    #: rows a hook added): their inputs are not in the report.
    carried: bool = False
    #: How its keyword's value is formatted (``locked:`` rows); ``None``: ``fmt``.
    keyword_fmt: Callable[[float], str] | None = None
    #: Display order of its rows in every table.
    order: int = field(default=0, compare=False)

    def target(self, targets: Mapping[str, Any]) -> float | None:
        """The target a suite declares for this gate (``None``: not declared)."""
        value = targets.get(self.keyword) if self.keyword is not None else None
        return None if value is None else float(value)

    def value(self, x: float | None) -> str:
        """``x`` formatted in this gate's unit (``-`` for none, ``∞`` for unbounded)."""
        if x is None:
            return "-"
        if not math.isfinite(x):
            return "∞" if x > 0 else "-∞"
        return self.fmt(x)


@dataclass
class SuiteContext:
    """One suite as its evaluators read it."""

    name: str
    targets: Mapping[str, Any]
    cases: Sequence[CaseReport]
    policy: GatePolicy
    #: The baseline's cases of this suite (``None``: no regression gate).
    baseline: Sequence[CaseReport] | None = None
    baseline_name: str = ""
    baseline_commit: str | None = None
    #: Filled by the regression evaluator.
    regression: RegressionReport | None = None

    def seed(self, gate: str) -> np.random.SeedSequence:
        """The gate's own random stream (SPEC §6)."""
        return stats.gate_seed(self.policy.seed, self.name, gate)

    @functools.cached_property
    def scored(self) -> list[tuple[int, TrialReport]]:
        """(case index, trial) for every trial of the suite that produced a score."""
        return scored_trials(self.cases)

    @functools.cached_property
    def columns(self) -> ScoredColumns:
        """The scored trials' scores, errors, latency and cost samples, from one pass."""
        from pytest_prodgate.gating.columns import columns

        return columns(self.scored, self.policy.cache_latency != "exclude")

    @functools.cached_property
    def tally(self) -> SuiteTally:
        """The suite's per-case counts, from one pass over its cases."""
        from pytest_prodgate.gating.tally import tally  # it reads this module's sets

        return tally(self.cases)


def worst(verdicts: Iterable[Verdict]) -> Verdict | None:
    """The most severe verdict (``None`` for no gates)."""
    return max(verdicts, key=_SEVERITY.index, default=None)


def scored_trials(cases: Sequence[CaseReport]) -> list[tuple[int, TrialReport]]:
    """(case index, trial) for every trial that produced a score."""
    return [
        (i, t)
        for i, c in enumerate(cases)
        for t in c.trials
        if t.outcome in SCORED and t.score is not None
    ]


def gate_report(
    suite: str,
    gate: str,
    comparator: Comparator,
    target: float,
    verdict: Verdict,
    iv: stats.Interval | None = None,
    reason: str = "",
    hint: str = "",
    *,
    to_resolve: int | None = None,
    to_resolve_unit: str = "",
) -> GateReport:
    """The one place a gate row is built. ``fails_run`` is set by :mod:`~.run`."""
    return GateReport(
        suite=suite,
        gate=gate,
        comparator=comparator,
        target=target,
        estimate=None if iv is None else iv.estimate,
        lower=None if iv is None else iv.lower,
        upper=None if iv is None else iv.upper,
        n=0 if iv is None else iv.n,
        method="" if iv is None else iv.method,
        verdict=verdict,
        fails_run=False,
        reason=reason,
        hint=hint,
        to_resolve=to_resolve,
        to_resolve_unit=to_resolve_unit if to_resolve is not None else "",
    )


def compare(comparator: Comparator, target: float, iv: stats.Interval) -> Verdict:
    """PASS / FAIL when the interval clears the target, else INCONCLUSIVE (SPEC §6)."""
    if comparator == ">=":
        if iv.lower >= target:
            return "PASS"
        if iv.upper < target:
            return "FAIL"
    else:
        if iv.upper <= target:
            return "PASS"
        if iv.lower > target:
            return "FAIL"
    return "INCONCLUSIVE"


def explain(
    kind: GateKind,
    target: float,
    iv: stats.Interval,
    verdict: Verdict,
    what: str,
    confidence: float,
) -> str:
    """Why a FAIL or INCONCLUSIVE gate did not pass (empty for PASS)."""
    fmt = kind.value
    pct = f"{confidence:.0%}"
    if verdict == "FAIL":
        ge = kind.comparator == ">="
        side, bound = ("upper", iv.upper) if ge else ("lower", iv.lower)
        op = "<" if ge else ">"
        return (
            f"{what} {fmt(iv.estimate)}; the {pct} interval's {side} bound "
            f"{fmt(bound)} {op} {fmt(target)}."
        )
    if verdict == "INCONCLUSIVE":
        return (
            f"{what} {fmt(iv.estimate)}; the {pct} interval "
            f"[{fmt(iv.lower)}, {fmt(iv.upper)}] straddles {fmt(target)}."
        )
    return ""


def count(n: int, unit: str) -> str:
    """``1 case``, ``1,500 cases``."""
    return f"{n:,} {unit}" if n == 1 else f"{n:,} {unit}s"


def resolve_hint(
    kind: GateKind, target: float, estimate: float, to_resolve: int | None, unit: str
) -> str:
    """The words for ``to_resolve``: the number of cases that would likely resolve a gate."""
    t = kind.value(target)
    if to_resolve is None:
        return f"The estimate sits on the target {t}: no number of {unit}s would resolve it."
    side, verdict = likely(kind.comparator, estimate, target)
    return (
        f"About {count(to_resolve, unit)} would likely show {side} {t}, a {verdict} "
        f"(with {RESOLVE_POWER:.0%} probability), if it stays at {kind.value(estimate)}."
    )


def likely(comparator: str, estimate: float, target: float) -> tuple[str, str]:
    """Which side of ``target`` more data would likely show, and the verdict that gives."""
    if comparator == ">=":
        return (">=", "PASS") if estimate > target else ("<", "FAIL")
    return ("<=", "PASS") if estimate < target else (">", "FAIL")


def finish(
    ctx: SuiteContext,
    kind: GateKind,
    gate: str,
    target: float,
    iv: stats.Interval,
    what: str,
    unit: str,
    *,
    proportion: bool = False,
) -> GateReport:
    """A gate decided on its interval, with its reason and, if inconclusive, ``to_resolve``.

    ``proportion``: the interval is a binomial one (Wilson, Clopper-Pearson) of
    a share, so the number to resolve is a binomial sample size.
    """
    verdict = compare(kind.comparator, target, iv)
    confidence = ctx.policy.confidence
    reason = explain(kind, target, iv, verdict, what, confidence)
    if verdict != "INCONCLUSIVE":
        return gate_report(ctx.name, gate, kind.comparator, target, verdict, iv, reason)
    needed: int | None
    if proportion and iv.method in ("wilson", "clopper-pearson"):
        needed = stats.n_to_resolve_proportion(
            iv.estimate, target, confidence, method=iv.method, power=RESOLVE_POWER
        )
    else:
        needed = stats.n_to_resolve_mean(iv, target, power=RESOLVE_POWER, confidence=confidence)
    hint = resolve_hint(kind, target, iv.estimate, needed, unit)
    return gate_report(
        ctx.name,
        gate,
        kind.comparator,
        target,
        verdict,
        iv,
        reason,
        hint,
        to_resolve=needed,
        to_resolve_unit=unit,
    )


def no_data(ctx: SuiteContext, kind: GateKind, gate: str, target: float, why: str) -> GateReport:
    """A declared gate with nothing to measure."""
    return gate_report(ctx.name, gate, kind.comparator, target, "NO_DATA", None, why)
