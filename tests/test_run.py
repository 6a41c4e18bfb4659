"""gating.run: the one place verdicts and whether the run fails are decided; re-gating."""

from __future__ import annotations

import pytest

from pytest_prodgate.gating.aggregate import SuiteData
from pytest_prodgate.gating.gates import GatePolicy, gate_report
from pytest_prodgate.gating.run import decide, regate
from pytest_prodgate.schema.files import load_report
from pytest_prodgate.schema.report import CaseReport, GateReport, RunInfo, RunReport, TrialReport

from conftest import RunFn

RESAMPLES = 999


def _info(**kw: object) -> RunInfo:
    data: dict[str, object] = {
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:00:01+00:00",
        "duration_s": 1.0,
        "plugin_version": "0",
        "pytest_version": "0",
        "python_version": "3",
        "platform": "x",
        "seed": 0,
        "confidence": 0.95,
        "resamples": RESAMPLES,
        "ci_method": "auto",
        "mode": "gate",
    }
    data.update(kw)
    return RunInfo.model_validate(data)


def _cases(n: int, hits: int, *, broken: int = 0) -> list[CaseReport]:
    out = []
    for i in range(n):
        if i < broken:
            trial = TrialReport(nodeid=f"t[c{i}]", outcome="error", error="RuntimeError")
        else:
            hit = i < hits
            trial = TrialReport(
                nodeid=f"t[c{i}]", outcome="passed" if hit else "missed", score=float(hit)
            )
        out.append(CaseReport(id=f"c{i}", suite="s", trials=[trial]))
    return out


def _decide(
    targets: dict[str, object],
    cases: list[CaseReport],
    *,
    baseline: RunReport | None = None,
    **kw: object,
) -> RunReport:
    run = _info(**kw)
    policy = GatePolicy(
        run.confidence, run.resamples, run.seed, run.ci_method, run.inconclusive, run.mode
    )
    return decide(
        [SuiteData("s", dict(targets), cases)],
        run=run,
        policy=policy,
        baseline=baseline,
        baseline_name="base.json" if baseline is not None else None,
    )


def test_an_inconclusive_absolute_gate_fails_unless_warned() -> None:
    report = _decide({"accuracy_floor": 0.9}, _cases(40, 37))
    (gate,) = report.suites[0].gates
    assert (gate.verdict, gate.fails_run, report.fails_run) == ("INCONCLUSIVE", True, True)
    warned = _decide({"accuracy_floor": 0.9}, _cases(40, 37), inconclusive="warn")
    assert (warned.suites[0].gates[0].fails_run, warned.fails_run) == (False, False)
    assert warned.verdict == "INCONCLUSIVE"


def test_report_mode_never_fails_the_run() -> None:
    report = _decide({"accuracy_floor": 0.99}, _cases(40, 20), mode="report")
    (gate,) = report.suites[0].gates
    assert (gate.verdict, gate.fails_run, report.fails_run) == ("FAIL", True, False)


def test_an_inconclusive_regression_gate_warns_by_default() -> None:
    base = _decide({}, _cases(40, 38))
    report = _decide({"max_regression": 0.0}, _cases(40, 37), baseline=base)
    (gate,) = report.suites[0].gates
    assert (gate.gate, gate.verdict, gate.fails_run) == ("regression", "INCONCLUSIVE", False)
    assert gate.to_resolve_unit == "paired case"
    assert report.suites[0].regression is not None
    strict = _decide({"max_regression": 0.0}, _cases(40, 37), baseline=base, inconclusive="fail")
    assert strict.suites[0].gates[0].fails_run


def test_a_suite_with_broken_cases_never_passes() -> None:
    report = _decide({"accuracy_floor": 0.5}, _cases(40, 39, broken=1))
    (gate,) = report.suites[0].gates
    assert gate.verdict == "INCOMPLETE"
    assert gate.reason.startswith("1 of 40 cases produced no result (1 error): t[c0].")
    assert (gate.hint, gate.to_resolve, gate.fails_run) == ("", None, True)
    assert gate.estimate is not None  # the figures of the cases that ran are kept


def test_broken_trials_are_counted_as_trials_and_cases() -> None:
    cases = [
        CaseReport(
            id=f"c{i}",
            trials=[
                TrialReport(
                    nodeid=f"t[trial{k}-c{i}]",
                    trial=k,
                    outcome="error" if i < 2 else "passed",
                    score=None if i < 2 else 1.0,
                )
                for k in range(3)
            ],
        )
        for i in range(10)
    ]
    report = _decide({"accuracy_floor": 0.5}, cases)
    (gate,) = report.suites[0].gates
    assert gate.verdict == "INCOMPLETE"
    assert gate.reason.startswith(
        "6 of 30 trials (2 of 10 cases) produced no result (6 errors): t[trial0-c0], "
    )


def test_suites_without_gates() -> None:
    assert _decide({}, _cases(5, 5)).suites[0].verdict == "PASS"
    broken = _decide({}, _cases(5, 5, broken=1))
    assert (broken.suites[0].verdict, broken.verdict, broken.fails_run) == (
        "INCOMPLETE",
        None,
        False,
    )


