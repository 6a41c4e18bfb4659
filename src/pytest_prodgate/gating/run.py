"""From case records and settings to a run report: the one place verdicts are decided.

Pure: no pytest. :func:`decide` gates a run's suites (the plugin's controller
calls it after the run loop); :func:`regate` gates a saved report again from its
per-case records (``prodgate gate``). Both apply the same policy:

* the evaluators of :mod:`~.registry` give each gate its statistical verdict,
  and :mod:`~.multiplicity` keeps a suite's FAILs from compounding (Holm);
* a gate of a suite some of whose cases produced no result is ``INCOMPLETE``,
  and so is every gate that would pass (or be inconclusive) in an interrupted
  run: a gate never passes on partial data;
* ``FAIL``, ``NO_DATA``, ``INCOMPLETE``, ``TAMPERED`` and ``LOOSENED`` always
  fail the run; ``INCONCLUSIVE`` fails it under ``inconclusive="fail"``, passes
  with a warning under ``"warn"``, and by default follows its gate kind
  (absolute gates fail, the regression gate warns);
* a suite without gates is ``PASS``, or ``INCOMPLETE`` when some case produced
  no result; the run's verdict is the worst gate's;
* a suite resolved early (SPEC §13) is gated on the cases up to its deciding look
  (:func:`~.early.gated`), the same in every mode; cases that ran after the stop
  (under xdist) count only in what the suite ran and spent;
* ``mode="report"`` never fails the run (each gate still says whether it would);
* a shard's run (``run.shard``, SPEC §15) never fails on a gate: its statistical
  gates keep their figures with the verdict ``SHARD``, its integrity rows keep
  theirs for ``prodgate merge`` (:mod:`~.merge`), which gates the whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence

from pytest_prodgate.gating import early
from pytest_prodgate.gating.aggregate import SuiteData, natural_key
from pytest_prodgate.gating.gates import (
    GatePolicy,
    SuiteContext,
    worst,
)
from pytest_prodgate.gating.multiplicity import holm_fail
from pytest_prodgate.gating.registry import REGRESSION, evaluate_suite, kind_of
from pytest_prodgate.gating.regression import NEW_SUITE_NOTE, baseline_suites
from pytest_prodgate.gating.replays import mark_replays
from pytest_prodgate.gating.shares import report_slices
from pytest_prodgate.gating.tally import SuiteTally, tally
from pytest_prodgate.schema.redact import redact
from pytest_prodgate.schema.report import (
    CaseReport,
    GateReport,
    RegressionReport,
    RunInfo,
    RunReport,
    SliceSummary,
    SuiteReport,
    TrialReport,
)

__all__ = ["ALWAYS_FAILING", "INVALID_MARKER_NOTE", "GatePolicy", "decide", "fails_run", "regate"]

#: Verdicts that fail the run whatever the inconclusive policy.
ALWAYS_FAILING: frozenset[str] = frozenset(
    {"FAIL", "NO_DATA", "INCOMPLETE", "TAMPERED", "LOOSENED"}
)
_INTEGRITY_VERDICTS = frozenset({"TAMPERED", "LOOSENED"})
#: How the note of a suite whose prodgate marker is invalid begins.
INVALID_MARKER_NOTE = "no gate: its prodgate marker is invalid"
INTERRUPTED_REASON = (
    "the run was interrupted (Ctrl-C, -x, --maxfail, or an xdist worker that crashed "
    "with no restart left) before every case ran; a gate never passes on partial data."
)


def fails_run(gate: GateReport, policy: GatePolicy) -> bool:
    """Whether ``gate``'s verdict fails the run under ``policy`` (whatever the mode)."""
    if gate.verdict in ALWAYS_FAILING:
        return True
    if gate.verdict == "INCONCLUSIVE":
        return (policy.inconclusive or kind_of(gate.gate).inconclusive_default) == "fail"
    return False


def policy_of(run: RunInfo) -> GatePolicy:
    """The policy a run was gated with."""
    return GatePolicy(
        run.confidence,
        run.resamples,
        run.seed,
        run.ci_method,
        run.inconclusive,
        run.mode,
        run.cache_latency,
    )


