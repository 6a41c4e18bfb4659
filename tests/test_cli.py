"""The ``prodgate`` command (SPEC §14): ``show`` and ``gate`` on saved reports."""

from __future__ import annotations

import json
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

from pytest_prodgate.schema.files import load_report
from regate_check import check_report, figures, run_gate

#: 12 cases, one missed: accuracy 0.917 with the 95% Wilson interval [0.646, 0.985].
SUITE = """
import pytest

@pytest.mark.prodgate("qa", accuracy_floor={floor})
@pytest.mark.parametrize("i", range(12))
def test_case(prodgate_model, i):
    prodgate_model(i)
    assert i != 3
"""


def _saved(project: pytest.Pytester, floor: float, name: str = "r.json") -> Path:
    project.makepyfile(test_suite=SUITE.format(floor=floor))
    project.runpytest(
        "-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo",
        f"--prodgate-report={name}",
    )  # fmt: skip
    return project.path / name


@pytest.fixture
def inconclusive(project: pytest.Pytester) -> Path:
    """A report whose accuracy gate is INCONCLUSIVE (floor 0.8 inside the interval): fails."""
    return _saved(project, 0.8)


def _error_line(err: str) -> str:
    """The one error line (argparse's usage lines may precede it)."""
    lines = [
        line for line in err.splitlines() if line.strip() and not line.startswith(("usage:", " "))
    ]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_show_prints_the_table_as_the_run_did(project: pytest.Pytester, inconclusive: Path) -> None:
    code, out, err = run_gate("show", "r.json")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("-")
    assert "prodgate: 1 missed" in lines[0]
    assert "MISSED test_suite.py::test_case[3] - AssertionError" in out
    assert "prodgate: 1 suite, 1 gate" in out
    assert any(line.startswith("qa     accuracy_floor  >= 0.800  0.917") for line in lines), out
    assert "qa accuracy_floor INCONCLUSIVE: " in out
    assert lines[-1].startswith("prodgate: FAILED — 1 inconclusive gate")


def test_gate_recomputes_and_exits_1_when_a_gate_fails_the_run(
    project: pytest.Pytester, inconclusive: Path
) -> None:
    code, out, err = run_gate("gate", str(inconclusive))
    assert (code, err) == (1, "")
    assert "INCONCLUSIVE" in out
    assert out.splitlines()[-1].startswith("prodgate: FAILED")


def test_inconclusive_warn_lets_the_inconclusive_gate_pass(
    project: pytest.Pytester, inconclusive: Path
) -> None:
    code, out, _ = run_gate("gate", "r.json", "--inconclusive", "warn", "--json", "out/w.json")
    assert code == 0
    assert "prodgate: PASSED — 1 gate; 1 inconclusive, allowed to pass (warn)" in out
    report = load_report(project.path / "out" / "w.json")
    assert report.run.inconclusive == "warn"
    assert not report.fails_run
    [gate] = report.suites[0].gates
    assert (gate.verdict, gate.fails_run) == ("INCONCLUSIVE", False)
    assert [f[:7] for f in figures(report)] == [f[:7] for f in figures(load_report(inconclusive))]


def test_gate_passes_a_passing_run_and_confidence_widens_the_interval(
    project: pytest.Pytester,
) -> None:
    path = _saved(project, 0.5)
    assert run_gate("gate", str(path))[0] == 0
    code, _, _ = run_gate("gate", str(path), "--confidence=0.99", "--json", "c.json")
    assert code == 0
    before, after = load_report(path), load_report(project.path / "c.json")
    assert after.run.confidence == 0.99
    g0, g1 = before.suites[0].gates[0], after.suites[0].gates[0]
    assert g1.estimate == g0.estimate
    assert g1.lower is not None
    assert g0.lower is not None
    assert g1.lower < g0.lower


def test_gate_with_a_baseline_adds_the_regression_gate(project: pytest.Pytester) -> None:
    base = _saved(project, 0.5, "base.json")
    code, out, err = run_gate("gate", str(base), "--baseline", str(base))
    assert (code, err) == (0, "")
    gates = [g.gate for g in load_report(base).suites[0].gates]
    assert "regression" not in gates
    assert "qa     regression" in out


def test_report_mode_report_passes_unless_gated_with_mode_gate(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=SUITE.format(floor=0.99))
    project.runpytest(
        "-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo",
        "--prodgate-mode=report", "--prodgate-report=r.json",
    )  # fmt: skip
    code, out, _ = run_gate("gate", "r.json")
    assert code == 0
    assert "prodgate: report mode, not gating — would have FAILED" in out
    code, out, _ = run_gate("gate", "r.json", "--mode", "gate")
    assert code == 1
    assert "prodgate: FAILED" in out


