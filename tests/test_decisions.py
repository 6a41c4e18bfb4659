"""Decision quality: a fast seeded slice of benchmarks/bench_decisions.py, and the exact methods
against scipy and statsmodels."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from pytest_prodgate import stats
from pytest_prodgate.gating.aggregate import SuiteData
from pytest_prodgate.gating.gates import GatePolicy, SuiteContext
from pytest_prodgate.gating.multiplicity import holm_steps
from pytest_prodgate.gating.registry import evaluate_suite
from pytest_prodgate.gating.run import decide
from pytest_prodgate.schema.report import CallReport, CaseReport, RunInfo, TrialReport

ALPHA = 0.025


def _bench() -> ModuleType:
    path = Path(__file__).parent.parent / "benchmarks" / "bench_decisions.py"
    spec = importlib.util.spec_from_file_location("bench_decisions", path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_decisions"] = mod
    spec.loader.exec_module(mod)
    return mod


BENCH = _bench()

# (kind, n, R): a few cells per gate kind; R small enough for a test run.
SLICE = [
    ("accuracy 0/1", 20, 0),
    ("accuracy 0/1", 100, 0),
    ("accuracy graded", 10, 150),
    ("accuracy graded", 50, 150),
    ("accuracy trials=3", 10, 150),
    ("accuracy trials=3", 30, 150),
    ("suite: 4 slices + all", 30, 100),
    ("error rate", 50, 0),
    ("error rate", 400, 0),
    ("latency p95", 100, 200),
    ("cost (cap)", 30, 150),
    ("cost (no cap)", 30, 150),
    ("cost (no cap)", 100, 150),
    ("regression", 50, 200),
    ("throughput", 20, 150),
    ("throughput", 100, 150),
]


@pytest.mark.parametrize(("kind", "n", "reps"), SLICE, ids=[f"{k}-{n}" for k, n, _ in SLICE])
def test_decision_errors_stay_within_the_promise(kind: str, n: int, reps: int) -> None:
    (cell,) = BENCH.run([kind], [n], max(reps, 1), before=False)
    se = 0.0 if reps == 0 else math.sqrt(ALPHA * (1 - ALPHA) / reps)
    bound = ALPHA + 3 * se + 1e-12
    assert cell.false_pass <= bound, cell
    assert cell.false_fail <= bound, cell


def test_the_slice_can_fail_wilson_breaks_the_promise_at_a_high_floor() -> None:
    # The same check on today's Wilson gate finds its known excess (floor 0.99, n = 17):
    cell = BENCH._binomial_cell("accuracy 0/1", 17, 0.99, 0.005, ">=", before=True)
    assert cell.false_fail > ALPHA
    cell = BENCH._binomial_cell("accuracy 0/1", 17, 0.99, 0.005, ">=", before=False)
    assert cell.false_fail <= ALPHA


def test_uncapped_cost_never_passes_at_any_n() -> None:
    for cell in BENCH.run(["cost (no cap)"], [1, 30, 100], 50, before=False):
        assert cell.false_pass == cell.power_pass == 0.0, cell
    (cell,) = BENCH.run(["cost (no cap)"], [1], 50, before=True)
    assert cell.false_pass > 0.3  # today's constant interval passes one call


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize("n", [1, 5, 17, 50, 400])
def test_mcnemar_fail_side_is_the_exact_binomial_test(n: int) -> None:
    from scipy.stats import binomtest

    for d in range(0, n + 1, max(1, n // 10)):
        for b in range(d + 1):
            iv = stats.mcnemar_delta(b, d - b, n)
            p = binomtest(b, d, 0.5, alternative="greater").pvalue if d else 1.0
            assert (iv.upper < 0) == (p <= ALPHA), (b, d, n, p, iv)
            p_up = binomtest(b, d, 0.5, alternative="less").pvalue if d else 1.0
            assert (iv.lower > 0) == (p_up <= ALPHA), (b, d, n, p_up, iv)


def test_mcnemar_agrees_with_statsmodels_exact_mcnemar() -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    for b, f in [(10, 2), (3, 0), (7, 7), (20, 9)]:
        table = [[50, b], [f, 40]]
        p = mcnemar(table, exact=True).pvalue  # two-sided
        iv = stats.mcnemar_delta(b, f, 50 + b + f + 40, confidence=0.95)
        assert (iv.upper < 0 or iv.lower > 0) == (p <= 0.05), (b, f, p, iv)


def test_single_flipped_pair_is_not_a_hard_fail() -> None:
    iv = stats.mcnemar_delta(1, 0, 1)
    assert iv.lower < 0 < iv.upper
    assert iv.method == "mcnemar-exact"


@pytest.mark.parametrize(("pi", "theta"), [(0.05, 1.0), (0.2, 0.9), (0.1, 0.3), (0.5, 0.7)])
def test_mcnemar_bounds_hold_in_size_too(pi: float, theta: float) -> None:
    """Without a margin the verdict reads only the bounds' signs, but the interval printed
    is read as a size: each bound errs at most ALPHA, summed exactly over every outcome of
    30 paired cases. (With the observed discordance as π, a run where every discordant
    case regressed printed ``-0.107 [-0.107, -0.054]``: 34% error at π 0.05, θ 1.)"""
    from scipy.stats import multinomial

    n, delta = 30, pi * (1 - 2 * theta)
    too_high = too_low = 0.0
    for b in range(n + 1):
        for f in range(n + 1 - b):
            p = multinomial.pmf([b, f, n - b - f], n, [pi * theta, pi * (1 - theta), 1 - pi])
            iv = stats.mcnemar_delta(b, f, n)
            too_high += p if iv.lower > delta + 1e-12 else 0.0
            too_low += p if iv.upper < delta - 1e-12 else 0.0
    assert too_high <= ALPHA
    assert too_low <= ALPHA
    iv = stats.mcnemar_delta(6, 0, 28)  # every discordant case regressed: a FAIL
    assert iv.lower < iv.estimate < iv.upper < 0


def test_mcnemar_margin_bounds_hold_at_every_n() -> None:
    from scipy.stats import multinomial

    # Exact error of the margin interval: enumerate (regressed, fixed) counts.
    n, margin = 30, 0.05
    for pi, theta in [(0.1, 0.75), (0.3, 0.5833), (0.05, 1.0)]:
        delta = pi * (1 - 2 * theta)
        if abs(delta + margin) > 1e-3:
            continue
        bad = 0.0
        for b in range(n + 1):
            for f in range(n + 1 - b):
                iv = stats.mcnemar_delta(b, f, n, margin=margin)
                if iv.lower >= -margin + 1e-12:  # a PASS although Δ = -margin
                    bad += multinomial.pmf(
                        [b, f, n - b - f], n, [pi * theta, pi * (1 - theta), 1 - pi]
                    )
        assert bad <= ALPHA, (pi, theta, bad)


def test_clopper_pearson_is_what_auto_gives_and_matches_statsmodels() -> None:
    from statsmodels.stats.proportion import proportion_confint

    for k, n in [(0, 1), (17, 17), (90, 100), (3, 1000)]:
        iv = stats.clopper_pearson(k, n)
        lo, hi = proportion_confint(k, n, alpha=0.05, method="beta")
        assert iv.lower == pytest.approx(lo, abs=1e-12)
        assert iv.upper == pytest.approx(hi, abs=1e-12)


def test_betting_bound_holds_for_one_fixed_seed() -> None:
    """A gate bets with one seed for ever: the bound must hold for that seed, not only on
    average over seeds. Shuffling the *sorted* values with this seed (suite-31's) passed
    a floor the true mean sits on in 10% of runs; in the values' own order, under 1%."""
    from pytest_prodgate.stats.seeds import gate_seed

    seed = gate_seed(0, "suite-31", "accuracy_floor")
    true_mean = 0.336454  # of min(LogNormal(ln 0.1, 3), 1), from 2,000,000 draws
    rng = np.random.default_rng(7)
    reps = 1500
    passes = sum(
        stats.betting_mean(np.minimum(rng.lognormal(math.log(0.1), 3, 10), 1), seed=seed).lower
        > true_mean
        for _ in range(reps)
    )
    assert passes / reps <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)