def decide(
    suites: list[SuiteData],
    *,
    run: RunInfo,
    policy: GatePolicy,
    baseline: RunReport | None = None,
    baseline_name: str | None = None,
    integrity: Mapping[str, list[GateReport]] | None = None,
    notes: Sequence[str] = (),
    on_suite_gates: Callable[[str, list[GateReport]], None] | None = None,
) -> RunReport:
    """Gate every suite and assemble the run report.

    ``baseline`` adds a regression gate to every suite it shares with this run
    (``baseline_name`` names it in reasons); ``integrity`` holds each suite's
    ``TAMPERED`` / ``LOOSENED`` rows (:func:`~.integrity.integrity_gates`);
    ``notes`` are run-level remarks. ``on_suite_gates(suite, gates)`` sees each
    suite's settled gates and may change the list in place (the
    ``pytest_prodgate_gates`` hook); the verdicts follow the list as left.
    ``run.interrupted`` marks a partial run. Adds notes to ``suites``.
    """
    return _decide(
        suites,
        run=run,
        policy=policy,
        baseline=baseline,
        baseline_name=baseline_name,
        integrity=integrity or {},
        notes=notes,
        on_suite_gates=on_suite_gates,
        recorded_regression={},
    )


def regate(
    report: RunReport,
    *,
    confidence: float | None = None,
    inconclusive: str | None = None,
    baseline: RunReport | None = None,
    baseline_name: str | None = None,
) -> RunReport:
    """Gate a saved report again from its per-case records and targets.

    Every statistical gate is recomputed with the saved seed, resamples and
    interval method, and ``confidence`` / ``inconclusive`` when given;
    ``regate(report)`` reproduces the saved figures and verdicts. Rows whose
    inputs the report does not hold are carried over as recorded: the
    integrity rows (the dataset files are not there) and rows a hook added.
    Without ``baseline``, a recorded regression gate is kept as recorded (a run
    note says so); with one, it is recomputed against it. ``report`` is not
    changed.
    """
    report = _detached(report)
    saved = report.run
    policy = GatePolicy(
        saved.confidence if confidence is None else confidence,
        saved.resamples,
        saved.seed,
        saved.ci_method,
        saved.inconclusive if inconclusive is None else inconclusive,
        saved.mode,
        saved.cache_latency,
    )
    run = saved.model_copy(
        update={"confidence": policy.confidence, "inconclusive": policy.inconclusive}
    )
    notes = list(report.notes)
    suites: list[SuiteData] = []
    carried: dict[str, list[GateReport]] = {}
    recorded: dict[str, tuple[GateReport, RegressionReport | None]] = {}
    for s in report.suites:
        kept = [n for n in s.notes if baseline is None or not _baseline_note(n)]
        suites.append(
            SuiteData(s.name, dict(s.targets), list(s.cases), notes=kept, early=s.early_stop)
        )
        carried[s.name] = [g for g in s.gates if kind_of(g.gate).carried]
        row = next((g for g in s.gates if kind_of(g.gate) is REGRESSION), None)
        if row is not None and baseline is None:
            recorded[s.name] = (row, s.regression)
    if recorded:
        names = sorted({r.baseline for _, r in recorded.values() if r is not None})
        against = f" against {', '.join(names)}" if names else ""
        note = (
            f"no baseline given: the regression gates are kept as recorded{against} "
            "(give a baseline to recompute them)"
        )
        if note not in notes:
            notes.append(note)
    return _decide(
        suites,
        run=run,
        policy=policy,
        baseline=baseline,
        baseline_name=baseline_name,
        integrity=carried,
        notes=notes,
        on_suite_gates=None,
        recorded_regression=recorded,
    )


def _detached(report: RunReport) -> RunReport:
    """A copy of ``report`` that gating may change: everything but the cases, which
    gating only reads (a deep copy of 100,000 cases took most of ``prodgate gate``)."""
    suites = [
        s.model_copy(
            update={
                "gates": [g.model_copy(deep=True) for g in s.gates],
                "notes": list(s.notes),
                "regression": s.regression.model_copy(deep=True) if s.regression else None,
                "early_stop": s.early_stop.model_copy(deep=True) if s.early_stop else None,
                "targets": dict(s.targets),
            }
        )
        for s in report.suites
    ]
    return report.model_copy(
        update={"suites": suites, "notes": list(report.notes), "run": report.run.model_copy()}
    )


def _baseline_note(note: str) -> bool:
    return note == NEW_SUITE_NOTE or (
        note.startswith("baseline ") and note.endswith(": another suite layout?")
    )