def test_the_regate_check_fails_on_a_tampered_report(
    project: pytest.Pytester, inconclusive: Path
) -> None:
    check_report(inconclusive)  # the honest report agrees
    data = json.loads(inconclusive.read_text(encoding="utf-8"))
    data["suites"][0]["gates"][0]["estimate"] = 0.5
    tampered = project.path / "tampered.json"
    tampered.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(AssertionError, match="prodgate gate disagrees with the run"):
        check_report(tampered)
    data = json.loads(inconclusive.read_text(encoding="utf-8"))
    data["fails_run"] = False  # the figures agree, the exit status does not
    tampered.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(AssertionError, match="fails_run=False"):
        check_report(tampered)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "prodgate: error: the following arguments are required: COMMAND"),
        (["frobnicate"], "prodgate: error: argument COMMAND: invalid choice: 'frobnicate'*"),
        (["show"], "prodgate show: error: the following arguments are required: REPORT"),
        (["show", "missing.json"], "prodgate show: error: */missing.json: no such file"),
        (["gate", "missing.json"], "prodgate gate: error: */missing.json: no such file"),
        (["show", "adir"], "prodgate show: error: adir: is a directory, not a report"),
        (["show", "notjson.json"], "prodgate show: error: */notjson.json: not valid JSON*"),
        (
            ["show", "noversion.json"],
            "prodgate show: error: */noversion.json: not a prodgate report (no schema_version)",
        ),
        (
            ["gate", "deep.json"],
            "prodgate gate: error: */deep.json: not a prodgate report (JSON nested too deeply)",
        ),
        (
            ["gate", "v99.json"],
            "prodgate gate: error: */v99.json: report schema_version 99 is not supported*",
        ),
        (
            ["show", "invalid.json"],
            "prodgate show: error: */invalid.json: invalid prodgate report at run*",
        ),
        (
            ["gate", "r.json", "--confidence", "1.5"],
            "prodgate gate: error: --confidence=1.5: Input should be less than 1",
        ),
        (
            ["gate", "r.json", "--confidence", "high"],
            "prodgate gate: error: argument --confidence: 'high' is not a number",
        ),
        (
            ["gate", "r.json", "--inconclusive", "maybe"],
            "prodgate gate: error: argument --inconclusive: 'maybe' is not one of fail, warn",
        ),
        (["gate", "r.json", "--frob"], "prodgate: error: unrecognized arguments: --frob"),
        (
            ["gate", "r.json", "--baseline", "nobase.json"],
            "prodgate gate: error: --baseline */nobase.json: no such file",
        ),
        (
            ["gate", "r.json", "--json", "adir"],
            "prodgate gate: error: --json */adir: is a directory, not a file",
        ),
        (
            ["gate", "r.json", "--json", "r.json/out.json"],
            "prodgate gate: error: --json */r.json/out.json: */r.json is a file, not a directory",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line_naming_the_file_or_flag(
    project: pytest.Pytester, args: list[str], message: str
) -> None:
    project.makepyfile(test_suite="def test_x(): pass")
    (project.path / "r.json").write_text(json.dumps({"schema_version": 1, "run": {}}))
    project.mkdir("adir")
    project.path.joinpath("notjson.json").write_text("{not json")
    project.path.joinpath("noversion.json").write_text('{"suites": []}')
    project.path.joinpath("deep.json").write_text("[" * 100_000)
    project.path.joinpath("v99.json").write_text('{"schema_version": 99}')
    project.path.joinpath("invalid.json").write_text('{"schema_version": 1, "run": {}}')
    if args[:2] == ["gate", "r.json"]:  # flag errors: give them a valid report
        _saved(project, 0.5)
    code, out, err = run_gate(*args)
    assert code == 2, out + err
    line = _error_line(err)
    assert fnmatch(line, message), line


def test_gate_refuses_a_shard_and_a_report_that_measured_nothing(
    project: pytest.Pytester,
) -> None:
    """A gate step pointed at the wrong artifact must not go green (exit 2, not 0)."""
    project.makepyfile(test_suite=SUITE.format(floor=0.99))
    args = ("-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo")
    project.runpytest(*args, "--prodgate-shard=1/2", "--prodgate-report=s1.json")
    project.runpytest(*args, "-k", "nothing_matches", "--prodgate-report=empty.json")
    for name, message in [
        ("s1.json", "prodgate gate: error: s1.json: a shard report (shard 1/2): *prodgate merge*"),
        ("empty.json", "prodgate gate: error: empty.json: measured no eval case *nothing to gate"),
    ]:
        code, out, err = run_gate("gate", str(project.path / name))
        assert code == 2, out + err
        assert fnmatch(_error_line(err).replace(str(project.path) + "/", ""), message), err


def test_help_lists_the_gate_flags_with_the_plugin_help() -> None:
    from pytest_prodgate.schema.options import OPTIONS

    code, out, _ = run_gate("gate", "--help")
    assert code == 0
    for o in OPTIONS:
        if o.command is not None:
            assert o.command in out
            assert o.help.split(" (")[0][:30] in " ".join(out.split())


def test_python_m_runs_the_command(project: pytest.Pytester, inconclusive: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_prodgate.cli", "gate", "r.json"],
        cwd=project.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "prodgate: FAILED" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_prodgate.cli", "show", "nothere.json"],
        cwd=project.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert _error_line(proc.stderr).endswith("nothere.json: no such file")
