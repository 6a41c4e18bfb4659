"""``prodgate compare BASE NEW``: paired accuracy change, flipped cases, latency and cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_prodgate.cli.main import main
from pytest_prodgate.gating.compare import compare_reports
from pytest_prodgate.schema.report import (
    CallReport,
    CaseReport,
    RunInfo,
    RunReport,
    SuiteReport,
    TrialReport,
)


def _run(seed: int = 0) -> RunInfo:
    return RunInfo(
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
        duration_s=1.0,
        plugin_version="0",
        pytest_version="8",
        python_version="3.12",
        platform="linux",
        seed=seed,
        confidence=0.95,
        resamples=2000,
        ci_method="auto",
        mode="gate",
    )


def _case(i: int, score: float, latency: float, cost: float | None) -> CaseReport:
    trial = TrialReport(
        nodeid=f"t.py::t[q{i}]",
        outcome="passed" if score >= 0.5 else "missed",
        score=score,
        # The call holds the latency: a report keeps no per-case copy (schema version 2).
        calls=[CallReport(latency_ms=latency, ok=True, cost_usd=cost)],
    )
    return CaseReport(
        id=f"q{i}",
        suite="qa",
        trials=[trial],
        scores=[score],
        latencies_ms=[latency],
        cost_usd=cost,
        pass_rate=score,
    )


def _report(cases: list[CaseReport], *, extra_suite: str | None = None) -> RunReport:
    suites = [SuiteReport(name="qa", targets={}, verdict="PASS", cases=cases)]
    if extra_suite:
        suites.append(SuiteReport(name=extra_suite, targets={}, verdict="PASS"))
    return RunReport(run=_run(), verdict="PASS", fails_run=False, suites=suites)


#: q0..q39: BASE passes q0..q29; NEW misses q0..q5 (regressed) and passes q30, q31 (fixed).
BASE = [_case(i, 1.0 if i < 30 else 0.0, 10.0 + i, 0.001) for i in range(40)]
NEW = [
    _case(i, 0.0 if i < 6 or i >= 32 else 1.0, 2 * (10.0 + i), 0.002) for i in range(40) if i != 39
] + [_case(99, 1.0, 1.0, 0.002)]


def test_paired_change_flips_latency_and_cost() -> None:
    result = compare_reports(_report(BASE), _report(NEW, extra_suite="new-suite"))
    (s,) = result.suites
    assert s.paired == 39
    assert s.only_base == ["q39"]
    assert s.only_new == ["q99"]
    assert s.regressed == [f"q{i}" for i in range(6)]
    assert s.fixed == ["q30", "q31"]
    # 39 paired cases: BASE passes 30 of them, NEW passes 30 - 6 + 2 = 26
    assert s.base_accuracy == pytest.approx(30 / 39)
    assert s.new_accuracy == pytest.approx(26 / 39)
    assert s.change == pytest.approx(-4 / 39)
    assert s.lower is not None
    assert s.upper is not None
    assert s.lower < -4 / 39 < s.upper
    assert s.upper < 0.05  # eight discordant pairs, six of them one way
    assert s.base is not None
    assert s.new is not None
    assert s.base.latency_p50_ms == pytest.approx(29.5)  # median of 10..49
    assert s.base.cost_per_call_usd == pytest.approx(0.001)
    assert s.new.cost_per_call_usd == pytest.approx(0.002)
    assert s.new.calls == 40
    assert result.only_new == ["new-suite"]
    assert result.only_base == []


def test_no_case_in_common_has_no_change() -> None:
    result = compare_reports(_report(BASE[:5]), _report(NEW[10:15]))
    (s,) = result.suites
    assert (s.paired, s.change, s.regressed) == (0, None, [])


def test_compare_command_prints_and_never_gates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "base.json").write_text(_report(BASE).model_dump_json())
    (tmp_path / "new.json").write_text(_report(NEW).model_dump_json())
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "base.json", "new.json"]) == 0
    out = capsys.readouterr().out.splitlines()
    method = compare_reports(_report(BASE), _report(NEW)).suites[0].method
    assert method
    assert out[0] == "prodgate compare: base.json -> new.json (no gate)"
    assert out[1] == "suite qa:"
    assert out[2].startswith("  accuracy 0.769 -> 0.667: change -0.103, 95% interval [")
    assert out[2].endswith(f"over 39 paired cases ({method})")
    assert out[3] == "  flipped: 6 regressed, 2 fixed"
    assert out[4] == "    regressed: q0, q1, q2, q3, q4, q5"
    assert out[5] == "    fixed: q30, q31"
    assert out[6] == "  not paired: 1 only in BASE, 1 only in NEW"
    assert out[7] == "  latency p50: 29.5 ms -> 57 ms (1.93x)"  # median of 1, 20, 22, .., 96
    assert out[9] == "  cost per call: $0.001000 -> $0.002000 (2.00x) (40 -> 40 calls)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", "missing.json", "new.json"], "*: error: *missing.json: no such file"),
        (["compare", "bad.json", "new.json"], "*: error: *bad.json: not valid JSON*"),
        (["compare", "new.json"], "*: error: the following arguments are required: NEW"),
    ],
)  # fmt: skip
def test_compare_bad_input_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    import fnmatch

    (tmp_path / "new.json").write_text(_report(NEW).model_dump_json())
    (tmp_path / "bad.json").write_text("{")
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert fnmatch.fnmatch(err[-1], message), err