def _decide(
    suites: list[SuiteData],
    *,
    run: RunInfo,
    policy: GatePolicy,
    baseline: RunReport | None,
    baseline_name: str | None,
    integrity: Mapping[str, list[GateReport]],
    notes: Sequence[str],
    on_suite_gates: Callable[[str, list[GateReport]], None] | None,
    recorded_regression: Mapping[str, tuple[GateReport, RegressionReport | None]],
) -> RunReport:
    name = baseline_name or "baseline"
    compare = baseline_suites(suites, baseline, name) if baseline is not None else {}
    commit = baseline.run.git_commit if baseline is not None else None
    out: list[SuiteReport] = []
    for s in suites:
        # A suite resolved early is gated on the cases up to its deciding look, the
        # same in every mode; a case that ran after the stop (under xdist) is only
        # reported and counted (see gating.early.gated).
        s.targets = report_slices(s.targets, s.cases)
        cases = early.gated(s.cases, s.early)
        ctx = SuiteContext(
            s.name,
            s.targets,
            cases,
            policy,
            baseline=compare.get(s.name),
            baseline_name=name,
            baseline_commit=commit,
        )
        gates = evaluate_suite(ctx)
        if s.early is not None:
            # Run with early stopping: each gate's verdict is its sequential rule's.
            seq = dataclasses.replace(ctx, cases=early.ordered(cases, s.early.order))
            early.apply(gates, early.decide_suite(seq, s.early), s.early)
        else:
            holm_fail(ctx, gates, evaluate_suite)  # FAILs across the suite's gates: Holm
        if s.name in recorded_regression:
            row, ctx.regression = recorded_regression[s.name]
            gates.append(row)
        elif baseline is not None and s.name not in compare and NEW_SUITE_NOTE not in s.notes:
            s.notes.append(NEW_SUITE_NOTE)
        if ctx.regression is not None:
            s.regression = ctx.regression
        _no_partial_pass(gates, cases, ctx.tally.incomplete)
        mark_replays(ctx, gates)
        rows = integrity.get(s.name, [])
        subset = next((g for g in rows if g.verdict == "INCOMPLETE"), None)
        if subset is not None:  # a sealed set run in part (sealed_set rows)
            for g in gates:
                if g.verdict not in ALWAYS_FAILING:
                    _incomplete(g, subset.reason)
        gates.extend(rows)
        for g in gates:
            g.fails_run = fails_run(g, policy)
        if on_suite_gates is not None:
            on_suite_gates(s.name, gates)
        if not gates:
            note = no_gate_note(s)
            if note not in s.notes:
                s.notes.append(note)
        spent = ctx.tally if cases is s.cases else tally(s.cases)
        out.append(_suite_report(s, gates, ctx.tally, spent))
    if run.interrupted:
        _mark_interrupted(out)
    if run.shard is not None:
        _mark_shard(out, run.shard.label)
    every = [g for s in out for g in s.gates]
    return RunReport(
        run=run,
        verdict=worst(g.verdict for g in every),
        fails_run=run.shard is None and policy.mode == "gate" and any(g.fails_run for g in every),
        suites=out,
        notes=list(notes),
    )


#: ``outcome: (singular, plural)`` in reasons: "1 error", "3 errors".
_OUTCOME_WORDS: dict[str, tuple[str, str]] = {
    "error": ("error", "errors"),
    "not_run": ("not run", "not run"),
    "skipped": ("skipped", "skipped"),
    "crashed": ("crashed", "crashed"),
}


def no_gate_note(s: SuiteData) -> str:
    """The word a suite without gates gets: nothing of it is gated, and why."""
    marker = "prodgate marker: "
    errors = [
        t.reason.split(marker, 1)[1]
        for c in s.cases
        for t in c.trials
        if t.outcome == "error" and t.reason and marker in t.reason
    ]
    if errors:
        return f"{INVALID_MARKER_NOTE} ({errors[0]}); nothing is gated"
    n = sum(len(c.trials) for c in s.cases)
    return (
        f"no gate declared: its {n:,} case{'s' if n != 1 else ''} ran and are reported, "
        "nothing is gated (give the prodgate marker a target, e.g. accuracy_floor=0.9; "
        "a target of None declares nothing)"
    )


