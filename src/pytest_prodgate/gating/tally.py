"""A suite's per-case counts in one pass: what its report and the run's overrides count.

Pure: no pytest. :attr:`pytest_prodgate.gating.gates.SuiteContext.tally` computes
it once per suite; :mod:`pytest_prodgate.gating.run` and
:mod:`pytest_prodgate.gating.replays` read it instead of each walking every case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_prodgate.gating.gates import NO_RESULT, SCORED
from pytest_prodgate.schema.report import CaseReport, TrialReport

__all__ = ["SuiteTally", "tally"]


@dataclass
class SuiteTally:
    """What a suite's report and its overrides count, from one pass (:func:`tally`)."""

    counts: dict[str, int] = field(default_factory=dict)
    trials: int = 0
    max_trials: int = 1  # of any case (1 for no cases)
    #: Some scored trial is strictly between 0 and 1: pass^N and flaky do not apply.
    graded: bool = False
    #: Cases with a pass rate, and of those, the ones whose every scored trial passed.
    scored_cases: int = 0
    passed_all: int = 0
    flaky: list[str] = field(default_factory=list)
    #: Per tag, the pass rates of its cases that have one (a tag with none: ``[]``).
    tag_rates: dict[str, list[float]] = field(default_factory=dict)
    #: Trials that produced no result (:data:`NO_RESULT`), in case order.
    incomplete: list[TrialReport] = field(default_factory=list)
    #: Model calls (``kind == "call"``) made fresh and replayed, and what they cost;
    #: fresh cost includes ``prodgate_case.add_cost`` (``None``: nothing had a cost).
    fresh_calls: int = 0
    replayed_calls: int = 0
    fresh_usd: float | None = None
    saved_usd: float | None = None
    #: Replayed model calls of the trials that scored (the latency gates' samples).
    replayed_scored_calls: int = 0


def tally(cases: Sequence[CaseReport]) -> SuiteTally:
    """One pass over ``cases`` for everything :class:`SuiteTally` holds."""
    out = SuiteTally()
    counts = out.counts
    tag_rates = out.tag_rates
    fresh = replayed = replayed_scored = trials = 0
    fresh_usd = saved_usd = 0.0
    has_fresh_usd = has_saved_usd = graded = False
    max_trials = 0 if cases else 1
    for c in cases:
        case_trials = c.trials
        n = len(case_trials)
        trials += n
        if n > max_trials:
            max_trials = n
        if n == 1 and not c.tags:
            t = case_trials[0]
            calls = t.calls
            if len(calls) == 1 and not t.added_cost_usd:  # nearly every case: inline
                outcome = t.outcome
                counts[outcome] = counts.get(outcome, 0) + 1
                score = t.score
                is_scored = outcome in SCORED
                if outcome in NO_RESULT:
                    out.incomplete.append(t)
                elif is_scored and score is not None and 0.0 < score < 1.0:
                    graded = True
                call = calls[0]
                if call.kind == "call":
                    cost = call.cost_usd
                    if call.replayed:
                        replayed += 1
                        if is_scored and score is not None:
                            replayed_scored += 1
                        if cost is not None:
                            saved_usd += cost
                            has_saved_usd = True
                    else:
                        fresh += 1
                        if cost is not None:
                            fresh_usd += cost
                            has_fresh_usd = True
                if c.pass_rate is not None:
                    out.scored_cases += 1
                    out.passed_all += not is_scored or score == 1.0
                    if c.flaky:
                        out.flaky.append(c.id)
                continue
        all_passed = True
        for t in case_trials:
            outcome = t.outcome
            counts[outcome] = counts.get(outcome, 0) + 1
            is_scored = outcome in SCORED
            if outcome in NO_RESULT:
                out.incomplete.append(t)
            elif is_scored and t.score is not None and 0.0 < t.score < 1.0:
                graded = True
            if is_scored and t.score != 1.0:
                all_passed = False
            if t.added_cost_usd:
                fresh_usd += t.added_cost_usd
                has_fresh_usd = True
            for call in t.calls:
                if call.kind != "call":
                    continue
                if call.replayed:
                    replayed += 1
                    if is_scored and t.score is not None:
                        replayed_scored += 1
                    if call.cost_usd is not None:
                        saved_usd += call.cost_usd
                        has_saved_usd = True
                else:
                    fresh += 1
                    if call.cost_usd is not None:
                        fresh_usd += call.cost_usd
                        has_fresh_usd = True
        rate = c.pass_rate
        if rate is not None:
            out.scored_cases += 1
            out.passed_all += all_passed
            if c.flaky:
                out.flaky.append(c.id)
        for tag in c.tags:
            rates = tag_rates.setdefault(tag, [])
            if rate is not None:
                rates.append(rate)
    out.trials, out.max_trials, out.graded = trials, max_trials, graded
    out.fresh_calls, out.replayed_calls = fresh, replayed
    out.fresh_usd = fresh_usd if has_fresh_usd else None
    out.saved_usd = saved_usd if has_saved_usd else None
    out.replayed_scored_calls = replayed_scored
    return out
