"""Bad input that used to pass silently or lose data (issue 11): each kind, not each example.

Every scenario asserts the verdict or the one line the user sees, and that nothing
crashed. Scenarios whose path xdist changes run three ways (``xdist_modes``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import RunFn, read_report


def _no_crash(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text
    assert "Traceback (most recent call last)" not in text


SUITE = """
import pytest

@pytest.mark.prodgate({marker})
@pytest.mark.parametrize("i", range(3))
def test_case(prodgate_model, i):
    prodgate_model(i)
"""


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("latency_p95_ms=float('inf')", "latency_p95_ms=inf: Input should be a finite number"),
        ("cost_per_call_usd=float('inf')", "cost_per_call_usd=inf: Input should be a finite*"),
        ("accuracy_floor=float('nan')", "accuracy_floor=nan: Input should be a finite number"),
        ("throughput_rps=float('-inf')", "throughput_rps=-inf: Input should be a finite*"),
        ("slice_floors={'a': float('nan')}", "slice_floors[[]'a'[]]=nan: Input should be*"),
        ("slice_floors={'': 0.5}", "slice_floors: the slice name '': String should have*"),
        ("recovery_s=-1", "recovery_s=-1: Input should be greater than 0"),
        ("error_rate_max=-0.1", "error_rate_max=-0.1: Input should be greater than or equal*"),
    ],
)
def test_infinite_nan_or_negative_target_is_an_error_naming_test_and_keyword(
    run: RunFn, project: pytest.Pytester, marker: str, message: str
) -> None:
    project.makepyfile(test_suite=SUITE.format(marker=marker))
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines([f"*test_suite.py::test_case[[]0[]]: prodgate marker: {message}"])
    result.stdout.no_fnmatch_line("*prodgate: PASSED*")
    _no_crash(result)


@pytest.mark.xdist_modes
def test_infinite_budget_is_an_error_in_every_xdist_mode(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(test_suite=SUITE.format(marker="cost_per_call_usd=float('inf')"))
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        ["*test_case[[]2[]]: prodgate marker: cost_per_call_usd=inf: *finite*"]
    )
    _no_crash(result)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("inf", "*argument --prodgate-max-spend-usd: 'inf' is not a finite number"),
        ("nan", "*argument --prodgate-max-spend-usd: 'nan' is not a finite number"),
        ("-1", "ERROR: prodgate: --prodgate-max-spend-usd=-1.0: Input should be greater*"),
    ],
)
def test_an_infinite_nan_or_negative_spend_cap_is_a_usage_error(
    project: pytest.Pytester, value: str, message: str
) -> None:
    project.makepyfile(test_suite=SUITE.format(marker="accuracy_floor=0.5"))
    result = project.runpytest("--prodgate", f"--prodgate-max-spend-usd={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


CALLS_FILE = """
import pytest

@pytest.mark.prodgate(accuracy_floor=0.5)
@pytest.mark.parametrize("i", range(3))
def test_case(prodgate_model, i):
    open("calls.txt", "a").write("x")
    prodgate_model(i)
"""


@pytest.mark.xdist_modes
@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("out", "is a directory, not a file"),
        ("afile/deeper/r.json", "*afile is a file, not a directory"),
    ],
)
def test_report_path_that_cannot_be_a_file_exits_4_before_any_case(
    run: RunFn, project: pytest.Pytester, target: str, problem: str
) -> None:
    project.makepyfile(test_suite=CALLS_FILE)
    (project.path / "out").mkdir()
    (project.path / "afile").write_text("not a directory")
    result = run("--prodgate", "--prodgate-model=mymodel:echo", f"--prodgate-report={target}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: prodgate: --prodgate-report=*{Path(target)}: {problem}"])
    assert not (project.path / "calls.txt").exists()
    _no_crash(result)


def test_report_path_from_ini_that_is_a_directory_names_the_key(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=CALLS_FILE)
    project.makeini("[pytest]\nprodgate_report = out\n")
    (project.path / "out").mkdir()
    result = project.runpytest("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: prodgate: prodgate_report (ini)=*out: is a directory*"])
    assert not (project.path / "calls.txt").exists()


def test_lock_path_that_is_a_directory_exits_4(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=CALLS_FILE)
    (project.path / "prodgate.lock").mkdir()
    result = project.runpytest("--prodgate-lock")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: prodgate: --prodgate-lock=*prodgate.lock: is a directory*"]
    )


DATASET_SUITE = """
import pytest
from pytest_prodgate import load_cases