def incomplete_reason(cases: Sequence[CaseReport], missing: Sequence[TrialReport]) -> str:
    """Why no gate of these cases may pass: ``missing``, the trials that produced no
    result (:attr:`SuiteTally.incomplete`); empty when there are none."""
    if not missing:
        return ""
    kinds: dict[str, int] = {}
    for t in missing:
        kinds[t.outcome] = kinds.get(t.outcome, 0) + 1
    detail = ", ".join(
        f"{n} {_OUTCOME_WORDS.get(k, k.replace('_', ' '))[n != 1]}"
        for k, n in sorted(kinds.items())
    )
    names = ", ".join(t.nodeid for t in missing[:3])
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    total = sum(len(c.trials) for c in cases)
    if all(t.outcome == "not_run" for t in missing):
        spent = next((t.reason for t in missing if t.reason and "spent" in t.reason), "")
        spent = spent.removeprefix("prodgate: ").removesuffix(" (--prodgate-max-spend-usd)")
        if spent:  # the cap is checked before a call: calls already under way still finish
            cost = sum(c.cost_usd or 0.0 for c in cases)
            spent += f" when the first of them was due (this suite's cases cost ${cost:.4f} in all)"
        todo = f"{spent[0].upper()}{spent[1:]}; raise" if spent else "Raise"
        todo += " --prodgate-max-spend-usd or run fewer cases"
    else:
        todo = "Fix them and rerun"
    if total == len(cases):
        what = f"{len(missing)} of {total} cases"
    else:  # trials: count them, and the cases they belong to
        ids = {id(t) for t in missing}
        hit = sum(1 for c in cases if any(id(t) in ids for t in c.trials))
        what = f"{len(missing)} of {total} trials ({hit} of {len(cases)} cases)"
    return (
        f"{what} produced no result ({detail}): {names}{more}. "
        f"{todo}; a gate never passes on partial data."
    )


def _no_partial_pass(
    gates: Iterable[GateReport], cases: Sequence[CaseReport], missing: Sequence[TrialReport]
) -> None:
    """Some cases produced no result: whatever the rest show, no gate can pass."""
    reason = incomplete_reason(cases, missing)
    if not reason:
        return
    for g in gates:
        if g.verdict not in _INTEGRITY_VERDICTS:
            _incomplete(g, reason)


def _incomplete(g: GateReport, reason: str) -> None:
    g.verdict, g.reason, g.hint = "INCOMPLETE", reason, ""
    g.to_resolve, g.to_resolve_unit = None, ""


def _mark_interrupted(suites: Iterable[SuiteReport]) -> None:
    """An interrupted run saw only some cases: no gate of it may pass."""
    for suite in suites:
        for g in suite.gates:
            if g.verdict in ("PASS", "INCONCLUSIVE"):
                _incomplete(g, INTERRUPTED_REASON)
                g.fails_run = True
        suite.verdict = worst(g.verdict for g in suite.gates) or suite.verdict


def shard_reason(label: str) -> str:
    """The reason of every statistical gate of shard ``label`` (``K/N``)."""
    return (
        f"shard {label}: measured on this shard's cases only; "
        "prodgate merge gates the run over every shard."
    )


def _mark_shard(suites: Iterable[SuiteReport], label: str) -> None:
    """A shard saw some of the cases: it measures, and never decides a gate."""
    for suite in suites:
        for g in suite.gates:
            g.fails_run = False
            if not kind_of(g.gate).carried:
                g.verdict, g.reason, g.hint = "SHARD", shard_reason(label), ""
                g.to_resolve, g.to_resolve_unit = None, ""
        suite.verdict = worst(g.verdict for g in suite.gates) or "SHARD"


# --------------------------------------------------------------------------- suite summary


def _suite_report(
    s: SuiteData, gates: list[GateReport], t: SuiteTally, spent: SuiteTally
) -> SuiteReport:
    """``t``: the tally of the gated cases (every figure derived from their results);
    ``spent``: of every case (what ran: counts, calls and cost). The same tally but for
    a suite resolved early (:func:`~.early.gated`)."""
    report = SuiteReport(
        name=s.name,
        targets=s.targets,
        verdict=worst(g.verdict for g in gates) or ("INCOMPLETE" if t.incomplete else "PASS"),
        counts=dict(spent.counts),
        gates=gates,
        slices={
            tag: SliceSummary(n=len(r), accuracy=sum(r) / len(r) if r else None)
            # By the redacted name a report holds, so a re-gate keeps the order.
            for tag, r in sorted(t.tag_rates.items(), key=lambda kv: natural_key(redact(kv[0])))
        },
        trials=spent.max_trials,
        # pass^N and flaky: 0/1 scores only (see docs/concepts.md).
        pass_all_rate=(t.passed_all / t.scored_cases if t.scored_cases and not t.graded else None),
        flaky_cases=[] if t.graded else list(t.flaky),
        regression=s.regression,
        notes=s.notes,
        early_stop=s.early,
        fresh_calls=spent.fresh_calls,
        replayed_calls=spent.replayed_calls,
        fresh_cost_usd=spent.fresh_usd,
        replayed_cost_usd=spent.saved_usd,
    )
    # Assigned, not passed: validating would summarise every case again.
    report.cases = list(s.cases)
    return report
