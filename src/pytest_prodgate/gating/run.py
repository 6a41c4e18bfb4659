"""Re-gate a saved run report: every statistical gate recomputed from its case records.

Pure: no pytest. The same evaluators as a pytest run (:mod:`gating.gates`) on the
same cases, targets, seed, resamples and method; integrity rows (TAMPERED, LOOSENED)
are carried over as recorded, since the dataset files are not at hand.
"""

from __future__ import annotations

from pytest_prodgate.gating.aggregate import SuiteData, build_report
from pytest_prodgate.gating.gates import GateConfig, evaluate_suite, regression_gate, worst
from pytest_prodgate.schema.report import GateReport, RunReport

__all__ = ["regate"]

_INTEGRITY = ("TAMPERED", "LOOSENED")


def regate(
    report: RunReport,
    *,
    confidence: float | None = None,
    inconclusive: str | None = None,
    baseline: RunReport | None = None,
    baseline_name: str | None = None,
) -> RunReport:
    """Recompute ``report``'s gates; with no overrides its figures and verdicts come back."""
    r = report.run
    run = r.model_copy(
        update={
            "confidence": r.confidence if confidence is None else confidence,
            "inconclusive": r.inconclusive if inconclusive is None else inconclusive,
        }
    )
    cfg = GateConfig(run.confidence, run.resamples, run.seed, run.ci_method, run.inconclusive)
    before = {s.name: s for s in baseline.suites} if baseline is not None else {}
    suites = [SuiteData(s.name, dict(s.targets), list(s.cases)) for s in report.suites]
    saved = {s.name: s for s in report.suites}

    def gate_suite(suite: SuiteData) -> list[GateReport]:
        gates = evaluate_suite(suite.name, suite.targets, suite.cases, cfg)
        old = saved[suite.name]
        if baseline is not None and suite.name in before:
            gate, suite.regression = regression_gate(
                suite.name,
                suite.cases,
                before[suite.name].cases,
                float(suite.targets.get("max_regression", 0.0)),
                cfg,
                baseline_name or "baseline",
                baseline.run.git_commit,
            )
            gates.append(gate)
        else:
            kept = [g for g in old.gates if g.gate == "regression"]
            if kept:
                suite.regression = old.regression
                suite.notes.append("regression gate as recorded (pass --baseline to recompute)")
            gates.extend(kept)
        gates.extend(g for g in old.gates if g.verdict in _INTEGRITY)
        suite.notes.extend(n for n in old.notes if n not in suite.notes)
        return gates

    out = build_report(suites, run, gate_suite)
    out.notes = list(report.notes)
    if run.interrupted:
        for suite in out.suites:
            for g in suite.gates:
                if g.verdict in ("PASS", "INCONCLUSIVE"):
                    g.verdict, g.fails_run, g.hint = "INCOMPLETE", True, ""
                    g.reason = (
                        "the run was interrupted (Ctrl-C, -x or --maxfail) before every case "
                        "ran; a gate never passes on partial data."
                    )
            suite.verdict = worst(g.verdict for g in suite.gates) or suite.verdict
        gates = [g for s in out.suites for g in s.gates]
        out.verdict = worst(g.verdict for g in gates)
        out.fails_run = run.mode == "gate" and any(g.fails_run for g in gates)
    return out
