"""Gate decisions: from a suite's cases and targets to verdicts. Pure: no pytest.

Each gate draws its interval from :mod:`pytest_prodgate.stats` (SPEC §6), with a
random stream of its own (``gate_seed(seed, suite, gate)``) so that adding a gate
moves no other, and reports why it did not pass and what would resolve it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_prodgate import stats
from pytest_prodgate.gating.aggregate import natural_key
from pytest_prodgate.gating.formatting import fmt_value as _fmt
from pytest_prodgate.schema.report import (
    CaseReport,
    GateReport,
    RegressionReport,
    TrialReport,
    Verdict,
)
from pytest_prodgate.schema.targets import LATENCY_GATES

__all__ = [
    "ALWAYS_FAILING",
    "GateConfig",
    "evaluate_suite",
    "incomplete_trials",
    "scored_trials",
    "worst",
]

#: Verdicts that fail the run whatever the inconclusive policy.
ALWAYS_FAILING: frozenset[str] = frozenset(
    {"FAIL", "NO_DATA", "INCOMPLETE", "TAMPERED", "LOOSENED"}
)
_SEVERITY: tuple[str, ...] = (
    "PASS",
    "INCONCLUSIVE",
    "FAIL",
    "INCOMPLETE",
    "NO_DATA",
    "LOOSENED",
    "TAMPERED",
)
#: "Would likely resolve it": the n at which the gate resolves with this probability
#: if the true value is the one observed.
RESOLVE_POWER = 0.8
_SCORED = frozenset({"passed", "missed", "model_error"})
_NO_RESULT = frozenset({"error", "crashed", "not_run"})
_TIMED_KINDS = frozenset({"call", "benchmark"})


@dataclass(frozen=True)
class GateConfig:
    """The statistics settings every gate of a run shares."""

    confidence: float = 0.95
    resamples: int = 9999
    seed: int = 0
    ci_method: str = "auto"
    #: ``"fail"`` / ``"warn"`` for every inconclusive gate; ``None``: absolute gates
    #: fail, regression gates warn.
    inconclusive: str | None = None


def worst(verdicts: Iterable[Verdict]) -> Verdict | None:
    """The most severe verdict (``None`` for no gates)."""
    return max(verdicts, key=_SEVERITY.index, default=None)


def fails_run(verdict: str, cfg: GateConfig, *, regression: bool = False) -> bool:
    if verdict in ALWAYS_FAILING:
        return True
    if verdict == "INCONCLUSIVE":
        policy = cfg.inconclusive or ("warn" if regression else "fail")
        return policy == "fail"
    return False


def scored_trials(cases: Sequence[CaseReport]) -> list[tuple[int, TrialReport]]:
    """(case index, trial) for every trial that produced a score."""
    return [
        (i, t)
        for i, c in enumerate(cases)
        for t in c.trials
        if t.outcome in _SCORED and t.score is not None
    ]


def incomplete_trials(cases: Sequence[CaseReport]) -> list[TrialReport]:
    """Trials that produced no result: harness errors, crashed workers, not run."""
    return [t for c in cases for t in c.trials if t.outcome in _NO_RESULT]


# --------------------------------------------------------------------------- formatting


def _cases_word(n: int, unit: str) -> str:
    return f"{n:,} {unit}" if n == 1 else f"{n:,} {unit}s"


def _latency_samples(trial: TrialReport) -> list[float]:
    """A trial's latency samples: pytest-benchmark's rounds when it measured, else its calls.

    A benchmarked test usually calls the model in every round, so counting both
    would weigh that one case twice. Calls under load count only when the test
    asked for it (``prodgate_load(..., count_latency=True)``).
    """
    bench = [c.latency_ms for c in trial.calls if c.kind == "benchmark"]
    samples = bench or [c.latency_ms for c in trial.calls if c.kind == "call"]
    for run in trial.load_runs:
        if run.get("count_latency"):
            samples.extend((end - start) * 1000.0 for start, end, ok, _ in run["calls"] if ok)
    return samples


# --------------------------------------------------------------------------- intervals


def _share_interval(
    values: np.ndarray[Any, Any],
    clusters: np.ndarray[Any, Any] | None,
    cfg: GateConfig,
    seed: np.random.SeedSequence,
) -> stats.Interval:
    """Interval of a share of 0/1 (or graded [0, 1]) values, per SPEC §6."""
    binary = bool(np.all((values == 0.0) | (values == 1.0)))
    n_cases = len(np.unique(clusters)) if clusters is not None else len(values)
    if clusters is not None and binary and (values.min() == values.max()):
        # All trials agree everywhere: a cluster bootstrap would be zero-width.
        return stats.wilson(int(values[0]) * n_cases, n_cases, cfg.confidence)
    method = cfg.ci_method
    if binary and clusters is None and method in ("auto", "wilson"):
        return stats.wilson(int(values.sum()), len(values), cfg.confidence)
    if binary and clusters is None and method == "clopper-pearson":
        return stats.clopper_pearson(int(values.sum()), len(values), cfg.confidence)
    iv = stats.bootstrap_mean(
        values,
        confidence=cfg.confidence,
        resamples=cfg.resamples,
        seed=seed,
        clusters=clusters,
        binary_fallback=method != "bootstrap",
    )
    if iv.lower == iv.upper:
        # Constant graded scores: the bootstrap has no spread to offer. A score in
        # [0, 1] has variance at most p(1 - p), so Wilson on the fractional count
        # is a conservative bound where a zero-width interval would be no bound.
        return stats.wilson_graded(float(values.mean()), n_cases, cfg.confidence)
    return iv


def _decide(gate: str, comparator: str, target: float, iv: stats.Interval) -> Verdict:
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


def _explain(
    gate: str,
    comparator: str,
    target: float,
    iv: stats.Interval,
    verdict: str,
    what: str,
    confidence: float,
) -> str:
    t = _fmt(gate, target)
    pct = f"{confidence:.0%}"
    if verdict == "FAIL":
        side, bound = ("upper", iv.upper) if comparator == ">=" else ("lower", iv.lower)
        op = "<" if comparator == ">=" else ">"
        return (
            f"{what} {_fmt(gate, iv.estimate)}; the {pct} interval's {side} bound "
            f"{_fmt(gate, bound)} {op} {t}."
        )
    if verdict == "INCONCLUSIVE":
        return (
            f"{what} {_fmt(gate, iv.estimate)}; the {pct} interval "
            f"[{_fmt(gate, iv.lower)}, {_fmt(gate, iv.upper)}] straddles {t}."
        )
    return ""


# --------------------------------------------------------------------------- gates


@dataclass
class _Suite:
    name: str
    targets: dict[str, Any]
    cases: Sequence[CaseReport]
    cfg: GateConfig

    def gate(
        self,
        gate: str,
        comparator: str,
        verdict: Verdict,
        iv: stats.Interval | None,
        reason: str = "",
        hint: str = "",
        *,
        target: float | None = None,
        regression: bool = False,
    ) -> GateReport:
        tgt = float(self.targets[gate]) if target is None else target
        incomplete = self.incomplete
        if incomplete and verdict not in ("TAMPERED", "LOOSENED"):
            # Some cases produced no result: whatever the rest show, the gate cannot pass.
            verdict, reason, hint = "INCOMPLETE", incomplete, ""
        return GateReport(
            suite=self.name,
            gate=gate,
            comparator=comparator,  # type: ignore[arg-type]
            target=tgt,
            estimate=None if iv is None else iv.estimate,
            lower=None if iv is None else iv.lower,
            upper=None if iv is None else iv.upper,
            n=0 if iv is None else iv.n,
            method="" if iv is None else iv.method,
            verdict=verdict,
            fails_run=fails_run(verdict, self.cfg, regression=regression),
            reason=reason,
            hint=hint,
        )

    def seed(self, gate: str) -> np.random.SeedSequence:
        return stats.gate_seed(self.cfg.seed, self.name, gate)

    @functools.cached_property
    def incomplete(self) -> str:
        missing = incomplete_trials(self.cases)
        if not missing:
            return ""
        kinds: dict[str, int] = {}
        for t in missing:
            kinds[t.outcome] = kinds.get(t.outcome, 0) + 1
        detail = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(kinds.items()))
        names = ", ".join(t.nodeid for t in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        total = sum(len(c.trials) for c in self.cases)
        todo = (
            "Raise --prodgate-max-spend-usd or run fewer cases"
            if all(t.outcome == "not_run" for t in missing)
            else "Fix them and rerun"
        )
        return (
            f"{len(missing)} of {total} cases produced no result ({detail}): {names}{more}. "
            f"{todo}; a gate never passes on partial data."
        )

    # ---- shares: accuracy, slices, error rate

    def share_gate(
        self,
        gate: str,
        comparator: str,
        target: float,
        trials: list[tuple[int, TrialReport]],
        indicator: Any,
        what: str,
        unit: str,
        empty_reason: str,
    ) -> GateReport:
        if not trials:
            return self.gate(gate, comparator, "NO_DATA", None, empty_reason, target=target)
        values = np.array([indicator(t) for _, t in trials], dtype=float)
        case_idx = np.array([i for i, _ in trials])
        multi = len(np.unique(case_idx)) < len(case_idx)
        clusters = case_idx if multi else None
        iv = _share_interval(values, clusters, self.cfg, self.seed(gate))
        # n counts cases (trials stay with their case), whatever the method counted.
        iv = stats.Interval(iv.estimate, iv.lower, iv.upper, len(np.unique(case_idx)), iv.method)
        return self.finish(gate, comparator, target, iv, what, unit, "share")

    def finish(
        self,
        gate: str,
        comparator: str,
        target: float,
        iv: stats.Interval,
        what: str,
        unit: str,
        kind: str,
        hint: str = "",
    ) -> GateReport:
        verdict = _decide(gate, comparator, target, iv)
        reason = _explain(gate, comparator, target, iv, verdict, what, self.cfg.confidence)
        if verdict == "INCONCLUSIVE" and not hint:
            hint = self.resolve_hint(gate, comparator, target, iv, kind, unit)
        return self.gate(gate, comparator, verdict, iv, reason, hint, target=target)

    def resolve_hint(
        self,
        gate: str,
        comparator: str,
        target: float,
        iv: stats.Interval,
        kind: str,
        unit: str,
    ) -> str:
        needed: int | None
        if kind == "share" and iv.method in ("wilson", "clopper-pearson"):
            needed = stats.n_to_resolve_proportion(
                iv.estimate, target, self.cfg.confidence, method=iv.method, power=RESOLVE_POWER
            )
        else:
            needed = stats.n_to_resolve_mean(
                iv, target, power=RESOLVE_POWER, confidence=self.cfg.confidence
            )
        t = _fmt(gate, target)
        if needed is None:
            return f"The estimate sits on the target {t}: no number of {unit}s would resolve it."
        side = ">=" if iv.estimate > target else "<"
        if comparator == "<=":
            side = "<=" if iv.estimate < target else ">"
        return (
            f"About {_cases_word(needed, unit)} would show {side} {t} "
            f"(with {RESOLVE_POWER:.0%} probability) if it stays at {_fmt(gate, iv.estimate)}."
        )

    # ---- the gates

    def accuracy(self) -> GateReport:
        return self.share_gate(
            "accuracy_floor",
            ">=",
            float(self.targets["accuracy_floor"]),
            scored_trials(self.cases),
            lambda t: t.score,
            "accuracy",
            "case",
            "no eval case of this suite produced a score (all skipped or deselected).",
        )

    def slice_floor(self, tag: str, floor: float) -> GateReport:
        trials = [(i, t) for i, t in scored_trials(self.cases) if tag in self.cases[i].tags]
        return self.share_gate(
            f"slice_floor[{tag}]",
            ">=",
            floor,
            trials,
            lambda t: t.score,
            f"accuracy on slice {tag!r}",
            "case",
            f"no scored case is tagged {tag!r}: tag cases in the dataset's tags field "
            "or with prodgate_case.tag().",
        )

    def error_rate(self) -> GateReport:
        return self.share_gate(
            "error_rate_max",
            "<=",
            float(self.targets["error_rate_max"]),
            scored_trials(self.cases),
            lambda t: float(
                t.outcome == "model_error"
                or any(not c.ok for c in t.calls if c.kind in _TIMED_KINDS)
            ),
            "error rate",
            "case",
            "no eval case of this suite produced a result.",
        )

    def latency(self, gate: str, q: float) -> GateReport:
        budget = float(self.targets[gate])
        values = np.array(
            [ms for _, t in scored_trials(self.cases) for ms in _latency_samples(t)], dtype=float
        )
        if values.size == 0:
            return self.gate(
                gate,
                "<=",
                "NO_DATA",
                None,
                "no model call was recorded: call the model through the prodgate_model "
                "fixture (a pytest_prodgate.Model).",
            )
        iv = stats.quantile_bounds(values, q, self.cfg.confidence)
        hint = ""
        need = stats.min_n_for_quantile(q, self.cfg.confidence)
        if values.size < need:
            hint = (
                f"A finite interval for p{round(q * 100)} needs at least {need:,} calls "
                f"at {self.cfg.confidence:.0%} confidence; this run has {values.size:,}."
            )
        else:
            verdict = _decide(gate, "<=", budget, iv)
            if verdict == "INCONCLUSIVE":
                more = stats.n_to_resolve_quantile(
                    values, q, budget, self.cfg.confidence, power=RESOLVE_POWER
                )
                hint = (
                    f"About {_cases_word(more, 'call')} would resolve it (with "
                    f"{RESOLVE_POWER:.0%} probability) if the latency distribution stays the same."
                    if more is not None
                    else "The observed distribution sits on the budget: more calls "
                    "would not resolve it."
                )
        return self.finish(
            gate, "<=", budget, iv, f"p{round(q * 100)} latency (ms)", "call", "quantile", hint
        )

    def cost(self) -> GateReport:
        gate = "cost_per_call_usd"
        budget = float(self.targets[gate])
        values: list[float] = []
        clusters: list[int] = []
        failed: list[str] = []
        unpriced: list[str] = []
        priced = any(
            c.cost_usd is not None or c.cost_error is not None
            for _, t in scored_trials(self.cases)
            for c in t.calls
            if c.kind == "call"
        )
        known = False
        for k, (_, t) in enumerate(scored_trials(self.cases)):
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
            return self.gate(
                gate,
                "<=",
                "INCOMPLETE",
                None,
                f"{len(failed)} calls have no cost: {failed[0]}"
                + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""),
            )
        if not values or not known:
            return self.gate(
                gate,
                "<=",
                "NO_DATA",
                None,
                "no cost was recorded: give Model(cost=...) or Model(pricing=Pricing(...)), "
                "or call prodgate_case.add_cost().",
            )
        arr = np.array(values, dtype=float)
        cl = np.array(clusters)
        multi = len(np.unique(cl)) < len(cl)
        iv = stats.bootstrap_mean(
            arr,
            confidence=self.cfg.confidence,
            resamples=self.cfg.resamples,
            seed=self.seed(gate),
            clusters=cl if multi else None,
        )
        return self.finish(gate, "<=", budget, iv, "mean cost per call (USD)", "call", "mean")

    def throughput(self) -> GateReport:
        from pytest_prodgate.stats.windows import throughput_interval

        gate = "throughput_rps"
        target = float(self.targets[gate])
        runs = [r for c in self.cases for t in c.trials for r in t.load_runs]
        if not runs:
            return self.not_measured(
                gate, ">=", "no load run was recorded: drive one with prodgate_load."
            )
        est, lo, hi, windows, method = throughput_interval(
            runs, self.cfg.confidence, self.cfg.resamples, self.seed(gate)
        )
        iv = stats.Interval(est, lo, hi, windows, method)
        if any(r.get("timed_out") for r in runs):
            return self.gate(
                gate,
                ">=",
                "INCOMPLETE",
                iv,
                "a load run timed out with calls still in flight: its rate is not a "
                "sustained throughput. Give the model a timeout_s or a longer grace_s.",
            )
        report = self.finish(gate, ">=", target, iv, "successful requests/s", "window", "mean")
        caveats = []
        calls = sum(len(r["calls"]) for r in runs)
        errors = sum(1 for r in runs for call in r["calls"] if not call[2])
        if errors:
            caveats.append(f"{errors:,} of {calls:,} requests failed and are not counted")
        if any(r.get("saturated") for r in runs):
            caveats.append(
                "the load runner could not keep its concurrency in flight, so this is a "
                "lower bound of capacity: raise concurrency or use arun with an async client"
            )
        if method == "too-few-windows":
            report.hint = (
                "The run was too short for 5 time windows of ~5 call latencies each: "
                "run it longer (duration_s) to get an interval."
            )
        if caveats:
            report.reason = (
                (report.reason + " " if report.reason else "")
                + "; ".join(caveats).capitalize()
                + "."
            )
        return report

    def recovery(self) -> GateReport:
        from pytest_prodgate.measure.drill import recovery_estimate

        gate = "recovery_s"
        budget = float(self.targets[gate])
        drills = [d for c in self.cases for t in c.trials for d in t.drills]
        if not drills:
            return self.not_measured(
                gate, "<=", "no recovery drill was recorded: time one with prodgate_drill."
            )
        worst, n, failed = recovery_estimate(drills)
        iv = stats.Interval(worst, worst, worst, n, "observed-max")
        verdict: Verdict = "PASS" if worst <= budget and not failed else "FAIL"
        reason = ""
        if failed:
            names = [str(d.get("name")) for d in drills if not d.get("recovered")]
            reason = (
                f"{len(names)} of {n} drills never recovered within their timeout "
                f"({', '.join(names[:3])}); a failed drill counts as its timeout."
            )
        elif verdict == "FAIL":
            reason = f"the slowest of {n} drills took {worst:.3g} s > {budget:.3g} s."
        report = self.gate(gate, "<=", verdict, iv, reason)
        report.lower = report.upper = None  # the worst drill: no interval (SPEC §6)
        return report

    def not_measured(self, gate: str, comparator: str, what: str) -> GateReport:
        return self.gate(gate, comparator, "NO_DATA", None, what)


def evaluate_suite(
    name: str,
    targets: dict[str, Any],
    cases: Sequence[CaseReport],
    cfg: GateConfig,
    extra_gates: Iterable[GateReport] = (),
) -> list[GateReport]:
    """Evaluate every absolute gate ``targets`` declares for one suite."""
    s = _Suite(name, targets, cases, cfg)
    out: list[GateReport] = []
    if "accuracy_floor" in targets:
        out.append(s.accuracy())
    for gate, q in LATENCY_GATES.items():
        if gate in targets:
            out.append(s.latency(gate, q))
    if "cost_per_call_usd" in targets:
        out.append(s.cost())
    if "error_rate_max" in targets:
        out.append(s.error_rate())
    for tag, floor in sorted((targets.get("slice_floors") or {}).items()):
        out.append(s.slice_floor(tag, float(floor)))
    if "throughput_rps" in targets:
        out.append(s.throughput())
    if "recovery_s" in targets:
        out.append(s.recovery())
    out.extend(extra_gates)
    return out


# --------------------------------------------------------------------------- regression


def _case_scores(cases: Sequence[CaseReport]) -> dict[str, float]:
    """Per-case mean score over the trials that scored (trials stay with their case)."""
    out: dict[str, float] = {}
    for c in cases:
        scores = [t.score for t in c.trials if t.outcome in _SCORED and t.score is not None]
        if scores:
            out[c.id] = float(sum(scores)) / len(scores)
    return out


def regression_gate(
    suite: str,
    cases: Sequence[CaseReport],
    baseline_cases: Sequence[CaseReport],
    max_regression: float,
    cfg: GateConfig,
    baseline_name: str,
    baseline_commit: str | None = None,
) -> tuple[GateReport, RegressionReport]:
    """Accuracy now vs the baseline, paired by case id (SPEC §6, last row).

    Only cases present (and scored) in both runs are compared: a baseline from a
    partial run (``-k``, a shard) never turns missing cases into regressions.
    """
    current = _case_scores(cases)
    before = _case_scores(baseline_cases)
    both = sorted(set(current) & set(before), key=natural_key)
    only_cur = sorted(set(current) - set(before), key=natural_key)
    only_base = sorted(set(before) - set(current), key=natural_key)
    info = RegressionReport(
        baseline=baseline_name,
        baseline_commit=baseline_commit,
        paired=len(both),
        only_current=only_cur,
        only_baseline=only_base,
        partial=bool(only_cur or only_base),
    )
    s = _Suite(suite, {"regression": max_regression}, cases, cfg)
    if info.partial:
        info.note = (
            f"compared the {len(both):,} cases scored in both runs; "
            f"{len(only_base):,} only in the baseline and {len(only_cur):,} only in this run "
            "are not compared."
        )
    if not both:
        why = (
            f"the baseline {baseline_name} has no suite {suite!r} (another suite layout?)."
            if not baseline_cases
            else f"no case id of this suite was scored in both this run and the baseline "
            f"{baseline_name}: pair cases by stable ids (load_cases id field)."
        )
        gate = s.gate(
            "regression",
            ">=",
            "NO_DATA",
            None,
            why,
            target=-max_regression,
            regression=True,
        )
        return gate, info
    cur = np.array([current[k] for k in both])
    base = np.array([before[k] for k in both])
    info.regressed = [k for k in both if before[k] >= 0.5 > current[k]]
    info.fixed = [k for k in both if current[k] >= 0.5 > before[k]]
    info.baseline_accuracy = float(base.mean())
    info.current_accuracy = float(cur.mean())
    iv = stats.paired_delta(
        cur,
        base,
        confidence=cfg.confidence,
        resamples=cfg.resamples,
        seed=stats.gate_seed(cfg.seed, suite, "regression"),
    )
    delta = cur - base
    n = len(delta)
    # A floor on the variance (rule of three) so that "no case flipped" still
    # reports an honest, non-zero detectable regression.
    var = max(float(delta.var(ddof=1)) if n > 1 else 0.0, 3.0 / n)
    z = stats.z_two_sided(cfg.confidence)
    mde = (z + stats.z_one_sided(RESOLVE_POWER)) * math.sqrt(var / n)
    # A drop of more than 1 is impossible: then no regression is detectable at all.
    info.min_detectable_regression = mde if mde <= 1.0 else None
    target = -max_regression
    verdict = _decide("regression", ">=", target, iv)
    what = (
        f"accuracy change {iv.estimate:+.3f} vs baseline over {n:,} paired cases "
        f"({len(info.regressed)} regressed, {len(info.fixed)} fixed)"
    )
    reason = ""
    if verdict == "FAIL":
        reason = (
            f"{what}; the {cfg.confidence:.0%} interval's upper bound {iv.upper:+.3f} "
            f"< {target + 0.0:+.3f}."
        )
    elif verdict == "INCONCLUSIVE":
        reason = (
            f"{what}; the {cfg.confidence:.0%} interval [{iv.lower:+.3f}, {iv.upper:+.3f}] "
            f"straddles {target + 0.0:+.3f}."
        )
    hint = ""
    if verdict == "INCONCLUSIVE":
        needed = stats.n_to_resolve_mean(iv, target, power=RESOLVE_POWER, confidence=cfg.confidence)
        hint = (
            f"About {_cases_word(needed, 'paired case')} would resolve it (with "
            f"{RESOLVE_POWER:.0%} probability) if the change stays at {iv.estimate:+.3f}."
            if needed
            else "The change sits on the allowed regression: more cases would not resolve it."
        )
    if info.partial:
        reason = (reason + " " if reason else "") + "Partial comparison: " + info.note
    gate = s.gate("regression", ">=", verdict, iv, reason, hint, target=target, regression=True)
    return gate, info
