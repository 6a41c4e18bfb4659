"""Sequential rules of early stopping (SPEC §13): boundaries, error rates, the gate rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from pytest_prodgate.gating import early
from pytest_prodgate.gating.aggregate import SuiteData
from pytest_prodgate.gating.run import GatePolicy, decide, regate
from pytest_prodgate.schema.report import (
    CallReport,
    CaseReport,
    EarlyStopReport,
    RunInfo,
    TrialReport,
)
from pytest_prodgate.stats.sequential import (
    betting_decision,
    binomial_boundaries,
    binomial_decision,
    plan_looks,
    spent,
)

ALPHA = 0.025


def _crossing_probs(p0: float, bounds: list[tuple[int, int | None, int | None]]):
    """P(first crossing is upper / lower at each look), by explicit sums of binom.pmf.

    Independent of the module: enumerates the count at every look as a dict of
    running paths, stepping with scipy's pmf, no convolution.
    """
    paths = {0: 1.0}
    prev = 0
    ups, lows = [], []
    for n, upper, lower in bounds:
        step = n - prev
        nxt: dict[int, float] = {}
        for s, pr in paths.items():
            for j in range(step + 1):
                nxt[s + j] = nxt.get(s + j, 0.0) + pr * float(binom.pmf(j, step, p0))
        prev = n
        up = sum(pr for s, pr in nxt.items() if upper is not None and s >= upper)
        low = sum(pr for s, pr in nxt.items() if lower is not None and s <= lower)
        ups.append(up)
        lows.append(low)
        paths = {
            s: pr
            for s, pr in nxt.items()
            if not (upper is not None and s >= upper) and not (lower is not None and s <= lower)
        }
    return ups, lows


@pytest.mark.parametrize(
    ("p0", "looks"),
    [(0.9, [20, 40, 60]), (0.5, [10, 25, 30, 50]), (0.05, [30, 60, 90]), (0.99, [50, 100])],
)
def test_boundaries_match_exact_binomial_sums(p0: float, looks: list[int]) -> None:
    bounds = binomial_boundaries(p0, looks, alpha=ALPHA)
    ups, lows = _crossing_probs(p0, [(b.n, b.upper, b.lower) for b in bounds])
    for k, b in enumerate(bounds):
        # the module's spent error equals the independent exact sums ...
        assert b.alpha_upper == pytest.approx(sum(ups[: k + 1]), abs=1e-10)
        assert b.alpha_lower == pytest.approx(sum(lows[: k + 1]), abs=1e-10)
        # ... and stays within the spending function
        assert b.alpha_upper <= spent(b.fraction, ALPHA) + 1e-10
        assert b.alpha_lower <= spent(b.fraction, ALPHA) + 1e-10
    # each boundary is the most extreme one the budget allows: one step inwards overspends
    for k, b in enumerate(bounds):
        if b.upper is not None and b.upper > 0:
            trial = [(x.n, x.upper, x.lower) for x in bounds[: k + 1]]
            trial[k] = (b.n, b.upper - 1, b.lower if b.lower != b.upper - 1 else None)
            more, _ = _crossing_probs(p0, trial)
            assert sum(more) > spent(b.fraction, ALPHA) - 1e-12


def test_one_look_is_the_exact_one_sided_binomial_test() -> None:
    (b,) = binomial_boundaries(0.9, [100], alpha=ALPHA)
    assert b.upper is not None
    assert b.lower is not None
    assert binom.sf(b.upper - 1, 100, 0.9) <= ALPHA < binom.sf(b.upper - 2, 100, 0.9)
    assert binom.cdf(b.lower, 100, 0.9) <= ALPHA < binom.cdf(b.lower + 1, 100, 0.9)


def test_plan_looks() -> None:
    assert plan_looks(1000, 10) == list(range(100, 1001, 100))
    assert plan_looks(5, 10) == [1, 2, 3, 4, 5]
    assert plan_looks(15, 4) == [4, 8, 12, 15]
    with pytest.raises(ValueError, match="planned and looks"):
        plan_looks(0, 10)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="p0"):
        binomial_boundaries(1.5, [10])
    with pytest.raises(ValueError, match="non-decreasing"):
        binomial_boundaries(0.5, [10, 5])
    with pytest.raises(ValueError, match="alpha"):
        binomial_boundaries(0.5, [10], alpha=0.7)
    with pytest.raises(ValueError, match="within"):
        betting_decision([0.5, 2.0], [2], 0.5, ">=")


def _first_crossing(counts: np.ndarray, bounds: list) -> np.ndarray:
    """Verdict of each row of cumulative counts at the looks (">=" gate): vectorized."""
    out = np.full(counts.shape[0], "INCONCLUSIVE", dtype=object)
    open_ = np.ones(counts.shape[0], dtype=bool)
    for k, b in enumerate(bounds):
        up = open_ & (counts[:, k] >= (b.upper if b.upper is not None else np.inf))
        low = open_ & (counts[:, k] <= (b.lower if b.lower is not None else -np.inf))
        out[up], out[low] = "PASS", "FAIL"
        open_ &= ~(up | low)
    return out


def _simulate_binomial(p: float, floor: float, planned: int, reps: int, seed: int):
    looks = plan_looks(planned, 10)
    rng = np.random.default_rng(seed)
    counts = rng.binomial(1, p, size=(reps, planned)).cumsum(axis=1)[:, np.array(looks) - 1]
    verdicts = _first_crossing(counts, binomial_boundaries(floor, looks, alpha=ALPHA))
    for row, v in zip(counts[:40], verdicts[:40], strict=True):  # the decision agrees
        assert binomial_decision(list(row), looks, floor, ">=", ALPHA).verdict == v
    return verdicts


@pytest.mark.parametrize(("floor", "planned"), [(0.9, 100), (0.9, 400), (0.7, 60)])
def test_binomial_error_rates_at_the_target(floor: float, planned: int) -> None:
    reps = 4000
    v = _simulate_binomial(floor, floor, planned, reps, seed=11)
    se = np.sqrt(ALPHA * (1 - ALPHA) / reps)
    assert (v == "PASS").mean() <= ALPHA + 3 * se
    assert (v == "FAIL").mean() <= ALPHA + 3 * se


def test_binomial_power_at_the_last_look_near_the_fixed_test() -> None:
    planned, floor, p = 400, 0.9, 0.935
    reps = 4000
    v = _simulate_binomial(p, floor, planned, reps, seed=5)
    (fixed,) = binomial_boundaries(floor, [planned], alpha=ALPHA)
    assert fixed.upper is not None
    fixed_power = float(binom.sf(fixed.upper - 1, planned, p))
    assert fixed_power > 0.5  # an effect the fixed test mostly finds
    assert (v == "PASS").mean() >= fixed_power - 0.05 - 3 * np.sqrt(0.25 / reps)


@pytest.mark.parametrize(
    ("p0", "planned"), [(0.9, 100), (0.5, 50), (0.05, 90), (0.99, 400), (0.9, 1000)]
)
def test_keeping_the_fixed_test_at_the_last_look_holds_alpha_and_its_power(
    p0: float, planned: int
) -> None:
    looks = plan_looks(planned, 10)
    bounds = binomial_boundaries(p0, looks, alpha=ALPHA, final=planned)
    if planned <= 100:  # independent exact sums (slow for large n)
        ups, lows = _crossing_probs(p0, [(b.n, b.upper, b.lower) for b in bounds])
        assert sum(ups) <= ALPHA + 1e-10
        assert sum(lows) <= ALPHA + 1e-10
        assert bounds[-1].alpha_upper == pytest.approx(sum(ups), abs=1e-10)
    assert bounds[-1].alpha_upper <= ALPHA + 1e-10
    assert bounds[-1].alpha_lower <= ALPHA + 1e-10
    # the last look keeps (or betters) the fixed-size test's boundaries ...
    (fixed,) = binomial_boundaries(p0, [planned], alpha=ALPHA)
    last = bounds[-1]
    # (a side is None when no path still running reaches it)
    if fixed.upper is not None and last.upper is not None:
        assert last.upper <= fixed.upper
    if fixed.lower is not None and last.lower is not None:
        assert last.lower >= fixed.lower
    # ... and early looks still stop: some boundary before the last is finite
    if planned >= 100 and p0 <= 0.9:
        assert any(b.upper is not None for b in bounds[:-1])


def test_keeping_the_fixed_test_restores_the_power_at_100_cases() -> None:
    """Floor 0.90, truth 0.97, 100 cases: alpha spent alone loses 12 points of power."""
    looks = plan_looks(100, 10)
    rng = np.random.default_rng(9)
    steps = np.diff([0, *looks])
    counts = np.cumsum(rng.binomial(steps, 0.97, size=(4000, len(steps))), axis=1)

    def power(final: int | None) -> float:
        bounds = binomial_boundaries(0.9, looks, alpha=ALPHA, final=final)
        passed = np.zeros(len(counts), dtype=bool)
        open_ = np.ones(len(counts), dtype=bool)
        for k, b in enumerate(bounds):
            up = open_ & (counts[:, k] >= (np.inf if b.upper is None else b.upper))
            low = open_ & (counts[:, k] <= (-np.inf if b.lower is None else b.lower))
            passed |= up
            open_ &= ~(up | low)
        return float(passed.mean())

    (fixed,) = binomial_boundaries(0.9, [100], alpha=ALPHA)
    assert fixed.upper is not None
    fixed_power = float(binom.sf(fixed.upper - 1, 100, 0.97))
    se = np.sqrt(0.25 / 4000)
    assert power(100) >= fixed_power - 3 * se
    assert power(None) < fixed_power - 0.05


@pytest.mark.parametrize("planned", [None, 200], ids=["anytime", "planned"])
@pytest.mark.parametrize("comparator", [">=", "<="])
def test_betting_error_rates_at_the_target(comparator: str, planned: int | None) -> None:
    reps, n = 600, 200
    rng = np.random.default_rng(3)
    looks = plan_looks(n, 10)
    # graded scores on a 5-point grid with mean 0.75: the target
    grid = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    probs = np.array([0.05, 0.05, 0.15, 0.25, 0.5])
    mean = float(grid @ probs)
    wrong = 0
    for _ in range(reps):
        x = rng.choice(grid, size=n, p=probs)
        d = betting_decision(
            x,
            looks,
            mean,
            comparator,  # type: ignore[arg-type]
            ALPHA,
            planned=planned,
        )
        wrong += d.verdict == "PASS"
    se = np.sqrt(ALPHA * (1 - ALPHA) / reps)
    assert wrong / reps <= ALPHA + 3 * se


def test_stakes_tuned_for_the_planned_n_gain_power_there() -> None:
    """Graded scores 0.83 against 0.775 at n = 100: the planned-n stakes find it more often."""
    rng = np.random.default_rng(6)
    grid = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    target = float(grid @ np.array([0.05, 0.05, 0.15, 0.25, 0.5]))
    x = rng.choice(grid, size=(300, 100), p=[0.02, 0.03, 0.12, 0.25, 0.58])
    looks = plan_looks(100, 10)
    power = {
        planned: np.mean(
            [betting_decision(r, looks, target, ">=", ALPHA, planned=planned).verdict == "PASS"
             for r in x]
        )
        for planned in (None, 100)
    }  # fmt: skip
    assert power[100] > power[None] + 0.05, power


def test_betting_resolves_a_clear_difference_early() -> None:
    rng = np.random.default_rng(0)
    x = rng.binomial(1, 0.97, size=1000).astype(float)
    d = betting_decision(x, plan_looks(1000, 10), 0.8, ">=", ALPHA)
    assert d.verdict == "PASS"
    assert d.look <= 3
    d = betting_decision(1 - x, plan_looks(1000, 10), 0.2, ">=", ALPHA)
    assert d.verdict == "FAIL"
    assert d.look <= 3


# --------------------------------------------------------------------------- gate rules


def _info() -> RunInfo:
    return RunInfo.model_validate(
        {
            "started_at": "2026-01-01T00:00:00+00:00",
            "finished_at": "2026-01-01T00:00:01+00:00",
            "duration_s": 1.0,
            "plugin_version": "0",
            "pytest_version": "0",
            "python_version": "3",
            "platform": "x",
            "seed": 0,
            "confidence": 0.95,
            "resamples": 999,
            "ci_method": "auto",
            "mode": "gate",
        }
    )


def _case(i: int, hit: bool, ms: float = 10.0, tags: tuple[str, ...] = ()) -> CaseReport:
    call = CallReport(latency_ms=ms, ok=True)
    trial = TrialReport(
        nodeid=f"t[c{i}]", outcome="passed" if hit else "missed", score=float(hit), calls=[call]
    )
    return CaseReport(id=f"c{i}", suite="s", trials=[trial], tags=list(tags))


def _early(cases: list[CaseReport], planned: int, looks: int = 10) -> EarlyStopReport:
    return EarlyStopReport(
        looks=plan_looks(planned, looks), planned=planned, order=[c.id for c in cases]
    )


def test_a_clear_suite_resolves_and_run_decides_from_the_rule() -> None:
    rng = np.random.default_rng(1)
    hits = rng.random(1000) < 0.97
    cases = [_case(i, bool(h), ms=float(rng.lognormal(3, 0.3))) for i, h in enumerate(hits)]
    info = _early(cases, 1000)
    targets = {"accuracy_floor": 0.9, "latency_p95_ms": 100.0}
    ctx_cases = early.ordered(cases, info.order)[:300]
    from pytest_prodgate.gating.gates import SuiteContext

    decisions = early.decide_suite(SuiteContext("s", targets, ctx_cases, GatePolicy()), info)
    assert early.resolved(decisions)
    assert {d.verdict for d in decisions.values() if d is not None} == {"PASS"}
    # the suite stopped at look 3: gate on what ran (the rest were skipped)
    info.stopped_look = 3
    suite = SuiteData("s", targets, ctx_cases, early=info)
    report = decide([suite], run=_info(), policy=GatePolicy(resamples=999))
    gates = {g.gate: g for g in report.suites[0].gates}
    assert gates["accuracy_floor"].verdict == "PASS"
    assert "sequential" in gates["accuracy_floor"].method
    assert report.suites[0].early_stop is not None
    assert "exact binomial" in report.suites[0].early_stop.boundaries["accuracy_floor"]
    again = regate(report)
    assert [g.model_dump() for g in again.suites[0].gates] == [
        g.model_dump() for g in report.suites[0].gates
    ]


def test_a_gate_without_a_rule_keeps_the_suite_running() -> None:
    cases = [_case(i, True) for i in range(100)]
    info = _early(cases, 100)
    from pytest_prodgate.gating.gates import SuiteContext

    targets = {"accuracy_floor": 0.5, "cost_per_call_usd": 0.01}
    decisions = early.decide_suite(SuiteContext("s", targets, cases, GatePolicy()), info)
    assert decisions["cost_per_call_usd"] is None
    assert decisions["accuracy_floor"] is not None
    assert decisions["accuracy_floor"].verdict == "PASS"
    assert not early.resolved(decisions)


def test_the_sequential_rule_overrules_a_fixed_pass_after_looking() -> None:
    # 92 of 100 against a floor of 0.85, misses spread evenly: Wilson's lower bound
    # (0.8500) clears the floor, but ten looks have spent some of the error, so the
    # sequential boundary at the last look asks for 93.
    misses = {round(j * 100 / 8) for j in range(8)}
    cases = [_case(i, i not in misses) for i in range(100)]
    info = _early(cases, 100)
    plain = decide(
        [SuiteData("s", {"accuracy_floor": 0.85}, cases)],
        run=_info(),
        policy=GatePolicy(resamples=999, ci_method="wilson"),  # Wilson: the fixed gate PASSes
    )
    assert plain.suites[0].gates[0].verdict == "PASS"
    suite = SuiteData("s", {"accuracy_floor": 0.85}, cases, early=info)
    report = decide([suite], run=_info(), policy=GatePolicy(resamples=999))
    (g,) = report.suites[0].gates
    counts = np.cumsum([c.trials[0].score for c in cases])
    d = binomial_decision([int(counts[n - 1]) for n in info.looks], info.looks, 0.85, ">=")
    assert d.verdict == g.verdict == "INCONCLUSIVE"
    assert "crossed no boundary by look 10 of 10" in g.reason
    assert g.fails_run


def test_slices_and_stop_reason() -> None:
    cases = [_case(i, True, tags=("a",) if i % 2 else ("b",)) for i in range(200)]
    info = _early(cases, 200)
    from pytest_prodgate.gating.gates import SuiteContext

    targets = {"slice_floors": {"a": 0.5, "b": 0.5}}
    decisions = early.decide_suite(SuiteContext("s", targets, cases[:40], GatePolicy()), info)
    assert set(decisions) == {"slice_floor[a]", "slice_floor[b]"}
    assert early.resolved(decisions)
    info.stopped_look = 2
    assert early.stop_reason(info) == (
        "prodgate: suite resolved early at look 2 of 10 (40 of 200 cases)"
    )


def _trial_case(i: int, latencies: list[float]) -> CaseReport:
    """A case whose trials made one call each, of these latencies."""
    trials = [
        TrialReport(
            nodeid=f"t[c{i}]",
            trial=k,
            outcome="passed",
            score=1.0,
            calls=[CallReport(latency_ms=ms, ok=True)],
        )
        for k, ms in enumerate(latencies)
    ]
    return CaseReport(id=f"c{i}", suite="s", trials=trials)


def _latency_decision(cases: list[CaseReport], budget: float, planned: int):
    from pytest_prodgate.gating.gates import SuiteContext

    info = _early(cases, planned)
    ctx = SuiteContext("s", {"latency_p95_ms": budget}, cases, GatePolicy())
    return early.decide_suite(ctx, info)["latency_p95_ms"]


def test_early_latency_counts_cases_when_they_made_several_calls() -> None:
    # A case's latency is its lognormal level (sigma 0.5) times 5% jitter per trial;
    # the budget is the true p95 of one call, so no verdict is right. Pooling the
    # 5 trials as independent calls stopped early on a wrong verdict far more often.
    sigma, jitter, trials, planned, runs = 0.5, 0.05, 5, 200, 300
    budget = float(np.exp(1.6448536269514722 * np.hypot(sigma, jitter)))
    rng = np.random.default_rng(11)
    wrong = pooled_wrong = 0
    for _ in range(runs):
        levels = rng.lognormal(0.0, sigma, planned)
        lat = levels[:, None] * rng.lognormal(0.0, jitter, (planned, trials))
        d = _latency_decision(
            [_trial_case(i, list(row)) for i, row in enumerate(lat)], budget, planned
        )
        assert d is not None
        assert "betting" in d.method
        wrong += d.verdict != "INCONCLUSIVE"
        looks = plan_looks(planned, 10)
        over = [int((lat[:n] > budget).sum()) for n in looks]
        calls = [n * trials for n in looks]
        fr = [n / planned for n in looks]
        pooled = binomial_decision(over, calls, 0.05, "<=", ALPHA, fr)
        pooled_wrong += pooled.verdict != "INCONCLUSIVE"
    # both sides together: at most 2 x 2.5%, plus 3 Monte Carlo SEs
    assert wrong / runs <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / runs)
    assert pooled_wrong / runs > 0.15


def test_early_latency_with_several_calls_still_stops_when_clear() -> None:
    rng = np.random.default_rng(3)
    cases = [_trial_case(i, list(rng.lognormal(3, 0.3, 3))) for i in range(200)]
    fast = _latency_decision(cases, 1000.0, 200)
    slow = _latency_decision(cases, 1.0, 200)
    assert fast is not None
    assert slow is not None
    assert (fast.verdict, slow.verdict) == ("PASS", "FAIL")
    assert fast.look < 10
    assert slow.look < 10


def test_early_latency_has_no_rule_for_unequal_calls_per_case() -> None:
    # No rule (None): the suite runs to the end and the fixed-size gate decides.
    cases = [_trial_case(i, [10.0] * (1 + i % 3)) for i in range(200)]
    assert _latency_decision(cases, 1000.0, 200) is None
    # one call per case keeps the exact binomial rule
    one = _latency_decision([_trial_case(i, [10.0]) for i in range(200)], 1000.0, 200)
    assert one is not None
    assert (one.verdict, "exact binomial" in one.method) == ("PASS", True)
