"""Seeded simulations of the merge gates: error rates and power, not single examples."""

from __future__ import annotations

import numpy as np

from pytest_prodgate import stats
from pytest_prodgate.gating.gates import GatePolicy, SuiteContext
from pytest_prodgate.gating.registry import REGRESSION, evaluate_suite
from pytest_prodgate.gating.regression import regression
from pytest_prodgate.schema.report import CaseReport, GateReport, RegressionReport, TrialReport

RESAMPLES = 999  # enough for the decision; keeps each simulation under a few seconds


def _cases(scores: np.ndarray) -> list[CaseReport]:
    return [
        CaseReport(
            id=f"c{i}",
            suite="s",
            trials=[
                TrialReport(nodeid=f"t[c{i}]", outcome="passed" if s else "missed", score=float(s))
            ],
        )
        for i, s in enumerate(scores)
    ]


def test_unchanged_model_rarely_fails_the_regression_gate() -> None:
    rng = np.random.default_rng(2026)
    n, reps = 400, 1000
    fails = 0
    for r in range(reps):
        p = rng.beta(8, 2, n)  # each case has its own chance of passing
        baseline = rng.random(n) < p
        current = rng.random(n) < p  # same model, fresh non-deterministic draws
        iv = stats.paired_delta(
            current.astype(float), baseline.astype(float), resamples=RESAMPLES, seed=r
        )
        fails += iv.upper < 0.0
    rate = fails / reps
    mc = (0.025 * 0.975 / reps) ** 0.5
    assert rate <= 0.025 + 3 * mc, rate


def test_five_point_drop_is_caught_most_of_the_time() -> None:
    rng = np.random.default_rng(7)
    n, reps = 1000, 200
    caught = 0
    for r in range(reps):
        baseline = (rng.random(n) < 0.85).astype(float)
        current = baseline.copy()
        flip = rng.random(n) < 0.10  # 10% of cases change outcome...
        # ...three in four of them for the worse: a 5-point net drop in expectation.
        worse = flip & (rng.random(n) < 0.75)
        better = flip & ~worse
        current[worse] = 0.0
        current[better] = 1.0
        iv = stats.paired_delta(current, baseline, resamples=RESAMPLES, seed=r)
        caught += iv.upper < 0.0
    assert caught / reps >= 0.9, caught / reps


def regression_gate(
    now: list[CaseReport], base: list[CaseReport], max_regression: float
) -> tuple[GateReport, RegressionReport]:
    ctx = SuiteContext(
        "s",
        {"max_regression": max_regression},
        now,
        GatePolicy(resamples=RESAMPLES),
        baseline=base,
        baseline_name="b.json",
    )
    (gate,) = regression(ctx, REGRESSION)
    assert ctx.regression is not None
    return gate, ctx.regression


def test_regression_gate_verdicts_on_a_known_drop() -> None:
    base = np.array([1.0] * 190 + [0.0] * 10)
    now = base.copy()
    now[:30] = 0.0  # 30 cases flipped to a miss
    gate, info = regression_gate(_cases(now), _cases(base), 0.0)
    assert gate.verdict == "FAIL"
    assert info.paired == 200
    assert len(info.regressed) == 30
    assert info.fixed == []
    # allowed to drop up to 25 points: the same data passes
    gate, _ = regression_gate(_cases(now), _cases(base), 0.25)
    assert gate.verdict == "PASS"


def test_trials_clustered_by_case_keep_nominal_coverage() -> None:
    """Correlated trials: resampling cases covers ~95%; treating trials as independent does not."""
    rng = np.random.default_rng(99)
    n_cases, n_trials, reps = 80, 5, 300
    true_mean = 0.8  # Beta(2, 0.5)
    covered_cluster = covered_naive = 0
    for r in range(reps):
        p = rng.beta(2, 0.5, n_cases)
        scores = (rng.random((n_cases, n_trials)) < p[:, None]).astype(float).ravel()
        clusters = np.repeat(np.arange(n_cases), n_trials)
        iv = stats.bootstrap_mean(scores, resamples=RESAMPLES, seed=r, clusters=clusters)
        covered_cluster += iv.lower <= true_mean <= iv.upper
        naive = stats.wilson(int(scores.sum()), scores.size)
        covered_naive += naive.lower <= true_mean <= naive.upper
    cluster_rate = covered_cluster / reps
    naive_rate = covered_naive / reps
    assert 0.91 <= cluster_rate <= 0.98, cluster_rate
    assert naive_rate < cluster_rate - 0.1, (naive_rate, cluster_rate)


def test_constant_graded_scores_do_not_pass_on_three_cases() -> None:
    cases = [
        CaseReport(
            id=f"c{i}",
            suite="s",
            trials=[TrialReport(nodeid=f"t[{i}]", outcome="passed", score=0.75)],
        )
        for i in range(3)
    ]
    ctx = SuiteContext("s", {"accuracy_floor": 0.5}, cases, GatePolicy(resamples=RESAMPLES))
    (gate,) = evaluate_suite(ctx)
    assert gate.method == "betting"
    assert gate.lower < 0.5 < 0.75 < gate.upper
    assert gate.verdict == "INCONCLUSIVE"
    policy = GatePolicy(resamples=RESAMPLES, ci_method="bootstrap")
    (gate,) = evaluate_suite(SuiteContext("s", {"accuracy_floor": 0.5}, cases, policy))
    assert gate.method == "wilson-graded"
    assert gate.verdict == "INCONCLUSIVE"