def test_an_interrupted_run_never_passes() -> None:
    report = _decide(
        {"accuracy_floor": 0.5, "error_rate_max": 0.5}, _cases(40, 39), interrupted=True
    )
    assert [(g.verdict, g.fails_run) for g in report.suites[0].gates] == [("INCOMPLETE", True)] * 2
    assert "interrupted" in report.suites[0].gates[0].reason
    assert (report.suites[0].verdict, report.verdict, report.fails_run) == (
        "INCOMPLETE",
        "INCOMPLETE",
        True,
    )


def test_the_suite_hook_sees_settled_gates_and_may_add_one() -> None:
    seen: list[tuple[str, list[str], list[bool]]] = []

    def hook(suite: str, gates: list[GateReport]) -> None:
        seen.append((suite, [g.gate for g in gates], [g.fails_run for g in gates]))
        extra = gate_report(suite, "judge", ">=", 0.5, "FAIL", None, "judge says no")
        extra.fails_run = True
        gates.append(extra)

    run = _info()
    report = decide(
        [SuiteData("s", {"accuracy_floor": 0.5}, _cases(40, 39))],
        run=run,
        policy=GatePolicy(resamples=RESAMPLES),
        on_suite_gates=hook,
        notes=["a note"],
    )
    assert seen == [("s", ["accuracy_floor"], [False])]
    assert [g.gate for g in report.suites[0].gates] == ["accuracy_floor", "judge"]
    assert (report.verdict, report.fails_run, report.notes) == ("FAIL", True, ["a note"])
    # Re-gated, the hook's row is carried over as recorded.
    again = regate(report)
    assert again.model_dump() == report.model_dump()


def test_regate_overrides_and_carried_rows() -> None:
    base = _decide({}, _cases(40, 38))
    report = _decide({"accuracy_floor": 0.85, "max_regression": 0.1}, _cases(40, 37), baseline=base)
    tampered = gate_report("s", "sealed_dataset[a.jsonl]", "<=", 0.0, "TAMPERED", None, "x")
    tampered.fails_run = True
    report.suites[0].gates.append(tampered)
    report.suites[0].verdict = report.verdict = "TAMPERED"
    report.fails_run = True
    before = report.model_dump()

    same = regate(report)
    assert report.model_dump() == before  # the input is not changed
    assert [g.model_dump() for g in same.suites[0].gates] == [
        g.model_dump() for g in report.suites[0].gates
    ]
    assert same.notes == [
        "no baseline given: the regression gates are kept as recorded against base.json "
        "(give a baseline to recompute them)"
    ]
    assert same.suites[0].regression == report.suites[0].regression

    wider = regate(report, confidence=0.99, baseline=base, baseline_name="base.json")
    assert wider.run.confidence == 0.99
    assert wider.notes == []
    acc, reg, sealed = wider.suites[0].gates
    assert acc.lower is not None
    assert report.suites[0].gates[0].lower is not None
    assert acc.lower < report.suites[0].gates[0].lower
    assert (reg.gate, sealed.verdict, wider.verdict) == ("regression", "TAMPERED", "TAMPERED")


SUITE = """
import pytest
from pytest_prodgate import Model

@pytest.fixture(scope="session")
def prodgate_model():
    answer = lambda q: q.upper() if not q.endswith("7") else "?"
    return Model(answer, name="m", cost=lambda out: 0.001)

pytestmark = pytest.mark.prodgate(
    "support", accuracy_floor=0.85, latency_p95_ms=10_000, cost_per_call_usd=0.002,
    error_rate_max=0.05, slice_floors={"even": 0.5, "odd": 0.99}, max_regression=0.01,
)

@pytest.mark.parametrize("q", [f"q{i}" for i in range(90)])
def test_support(prodgate_model, prodgate_case, q):
    prodgate_case.tag("even" if int(q[1:]) % 2 == 0 else "odd")
    assert prodgate_model(q) == q.upper()

@pytest.mark.prodgate("trials", accuracy_floor=0.3, trials=3)
@pytest.mark.parametrize("q", [f"t{i}" for i in range(12)])
def test_trials(prodgate_model, q):
    assert prodgate_model(q) == q.upper()
"""


def test_regate_reproduces_a_real_run_exactly(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=SUITE)
    first = run("--prodgate", "--prodgate-report=base.json")
    assert first.ret == 1, first.stdout.str()  # odd slice floor fails
    base = load_report(project.path / "base.json")
    assert regate(base).model_dump() == base.model_dump()

    second = run("--prodgate", "--prodgate-report=new.json", "--prodgate-baseline=base.json")
    new = load_report(project.path / "new.json")
    gates = {g.gate: g for s in new.suites for g in s.gates}
    assert {"accuracy_floor", "latency_p95_ms", "regression", "slice_floor[odd]"} <= set(gates)
    assert second.ret == 1
    assert any(g.verdict == "INCONCLUSIVE" for g in gates.values())
    again = regate(new, baseline=base, baseline_name=str(project.path / "base.json"))
    assert again.model_dump() == new.model_dump()
    kept = regate(new)
    assert [g.model_dump() for s in kept.suites for g in s.gates] == [
        g.model_dump() for s in new.suites for g in s.gates
    ]
