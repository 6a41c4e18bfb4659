"""``prodgate plan`` (SPEC §14): its numbers give the stated power, checked by simulation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_prodgate import stats
from pytest_prodgate.cli.main import main
from pytest_prodgate.cli.plan import plan_accuracy, plan_latency, plan_regression
from pytest_prodgate.gating.aggregate import SuiteData
from pytest_prodgate.gating.run import GatePolicy, decide
from pytest_prodgate.schema.report import CallReport, CaseReport, RunInfo, TrialReport

REPS = 2000
POWER = 0.8


def _floor_power(se: float) -> float:
    return POWER - 3 * se


def test_accuracy_plan_gives_its_power() -> None:
    n = plan_accuracy(0.90, 0.95, POWER, 0.95, "wilson")
    assert n is not None
    rng = np.random.default_rng(1)
    hits = rng.binomial(n, 0.95, size=REPS)
    passed = np.mean([stats.wilson(int(k), n, 0.95).lower >= 0.90 for k in hits])
    se = math.sqrt(POWER * (1 - POWER) / REPS)
    assert passed >= _floor_power(se)
    # and it is the smallest such n: 15% fewer cases fall clearly short
    m = int(n * 0.85)
    hits = rng.binomial(m, 0.95, size=REPS)
    fewer = np.mean([stats.wilson(int(k), m, 0.95).lower >= 0.90 for k in hits])
    assert fewer < POWER


def test_accuracy_plan_to_fail() -> None:
    n = plan_accuracy(0.90, 0.85, POWER, 0.95, "clopper-pearson")
    assert n is not None
    rng = np.random.default_rng(2)
    hits = rng.binomial(n, 0.85, size=REPS)
    failed = np.mean([stats.clopper_pearson(int(k), n, 0.95).upper < 0.90 for k in hits])
    assert failed >= _floor_power(math.sqrt(POWER * (1 - POWER) / REPS))


def test_latency_plan_gives_its_power() -> None:
    n = plan_latency(0.95, 0.98, POWER, 0.95)
    assert n is not None
    assert n >= stats.min_n_for_quantile(0.95, 0.95)
    rng = np.random.default_rng(3)
    budget = 1.0
    ok = 0
    for _ in range(REPS // 4):
        # 98% of calls within the budget, lognormal within and beyond it
        under = rng.random(n) < 0.98
        ms = np.where(under, rng.uniform(0.1, budget, n), rng.uniform(1.01, 5.0, n))
        ok += stats.quantile_bounds(ms, 0.95, 0.95).upper <= budget
    reps = REPS // 4
    assert ok / reps >= POWER - 3 * math.sqrt(POWER * (1 - POWER) / reps)


def test_regression_plan_gives_its_power() -> None:
    """Checked with the normal interval of the mean paired difference (the regression
    gate's paired BCa bootstrap approaches it at these n; simulating 9,999 resamples
    per run would be too slow for the suite)."""
    n = plan_regression(0.02, 0.10, 0.0, POWER, 0.95)
    assert n is not None
    rng = np.random.default_rng(4)
    z = stats.z_two_sided(0.95)
    d = rng.choice([-1.0, 0.0, 1.0], p=[0.05, 0.90, 0.05], size=(REPS, n))
    lower = d.mean(axis=1) - z * d.std(axis=1, ddof=1) / math.sqrt(n)
    passed = float(np.mean(lower >= -0.02))
    se = math.sqrt(POWER * (1 - POWER) / REPS)
    assert passed >= _floor_power(se)
    assert passed <= POWER + 3 * se + 0.02  # not far above: the n is not padded


def test_plan_command_prints_each_number(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "plan",
        "--floor",
        "0.90",
        "--expected",
        "0.95",
        "--latency-q",
        "0.95",
        "--within",
        "0.98",
        "--max-regression",
        "0.02",
        "--discordance",
        "0.10",
        "--cost-per-call",
        "0.01",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    n_acc = plan_accuracy(0.90, 0.95, POWER, 0.95)  # clopper-pearson, as the gate's auto
    n_lat = plan_latency(0.95, 0.98, POWER, 0.95)
    n_reg = plan_regression(0.02, 0.10, 0.0, POWER, 0.95)
    assert n_acc is not None
    assert n_lat is not None
    assert n_reg is not None
    assert f"{n_acc:,} cases (~${n_acc * 0.01:,.2f} at $0.01 a call) to PASS" in out
    assert "latency p95: at least 72 calls for a finite bound" in out
    assert f"{n_lat:,} calls" in out
    assert f"{n_reg:,} paired cases" in out


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


def test_plan_from_a_report_lists_its_inconclusive_gates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = []
    for i in range(50):
        call = CallReport(latency_ms=10.0, ok=True, cost_usd=0.002)
        trial = TrialReport(
            nodeid=f"t[c{i}]",
            outcome="passed" if i % 10 else "missed",
            score=float(i % 10 != 0),
            calls=[call],
        )
        cases.append(CaseReport(id=f"c{i}", suite="qa", trials=[trial], cost_usd=0.002))
    report = decide(
        [SuiteData("qa", {"accuracy_floor": 0.85}, cases)],
        run=_info(),
        policy=GatePolicy(resamples=999),
    )
    (gate,) = report.suites[0].gates
    assert gate.verdict == "INCONCLUSIVE"
    assert gate.to_resolve is not None
    path = tmp_path / "r.json"
    path.write_text(report.model_dump_json())
    assert main(["plan", "--from", str(path)]) == 0
    out = capsys.readouterr().out
    extra = gate.to_resolve - 50
    assert (
        f"qa accuracy_floor: n=50: about {gate.to_resolve:,} cases in all, {extra:,} more "
        f"(~${extra * 0.002:,.2f} at this run's $0.002 a case)"
    ) in out


def _cost_report(costs: list[float], budget: float) -> Any:
    cases = []
    for i, c in enumerate(costs):
        call = CallReport(latency_ms=10.0, ok=True, cost_usd=c)
        trial = TrialReport(nodeid=f"t[c{i}]", outcome="passed", score=1.0, calls=[call])
        cases.append(CaseReport(id=f"c{i}", suite="qa", trials=[trial], cost_usd=c))
    return decide(
        [SuiteData("qa", {"cost_per_call_usd": budget}, cases)],
        run=_info(),
        policy=GatePolicy(resamples=999),
    )


def test_plan_never_promises_a_pass_to_an_uncapped_cost_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    under = _cost_report([0.001, 0.002] * 100, 0.01)  # well under budget: still no PASS
    over = _cost_report([0.0105, 0.0115] * 2, 0.01)  # over, too few calls to show it
    assert [r.suites[0].gates[0].verdict for r in (under, over)] == ["INCONCLUSIVE"] * 2
    lines = []
    for name, report in (("under", under), ("over", over)):
        path = tmp_path / f"{name}.json"
        path.write_text(report.model_dump_json())
        assert main(["plan", "--from", str(path)]) == 0
        lines.append(capsys.readouterr().out.strip())
    advice = "declare cost_cap_usd (the most one call can cost) to let this gate pass."
    assert lines[0] == f"qa cost_per_call_usd: n=200: no number of calls lets it pass; {advice}"
    gate = over.suites[0].gates[0]
    assert gate.to_resolve is not None
    assert lines[1].startswith(f"qa cost_per_call_usd: n=4: about {gate.to_resolve:,} calls in all")
    assert lines[1].endswith(f" more to show a FAIL; {advice}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan"], "nothing to plan"),
        (["plan", "--floor", "1.5", "--expected", "0.9"], "--floor=1.5: must be a number in"),
        (["plan", "--floor", "0.9"], "--expected is required here (a number in [0, 1])"),
        (["plan", "--expected", "0.9"], "--floor is required here (a number in [0, 1])"),
        (["plan", "--latency-q", "1"], "--latency-q=1.0: must be strictly between 0 and 1"),
        (["plan", "--within", "0.9"], "--within needs --latency-q"),
        (
            ["plan", "--floor", "0.9", "--expected", "0.95", "--power", "0.3"],
            "--power=0.3: must be in [0.5, 1)",
        ),
        (
            ["plan", "--max-regression", "0.02", "--discordance", "0"],
            "--discordance=0.0: must exceed",
        ),
        (["plan", "--from", "missing.json"], "--from"),
    ],
)
def test_bad_plan_requests_exit_2_with_one_line(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("prodgate plan: error: ")
    assert message in err[0]


def test_plan_on_a_corrupt_report_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "r.json"
    bad.write_text('{"schema_version": 1, "suites": "nope"')
    assert main(["plan", "--from", str(bad)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"prodgate plan: error: --from {bad}")


def test_an_expected_value_on_the_target_resolves_neither_way(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", "--floor", "0.9", "--expected", "0.9"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == (
        "accuracy_floor >= 0.9 at an expected 0.9: no number resolves it: the expected value "
        "sits on the target (80% power, 95% confidence, clopper-pearson)"
    )