@pytest.mark.prodgate(accuracy_floor={floor})
@pytest.mark.parametrize("case", load_cases("cases.jsonl"))
def test_case(prodgate_model, case):
    assert prodgate_model(case.input) == case.expected
"""


def _cases(project: pytest.Pytester, n: int, *, broken: bool = False) -> None:
    lines = [json.dumps({"id": f"c{i}", "input": i, "expected": i}) for i in range(n)]
    if broken:
        lines[1] = '{"id": "c1", "input": '
    (project.path / "cases.jsonl").write_text("\n".join(lines) + "\n")


def test_lock_with_a_malformed_dataset_writes_nothing_and_fails(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=DATASET_SUITE.format(floor=0.5))
    _cases(project, 5, broken=True)
    result = project.runpytest("--prodgate-lock")
    assert result.ret not in (0, pytest.ExitCode.NO_TESTS_COLLECTED)
    result.stdout.fnmatch_lines(
        [
            "*cases.jsonl:2: invalid JSON*",
            "prodgate: prodgate.lock NOT written: 1 error during collection*",
        ]
    )
    assert not (project.path / "prodgate.lock").exists()
    _no_crash(result)


def test_lock_that_succeeds_ends_cleanly_with_exit_0(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=DATASET_SUITE.format(floor=0.5))
    _cases(project, 5)
    result = project.runpytest("--prodgate-lock")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["prodgate: wrote *prodgate.lock: 1 dataset (5 cases) and 1 suite*"]
    )
    text = result.stdout.str() + result.stderr.str()
    assert "Exit" not in text
    assert "!!!" not in text
    assert (project.path / "prodgate.lock").exists()


def test_prodgate_with_lock_seals_then_runs_and_gates(project: pytest.Pytester) -> None:
    # A floor no model can reach: the run that seals is still gated, so it fails.
    project.makepyfile(test_suite=DATASET_SUITE.format(floor=1.0))
    _cases(project, 5)
    (project.path / "cases.jsonl").write_text(
        (project.path / "cases.jsonl").read_text().replace('"expected": 4', '"expected": 9')
    )
    result = project.runpytest("--prodgate", "--prodgate-lock", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "prodgate: wrote *prodgate.lock*; this run is gated against it",
            "*accuracy_floor*FAIL*",
            "prodgate: FAILED*",
        ]
    )
    assert (project.path / "prodgate.lock").exists()


def _earlier_report(project: pytest.Pytester) -> Path:
    # 5 of 5 shows a floor of 0.4 (Clopper-Pearson's lower bound is 0.478), not 0.5.
    project.makepyfile(test_suite=DATASET_SUITE.format(floor=0.4))
    _cases(project, 5)
    result = project.runpytest(
        "--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json"
    )
    assert result.ret == 0
    path = project.path / "r.json"
    assert read_report(path)["suites"]
    return path


def test_collect_only_does_not_replace_a_report(project: pytest.Pytester) -> None:
    path = _earlier_report(project)
    before = path.read_text()
    result = project.runpytest(
        "--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json", "--collect-only"
    )
    assert result.ret == 0
    assert path.read_text() == before


def test_collection_error_does_not_replace_a_report(project: pytest.Pytester) -> None:
    path = _earlier_report(project)
    before = path.read_text()
    _cases(project, 5, broken=True)
    result = project.runpytest(
        "--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert path.read_text() == before
    result.stdout.fnmatch_lines(["prodgate: report NOT written: this run measured no eval case*"])


def test_empty_report_as_baseline_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=DATASET_SUITE.format(floor=0.5))
    _cases(project, 5)
    (project.path / "test_suite.py").rename(project.path / "later.py")
    result = project.runpytest("--prodgate", "--prodgate-report=empty.json")
    assert (project.path / "empty.json").exists()
    (project.path / "later.py").rename(project.path / "test_suite.py")
    result = project.runpytest(
        "--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-baseline=empty.json"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: prodgate: --prodgate-baseline: *empty.json: measured no eval case*"]
    )