def test_betting_bound_is_valid_and_depends_on_the_seed_and_the_order() -> None:
    rng = np.random.default_rng(5)
    misses = 0
    reps = 300
    for r in range(reps):
        x = rng.binomial(4, 0.8, 20) / 4.0
        iv = stats.betting_mean(x, seed=r)
        misses += iv.lower > 0.8
    assert misses / reps <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    x = rng.random(50)
    assert stats.betting_mean(x, seed=3) == stats.betting_mean(x.copy(), seed=3)
    one = stats.betting_mean([0.9])
    assert (one.lower, one.upper) == (0.0, 1.0)
    constant = stats.betting_mean([0.75] * 3)
    assert constant.lower < 0.5 < 0.75 < constant.upper  # never zero-width


def test_betting_rejects_values_outside_the_range() -> None:
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        stats.betting_mean([0.5, 1.5])
    with pytest.raises(ValueError, match="low < high"):
        stats.betting_mean([0.5], low=1.0, high=1.0)


def test_betting_ratio_with_equal_counts_is_the_betting_mean_of_case_means() -> None:
    rng = np.random.default_rng(11)
    cap = 0.02
    for calls in (1, 3):
        sums = rng.uniform(0.0, cap, 40) * calls
        counts = np.full(40, calls)
        ratio = stats.betting_ratio(sums, counts, seed=4, cap=cap)
        mean = stats.betting_mean(sums / calls, low=0.0, high=cap, seed=4)
        assert ratio.method == "betting-ratio"
        assert ratio.estimate == pytest.approx(mean.estimate)
        assert ratio.lower == pytest.approx(mean.lower, rel=1e-9, abs=1e-15)
        assert ratio.upper == pytest.approx(mean.upper, rel=1e-9, abs=1e-15)
    uncapped = stats.betting_ratio(sums, counts, seed=4)
    assert (uncapped.method, uncapped.upper) == ("betting-lower", math.inf)
    assert 0.0 < uncapped.lower < uncapped.estimate


