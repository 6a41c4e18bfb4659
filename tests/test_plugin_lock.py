"""--prodgate-lock seals datasets and targets; every --prodgate run verifies them."""

from __future__ import annotations

import json

import pytest

from conftest import RunFn

SUITE = """
import pytest
from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate("sealed", accuracy_floor=0.5, latency_p50_ms=5000)

@pytest.mark.parametrize("case", load_cases("evals/qa.jsonl"))
def test_sealed(prodgate_model, case):
    assert prodgate_model(case.input) == case.expected
"""

ROWS = [{"id": f"q{i}", "input": f"x{i}", "expected": f"x{i}", "tags": ["t"]} for i in range(20)]


def _write(project: pytest.Pytester, rows: list[dict[str, object]]) -> None:
    evals = project.path / "evals"
    evals.mkdir(exist_ok=True)
    (evals / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def sealed(project: pytest.Pytester) -> pytest.Pytester:
    _write(project, ROWS)
    project.makepyfile(test_suite=SUITE)
    result = project.runpytest("-p", "no:cacheprovider", "--prodgate-lock")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    lock = json.loads((project.path / "prodgate.lock").read_text())
    assert list(lock["datasets"]) == ["evals/qa.jsonl"]
    assert lock["suites"] == {"sealed": {"accuracy_floor": 0.5, "latency_p50_ms": 5000.0}}
    return project


def _gate(run: RunFn) -> pytest.RunResult:
    return run("--prodgate", "--prodgate-model=mymodel:echo")


def test_unchanged_dataset_passes(run: RunFn, sealed: pytest.Pytester) -> None:
    result = _gate(run)
    assert result.ret == 0, result.stdout.str()
    result.stdout.no_fnmatch_line("*TAMPERED*")


def test_reordering_is_not_tampering(run: RunFn, sealed: pytest.Pytester) -> None:
    _write(sealed, list(reversed(ROWS)))
    assert _gate(run).ret == 0


@pytest.mark.parametrize(
    ("edit", "detail"),
    [
        (lambda rows: rows[3].update(input="changed"), "1 case changed (q3)"),
        (lambda rows: rows[4].update(expected="other"), "1 case changed (q4)"),
        (lambda rows: rows[5].update(tags=["u"]), "1 case changed (q5)"),
        (lambda rows: rows.pop(6), "1 case removed (q6)"),
        (
            lambda rows: rows.append({"id": "q99", "input": "a", "expected": "a"}),
            "1 case added (q99)",
        ),
    ],
)
def test_tampering_is_caught(run: RunFn, sealed: pytest.Pytester, edit, detail: str) -> None:  # type: ignore[no-untyped-def]
    rows = [dict(r) for r in ROWS]
    edit(rows)
    _write(sealed, rows)
    result = _gate(run)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "sealed*sealed_dataset[[]evals/qa.jsonl[]]*unchanged*TAMPERED",
            f"sealed sealed_dataset[[]evals/qa.jsonl[]] TAMPERED: evals/qa.jsonl: {detail}*"
            "pytest --prodgate-lock",
        ]
    )


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("accuracy_floor=0.4", "accuracy_floor lowered from 0.5 (locked) to 0.4*"),
        ("latency_p50_ms=9000", "latency_p50_ms raised from 5000 (locked) to 9000*"),
    ],
)
def test_loosened_targets_fail(run: RunFn, sealed: pytest.Pytester, new: str, message: str) -> None:
    key = new.split("=")[0]
    old = {"accuracy_floor": "accuracy_floor=0.5", "latency_p50_ms": "latency_p50_ms=5000"}[key]
    sealed.makepyfile(test_suite=SUITE.replace(old, new))
    result = _gate(run)
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"sealed locked:{key} LOOSENED: {message}"])


def test_tightened_target_is_fine(run: RunFn, sealed: pytest.Pytester) -> None:
    sealed.makepyfile(test_suite=SUITE.replace("accuracy_floor=0.5", "accuracy_floor=0.6"))
    assert _gate(run).ret == 0


def test_hand_broken_lock_is_a_usage_error(sealed: pytest.Pytester) -> None:
    path = sealed.path / "prodgate.lock"
    path.write_text(path.read_text()[:-20])
    result = sealed.runpytest("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: prodgate: *prodgate.lock: not valid JSON (line *"])


def test_lock_refuses_xdist(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite="def test_x(): pass")
    result = project.runpytest("--prodgate-lock", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: prodgate: --prodgate-lock * run it without -n"])


def test_relocking_a_subset_keeps_the_rest_sealed(sealed: pytest.Pytester) -> None:
    sealed.makepyfile(
        test_other="""
        import pytest

        @pytest.mark.prodgate("other", accuracy_floor=0.3)
        def test_other(prodgate_model):
            prodgate_model(1)
        """
    )
    result = sealed.runpytest("-p", "no:cacheprovider", "--prodgate-lock", "test_other.py")
    assert result.ret == 0
    lock = json.loads((sealed.path / "prodgate.lock").read_text())
    assert set(lock["suites"]) == {"sealed", "other"}
    assert list(lock["datasets"]) == ["evals/qa.jsonl"]
    result.stdout.fnmatch_lines(
        ["*kept from the old lock, not collected now: evals/qa.jsonl, sealed*"]
    )


def test_locked_suite_missing_from_the_run_is_noted(run: RunFn, sealed: pytest.Pytester) -> None:
    sealed.makepyfile(test_suite=SUITE.replace('"sealed"', '"renamed"'))
    result = _gate(run)
    result.stdout.fnmatch_lines(
        ["prodgate: note: prodgate.lock locks suites this run did not gate: sealed (*renamed*"]
    )


FIELD_SUITE = """
import pytest
from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate("sealed", accuracy_floor=0.5)

@pytest.mark.parametrize("case", load_cases("evals/qa.jsonl", expected_field="FIELD"))
def test_sealed(prodgate_model, case):
    assert prodgate_model(case.input) == case.expected
"""


@pytest.mark.xdist_modes
def test_reading_a_sealed_file_with_other_fields_is_tampering(
    run: RunFn, project: pytest.Pytester
) -> None:
    """Same bytes, other cases: sealed read with expected_field="expected", now with "answer"."""
    rows = [
        {"id": f"q{i}", "input": f"x{i}", "expected": f"x{i}", "answer": f"x{i}"} for i in range(20)
    ]
    _write(project, rows)
    project.makepyfile(test_suite=FIELD_SUITE.replace("FIELD", "expected"))
    sealed = project.runpytest("-p", "no:cacheprovider", "--prodgate-lock")
    assert sealed.ret == 0, sealed.stdout.str() + sealed.stderr.str()
    lock = json.loads((project.path / "prodgate.lock").read_text())
    assert lock["datasets"]["evals/qa.jsonl"]["fields"]["expected_field"] == "expected"
    assert _gate(run).ret == 0
    project.makepyfile(test_suite=FIELD_SUITE.replace("FIELD", "answer"))
    result = _gate(run)
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "sealed*sealed_dataset[[]evals/qa.jsonl[]]*unchanged*TAMPERED",
            "sealed sealed_dataset[[]evals/qa.jsonl[]] TAMPERED: evals/qa.jsonl: read with other "
            "fields than sealed: expected_field: 'expected' (locked) -> 'answer'*",
        ]
    )
