"""Early stopping (SPEC §13): each gate kind's sequential rule. Pure: no pytest.

A suite run with early stopping is run in a seeded order and looked at after
the first ``looks[k]`` cases of it (:class:`~pytest_prodgate.schema.report.EarlyStopReport`).
:func:`decide_suite` gives every gate of the suite the verdict of its gate
kind's sequential rule (:data:`RULES`, keyed by the registry entry's name) on
the looks seen so far; a gate kind without a rule (cost, throughput, recovery:
no bound holds for them at every look) gives ``None``, which keeps the suite
running to the end. :func:`resolved` says whether a suite may stop.
:func:`apply` puts the rule's verdicts on the gate rows; it is called only by
:mod:`~.run`, where verdicts are decided.

A suite resolved at look K is gated on exactly the first ``looks[K-1]`` cases
of its order (:func:`gated`): the cases every mode ran. Under xdist a few more
may have run before the workers learned of the stop (:func:`after_stop`); they
are reported, and their calls and cost counted, but gated in no mode.

The rules (:mod:`pytest_prodgate.stats.sequential`), one-sided at
``(1 - confidence) / 2`` on each side:

* 0/1 accuracy and slice floors with one trial, the error rate with one trial,
  latency pXX with one call per case (the share of calls over the budget
  against ``1 - q``): exact binomial group-sequential boundaries;
* graded scores, ``trials > 1`` (a case's mean score; a case stops whole),
  latency pXX when cases made several calls, as many each (a case's share of
  calls over the budget; unequal numbers of calls never stop early), the
  regression gate (paired per-case differences with the baseline, in [-1, 1]):
  a betting test martingale, its stakes tuned for the suite's planned cases
  (a slice's, whose size is not known ahead, for every n: the anytime-valid
  confidence sequence). Any predictable stakes keep it valid at every look.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pytest_prodgate.gating.columns import erred, latency_samples
from pytest_prodgate.gating.gates import NO_RESULT, SCORED, GateKind, SuiteContext
from pytest_prodgate.gating.registry import GATE_KINDS
from pytest_prodgate.gating.regression import case_scores
from pytest_prodgate.schema.report import CaseReport, EarlyStopReport, GateReport, TrialReport
from pytest_prodgate.stats.sequential import Decision, betting_decision, binomial_decision

__all__ = [
    "RESOLVED_MARK",
    "RULES",
    "after_stop",
    "apply",
    "decide_suite",
    "gated",
    "not_gated_reason",
    "ordered",
    "ran",
    "resolved",
    "stop_reason",
    "stopped",
]

#: A gate kind's sequential rule; ``None``: no rule holds for these data (run to the end).
Rule = Callable[[SuiteContext, GateKind, float, Sequence[int], int, float], Decision | None]
_NO_RESULT = "some cases of the looks seen produced no result"
#: The words every skip reason of a stopped suite holds (see :func:`stop_reason`).
RESOLVED_MARK = "suite resolved early at look"


def ordered(cases: Sequence[CaseReport], order: Sequence[str]) -> list[CaseReport]:
    """``cases`` in the run order ``order`` (cases the order does not name go last, by id)."""
    rank = {cid: i for i, cid in enumerate(order)}
    return sorted(cases, key=lambda c: (rank.get(c.id, len(rank)), c.id))


def gated(cases: Sequence[CaseReport], early: EarlyStopReport | None) -> Sequence[CaseReport]:
    """The cases a suite's gates are computed over, in the order of ``cases``.

    A suite resolved at look K: the first ``looks[K-1]`` cases of ``early.order``,
    the cases up to the deciding look, which every mode ran (with or without
    xdist). Otherwise (no early stopping, or not resolved early) every case.
    """
    if early is None or early.stopped_look is None:
        return cases
    head = _head(early)
    return [c for c in cases if c.id in head]


def _head(early: EarlyStopReport) -> set[str]:
    """The ids of the cases up to the deciding look (the suite was resolved early)."""
    assert early.stopped_look is not None
    return set(early.order[: early.looks[early.stopped_look - 1]])


def stopped(trial: TrialReport) -> bool:
    """Whether ``trial`` was skipped because its suite was resolved early."""
    return trial.reason is not None and RESOLVED_MARK in trial.reason


def ran(case: CaseReport) -> bool:
    """Whether some trial of ``case`` ran (was not skipped by its suite's stop)."""
    return not all(stopped(t) for t in case.trials)


def after_stop(cases: Sequence[CaseReport], early: EarlyStopReport) -> list[CaseReport]:
    """The cases that ran but are not gated: past the deciding look (only under xdist,
    started by a worker before it learned of the stop). Empty when not resolved early."""
    if early.stopped_look is None:
        return []
    head = _head(early)
    return [c for c in cases if c.id not in head and ran(c)]


def _look(early: EarlyStopReport) -> str:
    """``look K of L (N of M cases)``: where the suite was resolved."""
    k = early.stopped_look or 0
    n = early.looks[k - 1] if k else 0
    return f"{k} of {len(early.looks)} ({n} of {early.planned} cases)"


def not_gated_reason(early: EarlyStopReport) -> str:
    """What a case of :func:`after_stop` says in the report (``CaseReport.not_gated``)."""
    return (
        f"ran after its suite resolved early at look {_look(early)}: reported and counted "
        "in the spend, not gated"
    )


def _scored(case: CaseReport) -> list[TrialReport]:
    return [t for t in case.trials if t.outcome in SCORED and t.score is not None]


def _broken(cases: Sequence[CaseReport]) -> bool:
    return any(t.outcome in NO_RESULT for c in cases for t in c.trials)


def _share_rule(
    ctx: SuiteContext,
    kind: GateKind,
    target: float,
    looks: Sequence[int],
    planned: int,
    alpha: float,
    *,
    value: Callable[[TrialReport], float],
    keep: Callable[[CaseReport], bool] | None = None,
) -> Decision:
    """A share of trials against ``target``: exact binomial with one 0/1 trial, else betting.

    The exact binomial rule keeps the fixed-size test at the suite's planned
    cases as its last look, and the betting stakes are tuned for them; a
    slice's (``keep``) planned count is not known before its cases run, so its
    boundaries spend alpha itself and its stakes are tuned for every n.
    """
    tuned = planned if keep is None else None
    if keep is None:
        keep = _every
    cases = [c for c in ctx.cases[: looks[-1]] if keep(c)] if looks else []
    if _broken(cases):
        return Decision("INCONCLUSIVE", len(looks), "", _NO_RESULT)
    per_case = [[value(t) for t in _scored(c)] for c in cases]
    binary = all(len(v) <= 1 and all(x in (0.0, 1.0) for x in v) for v in per_case)
    comparator = kind.comparator
    fractions = [n / planned for n in looks]
    if binary:
        values = _values_of(ctx.cases[: looks[-1]], keep, value)
        heads = [[v for v in values[:n] if v is not None] for n in looks]
        ones = [int(sum(h)) for h in heads]
        sizes = [len(h) for h in heads]
        return binomial_decision(ones, sizes, target, comparator, alpha, fractions, final=tuned)
    means = [sum(v) / len(v) for v in per_case if v]
    counts = [sum(1 for c in ctx.cases[:n] if keep(c) and _scored(c)) for n in looks]
    return betting_decision(means, counts, target, comparator, alpha, planned=tuned)


def _values_of(
    cases: Sequence[CaseReport],
    keep: Callable[[CaseReport], bool],
    value: Callable[[TrialReport], float],
) -> list[float | None]:
    """The one scored trial's value of each case (``None``: not scored or not kept)."""
    out: list[float | None] = []
    for c in cases:
        scored = _scored(c) if keep(c) else []
        out.append(value(scored[0]) if scored else None)
    return out


def _every(c: CaseReport) -> bool:
    return True


def _score(t: TrialReport) -> float:
    assert t.score is not None
    return t.score


def _accuracy(
    ctx: SuiteContext,
    kind: GateKind,
    target: float,
    looks: Sequence[int],
    planned: int,
    alpha: float,
) -> Decision:
    return _share_rule(ctx, kind, target, looks, planned, alpha, value=_score)


def _error_rate(
    ctx: SuiteContext,
    kind: GateKind,
    target: float,
    looks: Sequence[int],
    planned: int,
    alpha: float,
) -> Decision:
    return _share_rule(ctx, kind, target, looks, planned, alpha, value=erred)


def _slice(tag: str) -> Rule:
    def rule(
        ctx: SuiteContext,
        kind: GateKind,
        target: float,
        looks: Sequence[int],
        planned: int,
        alpha: float,
    ) -> Decision:
        return _share_rule(
            ctx, kind, target, looks, planned, alpha, value=_score, keep=lambda c: tag in c.tags
        )

    return rule


def _latency(
    ctx: SuiteContext,
    kind: GateKind,
    budget: float,
    looks: Sequence[int],
    planned: int,
    alpha: float,
) -> Decision | None:
    """Calls over the budget: their share is <= 1 - q exactly when the q-quantile is <= it.

    The units are the latency gate's: with one call per case, calls (exact binomial);
    when a case made several (trials, retries), cases, each its share of calls over
    the budget (betting). A case's calls are alike, so pooled as independent they
    would stop early on evidence they are not. Cases of unequal calls weigh their
    shares unequally, which no sequential rule here allows for: ``None``, so the suite
    runs to the end and the fixed-size latency gate decides.
    """
    assert kind.quantile is not None
    head = ctx.cases[: looks[-1]] if looks else []
    if _broken(head):
        return Decision("INCONCLUSIVE", len(looks), "", _NO_RESULT)
    keep_replayed = ctx.policy.cache_latency != "exclude"
    units = [_latency_units(c, keep_replayed) for c in head]
    flat = [u for us in units for u in us]
    if not flat:
        return Decision("INCONCLUSIVE", len(looks), "", "no call recorded yet")
    sizes = {len(u) for u in flat}
    counts = [sum(len(us) for us in units[:n]) for n in looks]
    if sizes == {1}:
        over = [sum(u[0] > budget for us in units[:n] for u in us) for n in looks]
        fractions = [n / planned for n in looks]
        return binomial_decision(over, counts, 1.0 - kind.quantile, "<=", alpha, fractions)
    if len(sizes) > 1:
        return None
    shares = [sum(ms > budget for ms in u) / len(u) for u in flat]
    return betting_decision(shares, counts, 1.0 - kind.quantile, "<=", alpha, planned=planned)


def _latency_units(case: CaseReport, keep_replayed: bool) -> list[list[float]]:
    """A case's latency units as the latency gate clusters them (:func:`~.columns.columns`):
    its model calls over all its trials are one; each benchmark round and each counted
    load request is its own."""
    calls: list[float] = []
    own: list[list[float]] = []
    for t in _scored(case):
        samples = latency_samples(t, keep_replayed, load=False)
        if any(c.kind == "benchmark" for c in t.calls):
            own.extend([ms] for ms in samples)
        else:
            calls.extend(samples)
        for run in t.load_runs:
            if run.count_latency:
                own.extend([ms] for ms in run.ok_latencies_ms())
    return ([calls] if calls else []) + own


def _regression(
    ctx: SuiteContext,
    kind: GateKind,
    target: float,
    looks: Sequence[int],
    planned: int,
    alpha: float,
) -> Decision:
    """Paired per-case differences with the baseline, in [-1, 1], against ``-max_regression``."""
    if ctx.baseline is None:
        return Decision("INCONCLUSIVE", 0, "", "no baseline")
    head = ctx.cases[: looks[-1]] if looks else []
    if _broken(head):
        return Decision("INCONCLUSIVE", len(looks), "", _NO_RESULT)
    base = case_scores(ctx.baseline)
    now = case_scores(head)
    diffs = [now[c.id] - base[c.id] for c in head if c.id in now and c.id in base]
    counts = [sum(1 for c in ctx.cases[:n] if c.id in now and c.id in base) for n in looks]
    return betting_decision(
        diffs, counts, -target, ">=", alpha, bounds=(-1.0, 1.0), planned=planned
    )


#: The sequential rule of each gate kind, by registry name (absent: no rule, run to the end).
RULES: Mapping[str, Rule] = {
    "accuracy_floor": _accuracy,
    "error_rate_max": _error_rate,
    **{k.name: _latency for k in GATE_KINDS if k.quantile is not None},
    "regression": _regression,
}


def _gates(ctx: SuiteContext) -> list[tuple[str, GateKind, float, Rule | None]]:
    """Every gate ``ctx`` declares: (name, kind, target, rule or ``None``)."""
    out: list[tuple[str, GateKind, float, Rule | None]] = []
    for kind in GATE_KINDS:
        if kind.evaluate is None or kind.keyword is None:
            continue
        if kind.name == "slice_floor":
            floors: dict[str, Any] = ctx.targets.get(kind.keyword) or {}
            for tag, floor in sorted(floors.items()):
                out.append((f"{kind.name}[{tag}]", kind, float(floor), _slice(tag)))
            continue
        if kind.name == "regression":
            if ctx.baseline is not None and kind.target(ctx.targets) is not None:
                out.append((kind.name, kind, float(ctx.targets[kind.keyword]), _regression))
            continue
        target = kind.target(ctx.targets)
        if target is not None:
            out.append((kind.name, kind, target, RULES.get(kind.name)))
    return out


def decide_suite(ctx: SuiteContext, early: EarlyStopReport) -> dict[str, Decision | None]:
    """Each declared gate's sequential verdict at the looks ``ctx.cases`` (in run order) cover.

    ``None`` for a gate kind without a sequential rule.
    """
    seen = [n for n in early.looks if n <= len(ctx.cases)]
    alpha = (1.0 - ctx.policy.confidence) / 2
    out: dict[str, Decision | None] = {}
    for name, kind, target, rule in _gates(ctx):
        if rule is None:
            out[name] = None
        elif not seen:
            out[name] = Decision("INCONCLUSIVE", 0, "")
        else:
            out[name] = rule(ctx, kind, target, seen, early.planned, alpha)
    return out


def resolved(decisions: Mapping[str, Decision | None]) -> bool:
    """Whether every gate is PASS or FAIL by its sequential rule (a suite may stop)."""
    return bool(decisions) and all(
        d is not None and d.verdict in ("PASS", "FAIL") for d in decisions.values()
    )


def stop_reason(early: EarlyStopReport) -> str:
    """The skip reason of a case not run because its suite was resolved (SPEC §13)."""
    return f"prodgate: {RESOLVED_MARK} {_look(early)}"


def apply(
    gates: list[GateReport], decisions: Mapping[str, Decision | None], early: EarlyStopReport
) -> None:
    """Give each gate row its sequential verdict; record each rule in ``early.boundaries``."""
    for g in gates:
        d = decisions.get(g.gate)
        if d is None or g.verdict not in ("PASS", "FAIL", "INCONCLUSIVE"):
            continue
        verdict: Literal["PASS", "FAIL", "INCONCLUSIVE"] = d.verdict
        if d.method:
            early.boundaries[g.gate] = d.method
        where = f"look {d.look} of {len(early.looks)}"
        if verdict == g.verdict and verdict != "INCONCLUSIVE":
            g.reason = (f"{g.reason} " if g.reason else "") + f"Sequential test: {d.detail}."
        elif verdict == "INCONCLUSIVE":
            g.verdict = verdict
            g.reason = (
                f"early stopping: the sequential test ({d.method or 'none'}) crossed no "
                f"boundary by {where}" + (f": {d.detail}" if d.detail else "") + "."
            )
            if g.to_resolve is None:
                g.hint = "Plan more cases (prodgate plan) or run without early stopping."
        else:
            g.verdict = verdict
            g.reason = (
                f"resolved {verdict} by the sequential test at {where}: {d.detail} "
                f"({d.method}); the interval shown is the fixed-size one, for reference."
            )
            g.hint, g.to_resolve, g.to_resolve_unit = "", None, ""
        g.method = f"{g.method}+sequential" if g.method else "sequential"