def test_betting_ratio_holds_its_level_when_cases_make_unequal_calls() -> None:
    """Each side of the ratio bound at ALPHA, R = 400: a rare case makes 2 calls at the cap,
    the rest 1 call at 1/20 of it (the bootstrap of the ratio passed 39-81% here)."""
    rng = np.random.default_rng(12)
    cap, reps = 0.02, 400
    p_rare = 0.02
    truth = (p_rare * 2 * cap + (1 - p_rare) * cap / 20) / (p_rare * 2 + (1 - p_rare))
    for n in (5, 30, 100):
        above = below = 0
        for r in range(reps):
            rare = rng.random(n) < p_rare
            counts = np.where(rare, 2, 1)
            sums = np.where(rare, 2 * cap, cap / 20)
            iv = stats.betting_ratio(sums, counts, seed=r, cap=cap)
            above += iv.lower > truth
            below += iv.upper < truth
        limit = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
        assert above / reps <= limit
        assert below / reps <= limit


def _trials_population(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n cases x 5 trials: a case's lognormal level (sigma 0.5) times a 5% jitter."""
    case = np.repeat(np.arange(n), 5)
    return rng.lognormal(0.0, 0.5, n)[case] * rng.lognormal(0.0, 0.05, 5 * n), case


def test_clustered_quantile_bounds_hold_their_level_where_pooling_does_not() -> None:
    """p95 of 50 cases x 5 trials, R = 400: each side of the clustered bounds errs at most
    ALPHA; the order-statistic bounds of the pooled calls err ~13-20% a side here."""
    from scipy.stats import norm

    truth = math.exp(norm.ppf(0.95) * math.hypot(0.5, 0.05))
    rng = np.random.default_rng(21)
    reps = 400
    errors = np.zeros(4)
    for r in range(reps):
        x, case = _trials_population(rng, 50)
        pooled = stats.quantile_bounds(x, 0.95)
        iv = stats.quantile_bounds_clustered(x, case, 0.95, seed=r)
        assert iv.lower <= iv.estimate <= iv.upper
        assert iv.method == "quantile-cluster-betting"
        errors += (pooled.lower > truth, pooled.upper < truth, iv.lower > truth, iv.upper < truth)
    limit = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    assert min(errors[:2]) / reps > 0.08  # the population is one where pooling fails
    assert max(errors[2:]) / reps <= limit


def test_clustered_quantile_bounds_edge_cases() -> None:
    x = np.arange(1.0, 201.0)
    iid = stats.quantile_bounds_clustered(x, np.arange(200), 0.5)
    exact = stats.quantile_bounds(x, 0.5)
    assert iid.lower <= exact.lower <= exact.upper <= iid.upper  # wider, never narrower
    assert 60 < iid.lower < 100 < iid.upper < 140
    one = stats.quantile_bounds_clustered(x, np.zeros(200), 0.95)
    assert (one.lower, one.upper) == (-math.inf, math.inf)  # one case shows nothing
    few = stats.quantile_bounds_clustered([5.0, 6.0, 7.0], [0, 1, 1], 0.95)
    assert few.upper == math.inf
    a = stats.quantile_bounds_clustered(x, np.arange(200) // 4, 0.9, seed=3)
    assert a == stats.quantile_bounds_clustered(x.copy(), np.arange(200) // 4, 0.9, seed=3)
    labels = np.array([f"case-{i // 4}" for i in range(200)])
    named = stats.quantile_bounds_clustered(x, labels, 0.9, seed=3)  # any hashable labels
    assert named.lower < named.estimate == a.estimate < named.upper < math.inf
    with pytest.raises(ValueError, match="differ in length"):
        stats.quantile_bounds_clustered([1.0, 2.0], [0], 0.5)
    with pytest.raises(ValueError, match="empty"):
        stats.quantile_bounds_clustered([], [], 0.5)
    with pytest.raises(ValueError):
        stats.quantile_bounds_clustered([1.0, math.nan], [0, 1], 0.5)
    with pytest.raises(ValueError):
        stats.quantile_bounds_clustered([1.0, 2.0], [0, 1], 1.0)


@pytest.mark.parametrize(
    ("sums", "counts", "kwargs", "match"),
    [
        ([0.1, 0.2], [1], {}, "differ in length"),
        ([0.1], [0], {}, "counts must be >= 1"),
        ([-0.1], [1], {}, "sums >= 0"),
        ([0.3], [1], {"cap": 0.2}, "above cap"),
        ([0.1], [1], {"cap": math.inf}, "cap must be a positive number"),
        ([0.1], [1], {"confidence": 1.0}, "confidence"),
        ([], [], {}, "empty"),
    ],
)
def test_betting_ratio_validates(
    sums: list[float], counts: list[int], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        stats.betting_ratio(sums, counts, **kwargs)


# --------------------------------------------------------------------------- edge inputs


def test_edge_inputs_give_clear_errors_or_finite_results() -> None:
    iv = stats.bootstrap_mean([1.7e308, 1, 5])
    assert all(math.isfinite(v) for v in (iv.estimate, iv.lower, iv.upper))
    assert iv.lower <= iv.estimate <= iv.upper
    assert stats.min_n_for_quantile(1e-9) == 3_688_879_453  # at once, not a search
    assert stats.min_n_for_quantile(0.95) == 72
    with pytest.raises(ValueError, match="2\\*\\*53"):
        stats.min_n_for_quantile(1e-17)
    with pytest.raises(ValueError, match="not strings"):
        stats.bootstrap_mean(["1", "2", "3"])
    with pytest.raises(ValueError, match="not strings"):
        stats.quantile_bounds(np.array(["1", "2"], dtype=object), 0.5)
    with pytest.raises(ValueError, match="the string"):
        stats.wilson(3, 10, "0.95")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resamples must be >= 100"):
        stats.bootstrap_mean([1.0, 2.0, 3.0], resamples=1)
    with pytest.raises(ValueError, match="overflows"):
        stats.paired_delta([1.7e308], [-1.7e308])
    with pytest.raises(ValueError, match="finite"):
        stats.bootstrap_mean([1.0, math.inf])
    with pytest.raises(ValueError, match="empty"):
        stats.betting_mean([])


# --------------------------------------------------------------------------- several gates


def test_holm_steps_down() -> None:
    # p-values 0.001, 0.008, 0.02 of m = 4 gates at one-sided 0.025: Holm confirms
    # 0.001 (<= 0.025/4) and 0.008 (<= 0.025/3) but not 0.02 (> 0.025/2).
    p = {"a": 0.001, "b": 0.008, "c": 0.02}

    def fails_at(level: float) -> set[str]:
        return {g for g, v in p.items() if v <= (1 - level) / 2 + 1e-15}

    confirmed, _ = holm_steps(["a", "b", "c"], 4, 0.95, fails_at)
    assert confirmed == {"a", "b"}


def _slice_cases(per_slice: dict[str, tuple[int, int]]) -> list[CaseReport]:
    cases = []
    for tag, (passed, n) in per_slice.items():
        for i in range(n):
            ok = i < passed
            cases.append(
                CaseReport(
                    id=f"{tag}{i}",
                    suite="s",
                    tags=[tag],
                    trials=[
                        TrialReport(
                            nodeid=f"t[{tag}{i}]",
                            outcome="passed" if ok else "missed",
                            score=float(ok),
                            calls=[CallReport(latency_ms=1.0, ok=True)],
                        )
                    ],
                )
            )
    return cases


def test_holm_keeps_a_borderline_slice_fail_inconclusive_in_a_suite_of_several() -> None:
    # slice a: 83/100 against 0.9 FAILs alone (Clopper-Pearson upper 0.898), not under Holm
    floors = {"a": 0.9, "b": 0.9, "c": 0.9, "d": 0.9}
    cases = _slice_cases({"a": (83, 100), "b": (95, 100), "c": (95, 100), "d": (60, 100)})
    targets = {"slice_floors": floors}
    alone = evaluate_suite(SuiteContext("s", targets, cases, GatePolicy()))
    assert {g.gate: g.verdict for g in alone}["slice_floor[a]"] == "FAIL"  # at 2.5% alone
    report = decide(
        [SuiteData("s", targets, cases)],
        run=RunInfo(
            started_at="t", finished_at="t", duration_s=0.0, plugin_version="0",
            pytest_version="0", python_version="3", platform="p", seed=0,
            confidence=0.95, resamples=9999, ci_method="auto", mode="gate",
        ),
        policy=GatePolicy(),
    )  # fmt: skip
    gates = {g.gate: g for g in report.suites[0].gates}
    assert gates["slice_floor[d]"].verdict == "FAIL"  # 60/100: FAILs at every Holm level
    a = gates["slice_floor[a]"]
    assert a.verdict == "INCONCLUSIVE"
    assert "Holm" in a.reason
    assert "4 gates" in a.reason
    assert a.fails_run  # an inconclusive absolute gate still fails the run by default


# --------------------------------------------------------------------------- cost gate


def _cost_cases(costs: list[float]) -> list[CaseReport]:
    return [
        CaseReport(
            id=f"c{i}",
            suite="s",
            trials=[
                TrialReport(
                    nodeid=f"t[{i}]",
                    outcome="passed",
                    score=1.0,
                    calls=[CallReport(latency_ms=1.0, ok=True, cost_usd=c)],
                )
            ],
        )
        for i, c in enumerate(costs)
    ]


def _cost_gate(targets: dict[str, float], costs: list[float]) -> Any:
    gates = evaluate_suite(SuiteContext("s", targets, _cost_cases(costs), GatePolicy()))
    return next(g for g in gates if g.gate == "cost_per_call_usd")


def test_the_cost_gate_never_passes_without_a_cap() -> None:
    for costs in ([0.001], [0.001] * 30, [0.001] * 2000):  # a stated price, any n
        g = _cost_gate({"cost_per_call_usd": 0.01}, costs)
        assert (g.verdict, g.method, g.upper) == ("INCONCLUSIVE", "betting-lower", None)  # ∞
        assert g.reason.endswith(
            "declare cost_cap_usd (the most one call can cost) to let this gate pass."
        )
        assert g.to_resolve is None  # no number of calls would PASS it
        assert g.hint.startswith("No number of calls shows an uncapped mean cost within budget")


def test_the_cost_gate_without_a_cap_fails_on_its_lower_bound() -> None:
    g = _cost_gate({"cost_per_call_usd": 0.01}, [0.02] * 60)
    assert (g.verdict, g.method) == ("FAIL", "betting-lower")
    assert g.lower is not None
    assert 0.01 < g.lower <= 0.02
    g = _cost_gate({"cost_per_call_usd": 0.01}, [0.011] * 3)  # above, but too few to show it
    assert g.verdict == "INCONCLUSIVE"
    assert g.to_resolve is not None
    assert g.to_resolve > 3
    assert "a FAIL" in g.hint


def test_nonnegative_lower_holds_its_level_for_skewed_costs() -> None:
    """False FAIL of the uncapped cost gate: lognormal σ = 1.5 at its mean, R = 400."""
    mean = math.exp(1.5**2 / 2)
    rng = np.random.default_rng(8)
    for n in (2, 10, 40):
        above = sum(
            stats.nonnegative_lower(rng.lognormal(0.0, 1.5, n), seed=r).lower > mean
            for r in range(400)
        )
        assert above / 400 <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / 400)


def test_a_declared_cap_gives_the_betting_bound_and_a_wrong_cap_no_pass() -> None:
    g = _cost_gate({"cost_per_call_usd": 0.01, "cost_cap_usd": 0.02}, [0.001] * 60)
    assert (g.verdict, g.method) == ("PASS", "betting")
    g = _cost_gate({"cost_per_call_usd": 0.01, "cost_cap_usd": 0.02}, [0.001])
    assert g.verdict == "INCONCLUSIVE"  # one call under a cap: honest, wide
    g = _cost_gate({"cost_per_call_usd": 0.01, "cost_cap_usd": 0.0005}, [0.001] * 60)
    assert g.verdict == "INCOMPLETE"
    assert "more than the declared cost_cap_usd" in g.reason


def test_cases_making_more_calls_weigh_more_in_the_cost_per_call() -> None:
    """Half the cases make 1 call at $0.001, half 9 calls at $0.01: a call costs $0.0091 on
    average, a case's calls $0.0055. The interval bounds the first (the gate's number)."""
    from pytest_prodgate.gating.cost import cost_interval

    rng = np.random.default_rng(3)
    values: list[float] = []
    clusters: list[int] = []
    for case in range(200):
        cost, calls = (0.01, 9) if case % 2 else (0.001, 1)
        values += list(rng.uniform(0.5 * cost, 1.5 * cost, calls))
        clusters += [case] * calls
    seed = np.random.SeedSequence(0)
    for cap in (0.02, None):
        iv = cost_interval(np.array(values), np.array(clusters), cap, GatePolicy(), seed)
        assert iv.lower < iv.estimate == pytest.approx(np.mean(values))
        assert iv.lower > 0.0075  # far above the mean of case means (0.0055)
        if cap is not None:
            assert iv.estimate < iv.upper < 0.011


def test_one_extra_call_does_not_make_constant_costs_certain() -> None:
    """Three cases, one of them with a second call, every call $0.00099: the ratio's
    bootstrap alone gave [0.00099, 0.00099] and a PASS; the bound must be as wide as the
    exact one of three case means (cases making equal calls: INCONCLUSIVE)."""
    from pytest_prodgate.gating.cost import cost_interval

    seed = np.random.SeedSequence(0)
    values = np.full(4, 0.00099)
    for cap in (0.01, None):
        equal = cost_interval(values[:3], np.array([0, 1, 2]), cap, GatePolicy(), seed)
        extra = cost_interval(values, np.array([0, 1, 2, 2]), cap, GatePolicy(), seed)
        assert extra.upper >= equal.upper > 0.002
        assert extra.lower <= equal.lower < 0.00099
    g = _cost_gate({"cost_per_call_usd": 0.001, "cost_cap_usd": 0.01}, [0.00099] * 3)
    assert g.verdict == "INCONCLUSIVE"


def test_lowering_the_cost_cap_loosens_the_lock() -> None:
    from pytest_prodgate.gating.integrity import loosened_targets

    assert loosened_targets({"cost_cap_usd": 0.02}, {"cost_cap_usd": 0.01}) == [
        ("cost_cap_usd", 0.02, 0.01)
    ]
    assert loosened_targets({"cost_cap_usd": 0.02}, {"cost_cap_usd": 0.03}) == []


def test_trials_of_one_case_are_one_cluster_in_the_cost_gate() -> None:
    """Repeated trials of a case are not independent calls: 20 identical trials of 4
    cases must bound the cost like 4 cases (a statistics audit measured 8-24% false
    PASS / FAIL when each trial was its own cluster)."""
    from pytest_prodgate.gating.columns import columns
    from pytest_prodgate.gating.cost import cost_interval
    from pytest_prodgate.schema.report import CallReport, TrialReport

    costs = [0.001, 0.002, 0.003, 0.004]

    def scored(trials: int) -> list[tuple[int, TrialReport]]:
        return [
            (i, TrialReport(nodeid=f"t[c{i}-{k}]", trial=k, outcome="passed", score=1.0,
                            calls=[CallReport(latency_ms=1.0, ok=True, cost_usd=c)]))
            for i, c in enumerate(costs)
            for k in range(trials)
        ]  # fmt: skip

    cols = columns(scored(20), True)
    assert cols.cost.clusters == [i for i in range(4) for _ in range(20)]
    seed = np.random.SeedSequence(0)
    one = cost_interval(np.array(columns(scored(1), True).cost.values), None, 0.01,
                        GatePolicy(), seed)  # fmt: skip
    many = cost_interval(np.array(cols.cost.values), np.array(cols.cost.clusters), 0.01,
                         GatePolicy(), seed)  # fmt: skip
    # Twenty copies of four values say no more than the four values did.
    assert many.upper >= one.upper * 0.99
    assert many.upper > 0.006  # the audit's T=20 run passed a 0.006 budget at [0.00216, 0.00300]
