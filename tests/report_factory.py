"""Synthetic run reports of any size, gated by the real code (``gating.run.regate``).

For the HTML and comment tests and ``benchmarks/bench_reports.py``: a current
run and its baseline, with slices, misses, model errors, flipped cases, a load
run and a drill, whose gates, verdicts and regression are decided by
:func:`pytest_prodgate.gating.run.regate` exactly as for a saved report. The
outputs under test only render what it decided.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pytest_prodgate.gating.run import regate
from pytest_prodgate.schema.report import (
    CallReport,
    CaseReport,
    DrillReport,
    DrillStep,
    LoadRunReport,
    RunInfo,
    RunReport,
    SuiteReport,
    TrialReport,
)

TARGETS = {
    "accuracy_floor": 0.85,
    "latency_p95_ms": 400.0,
    "cost_per_call_usd": 0.002,
    "cost_cap_usd": 0.0015,  # every call costs 0.0011-0.0015
    "error_rate_max": 0.05,
    "slice_floors": {"lang:de": 0.9},
    "max_regression": 0.02,
}


def _run_info() -> RunInfo:
    return RunInfo(
        started_at="2026-12-02T12:00:00+00:00",
        finished_at="2026-12-02T12:01:00+00:00",
        duration_s=60.0,
        plugin_version="0.1.0",
        pytest_version="9.0",
        python_version="3.11",
        platform="linux",
        git_commit="0123456789abcdef0123456789abcdef01234567",
        seed=0,
        confidence=0.95,
        resamples=999,
        ci_method="auto",
        mode="gate",
    )


def _case(cid: str, suite: str, outcome: str, rng: random.Random, tags: list[str]) -> CaseReport:
    latency = rng.lognormvariate(5.0, 0.4)
    ok = outcome != "model_error"
    call = CallReport(
        latency_ms=latency,
        ok=ok,
        error=None if ok else "TimeoutError",
        cost_usd=0.0011 + rng.random() * 0.0004,
        model="m",
    )
    score = {"passed": 1.0, "missed": 0.0, "model_error": 0.0}[outcome]
    trial = TrialReport(
        nodeid=f"tests/test_{suite}.py::test_answer[{cid}]",
        outcome=outcome,  # type: ignore[arg-type]
        score=score,
        reason=None if outcome == "passed" else f"AssertionError: wrong answer for {cid}",
        error=None if ok else "TimeoutError",
        calls=[call],
    )
    return CaseReport(
        id=cid,
        suite=suite,
        tags=tags,
        trials=[trial],
        scores=[score],
        latencies_ms=[latency] if ok else [],
        cost_usd=call.cost_usd,
        error=None if ok else "TimeoutError",
        pass_rate=score,
    )


def _service_case(suite: str) -> CaseReport:
    calls = [(i * 0.01, i * 0.01 + 0.05, i % 97 != 0, None) for i in range(2_000)]
    load = LoadRunReport(
        concurrency=8, duration_s=20.05, calls=calls, requests=len(calls), name="api"
    )
    drill = DrillReport(
        name="bad-deploy",
        detected_s=1.2,
        recovered_s=4.5,
        recovered=True,
        timeout_s=30.0,
        steps=[
            DrillStep(step="detected", ok=True, elapsed_s=1.2, wait_s=1.2, checks=3),
            DrillStep(step="recovered", ok=True, elapsed_s=4.5, wait_s=3.3, checks=8),
        ],
    )
    trial = TrialReport(
        nodeid=f"tests/test_{suite}.py::test_load", outcome="passed", score=1.0,
        load_runs=[load], drills=[drill],
    )  # fmt: skip
    return CaseReport(id="load", suite=suite, trials=[trial], scores=[1.0], pass_rate=1.0)


def reports(
    n: int,
    *,
    flipped: int = 0,
    miss_every: int = 10,
    error_every: int = 50,
    ids: Callable[[int], str] = lambda i: f"case-{i:06d}",
    suite: str = "support-bot",
    targets: dict[str, object] | None = None,
    service: bool = True,
) -> tuple[RunReport, RunReport]:
    """``(current, baseline)``: ``n`` cases each; ``flipped`` cases passed in the
    baseline and are missed now, as many missed then pass now (about half each)."""
    rng = random.Random(0)
    cur, base = [], []
    for i in range(n):
        tags = ["lang:de" if i % 3 == 0 else "lang:en", f"topic:{i % 7}"]
        outcome = "passed"
        if i % miss_every == 1:
            outcome = "missed"
        if i % error_every == 2:
            outcome = "model_error"
        before = outcome
        if i < flipped:
            before, outcome = ("passed", "missed") if i % 2 else ("missed", "passed")
        cur.append(_case(ids(i), suite, outcome, rng, tags))
        base.append(_case(ids(i), suite, before, rng, tags))
    suites_now = [SuiteReport(name=suite, targets=targets or TARGETS, verdict="PASS", cases=cur)]
    suites_then = [SuiteReport(name=suite, targets=targets or TARGETS, verdict="PASS", cases=base)]
    if service:
        svc = {"throughput_rps": 50.0, "recovery_s": 10.0}
        suites_now.append(
            SuiteReport(name="service", targets=svc, verdict="PASS", cases=[_service_case("s")])
        )
    blank = RunReport(run=_run_info(), verdict=None, fails_run=False)
    baseline = regate(blank.model_copy(update={"suites": suites_then}))
    current = regate(
        blank.model_copy(update={"suites": suites_now}),
        baseline=baseline,
        baseline_name="main.json",
    )
    return current, baseline
