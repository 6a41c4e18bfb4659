"""What a run says when it is partial, ungated or stopped (issue 11): one clear word each."""

from __future__ import annotations

import json

import pytest

from conftest import RunFn, read_report

SEALED = """
import pytest
from pytest_prodgate import load_cases

@pytest.mark.prodgate("qa", accuracy_floor=0.1, latency_p95_ms=10000)
@pytest.mark.parametrize("case", load_cases("cases.jsonl"))
def test_case(prodgate_model, case):
    assert prodgate_model(case.input) == case.expected
"""


def _sealed_project(project: pytest.Pytester, n: int = 20) -> None:
    project.makepyfile(test_suite=SEALED)
    rows = [json.dumps({"id": f"c{i}", "input": i, "expected": i}) for i in range(n)]
    (project.path / "cases.jsonl").write_text("\n".join(rows) + "\n")
    assert project.runpytest("--prodgate-lock").ret == 0


@pytest.mark.xdist_modes
@pytest.mark.parametrize("pick", [["-k", "c2 or c3"], ["test_suite.py::test_case[c3]"]])
def test_a_sealed_set_run_in_part_is_incomplete(
    run: RunFn, project: pytest.Pytester, pick: list[str]
) -> None:
    _sealed_project(project)
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json", *pick)
    assert result.ret == 1
    n = 2 if "-k" in pick else 1
    result.stdout.fnmatch_lines(
        [
            f"qa *sealed_set[[]cases.jsonl[]] *all 20 *{n} *(cases run) *{n}  INCOMPLETE",
            "qa accuracy_floor, latency_p95_ms, sealed_set[[]cases.jsonl[]] INCOMPLETE: "
            f"ran {n} of 20 sealed cases of cases.jsonl*--prodgate-subset*",
        ]
    )
    report = read_report(project.path / "r.json")
    assert {g["verdict"] for g in report["suites"][0]["gates"]} == {"INCOMPLETE"}


def test_a_subset_on_purpose_keeps_its_verdicts_and_says_so(project: pytest.Pytester) -> None:
    _sealed_project(project)
    result = project.runpytest(
        "--prodgate",
        "--prodgate-model=mymodel:echo",
        "-k",
        "c2 or c3",
        "--prodgate-subset",
        "--prodgate-inconclusive=warn",
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["qa: gated on a subset (--prodgate-subset): ran 2 of 20 sealed cases of cases.jsonl"]
    )
    result.stdout.no_fnmatch_line("qa *sealed_set*")


def test_the_whole_set_runs_without_a_set_row(project: pytest.Pytester) -> None:
    _sealed_project(project)
    result = project.runpytest(
        "--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-inconclusive=warn"
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.no_fnmatch_line("qa *sealed_set*")


@pytest.mark.xdist_modes
def test_conftest_pytestmark_makes_eval_cases(run: RunFn, project: pytest.Pytester) -> None:
    project.makeconftest(
        "import pytest\n"
        'pytestmark = pytest.mark.prodgate("from-conftest", accuracy_floor=0.99, trials=2)\n'
    )
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.parametrize("i", range(3))
        def test_case(prodgate_model, i):
            assert prodgate_model(i) == i
        """,
        test_own="""
        import pytest

        pytestmark = pytest.mark.prodgate("own", accuracy_floor=0.1)

        def test_one(prodgate_model):
            prodgate_model(1)
        """,
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    assert result.ret == 1  # 6 trials cannot show >= 0.99
    suites = {s["name"]: s for s in read_report(project.path / "r.json")["suites"]}
    assert set(suites) == {"from-conftest", "own"}
    assert suites["from-conftest"]["trials"] == 2
    assert suites["from-conftest"]["targets"] == {"accuracy_floor": 0.99, "trials": 2}
    # The module's own keyword wins; the conftest's other keywords still apply.
    assert suites["own"]["targets"] == {"accuracy_floor": 0.1, "trials": 2}
    plain = project.runpytest("-p", "no:cacheprovider")
    plain.assert_outcomes(skipped=3 + 1)  # trials parametrize only with --prodgate


@pytest.mark.parametrize("marker", ["", "accuracy_floor=None"])
def test_a_suite_without_gates_says_nothing_is_gated(project: pytest.Pytester, marker: str) -> None:
    project.makepyfile(
        test_suite=f"""
        import pytest

        @pytest.mark.prodgate({marker})
        @pytest.mark.parametrize("i", range(3))
        def test_case(i):
            pass
        """
    )
    result = project.runpytest("--prodgate")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "no gates declared",
            "test_suite.py::test_case: no gate declared: its 3 cases ran and are reported, "
            "nothing is gated*",
            "prodgate: nothing gated — no suite declares a gate",
        ]
    )


def test_only_invalid_keywords_are_named_where_the_gates_would_be(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate(acuracy_floor=0.9, latncy_p95_ms=100)
        @pytest.mark.parametrize("i", range(3))
        def test_case(i):
            pass
        """
    )
    result = project.runpytest("--prodgate")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "no valid gate declared",
            "test_suite.py::test_case: no gate: its prodgate marker is invalid (unknown keyword "
            "'acuracy_floor' (did you mean 'accuracy_floor'?); unknown keyword 'latncy_p95_ms'*",
            "prodgate: nothing gated — the prodgate marker of 1 suite is invalid (the errors*",
        ]
    )
    result.stdout.no_fnmatch_line("*add keyword arguments*")
    result.stdout.no_fnmatch_line("*no suite declares a gate*")  # one did, wrongly


@pytest.mark.xdist_modes
def test_incomplete_reason_once_per_suite_with_spend_against_cap(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate(accuracy_floor=0.1, latency_p95_ms=1e4, latency_p50_ms=1e4,
                              cost_per_call_usd=1, error_rate_max=0.5)
        @pytest.mark.parametrize("i", range(6))
        def test_case(prodgate_model, prodgate_case, i):
            prodgate_model(i)
            prodgate_case.add_cost(0.01)
        """
    )
    result = run(
        "--prodgate",
        "--prodgate-model=mymodel:echo",
        "--prodgate-max-spend-usd=0.02",
        "-p",
        "no:randomly",
    )
    assert result.ret == 1
    lines = [line for line in result.outlines if "INCOMPLETE:" in line]
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "test_suite.py::test_case accuracy_floor, latency_p50_ms, latency_p95_ms, "
        "cost_per_call_usd, error_rate_max INCOMPLETE: "
    )
    assert "not run" in lines[0]
    assert "Spend cap reached: $0.0" in lines[0]
    assert (
        "spent of $0.0200 when the first of them was due (this suite's cases cost $0.0"
        in (lines[0])
    )
    assert "in all); raise --prodgate-max-spend-usd or run fewer cases" in lines[0]


def test_errors_are_counted_in_plural(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate(accuracy_floor=0.1)
        @pytest.mark.parametrize("i", range(4))
        def test_case(i):
            if i:
                raise RuntimeError("bug")
        """
    )
    result = project.runpytest("--prodgate")
    result.stdout.fnmatch_lines(["*INCOMPLETE: 3 of 4 cases produced no result (3 errors)*"])
    result.stdout.no_fnmatch_line("*3 error)*")


def test_fail_alone_does_not_suggest_inconclusive_warn(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate(accuracy_floor=0.99)
        @pytest.mark.parametrize("i", range(40))
        def test_case(i):
            assert i < 10
        """
    )
    result = project.runpytest("--prodgate")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["prodgate: FAILED — 1 failed gate"])
    result.stdout.no_fnmatch_line("*--prodgate-inconclusive=warn*")


LOAD_ONLY = """
import pytest
from pytest_prodgate import Model

pytestmark = pytest.mark.prodgate("svc", throughput_rps=1)

def test_load(prodgate_load):
    prodgate_load(Model(lambda x: x), list(range(10)), concurrency=2, requests=40)
"""


def test_no_regression_row_for_a_load_only_suite(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=LOAD_ONLY)
    assert project.runpytest("--prodgate", "--prodgate-report=base.json").ret == 0
    result = project.runpytest(
        "--prodgate", "--prodgate-baseline=base.json", "--prodgate-report=r.json"
    )
    assert result.ret == 0, result.stdout.str()
    gates = [g["gate"] for g in read_report(project.path / "r.json")["suites"][0]["gates"]]
    assert gates == ["throughput_rps"]
    result.stdout.no_fnmatch_line("*vs baseline*")
    result.stdout.no_fnmatch_line("svc *regression*")


def test_lock_note_printed_when_no_suite_ran(project: pytest.Pytester) -> None:
    _sealed_project(project)
    project.makepyfile(test_other="def test_plain():\n    pass\n")
    result = project.runpytest("--prodgate", "test_other.py")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*prodgate: no eval cases ran*",
            "prodgate: note: prodgate.lock locks suites this run did not gate: qa *",
        ]
    )


@pytest.mark.parametrize("args", [["--benchmark-disable"], ["-n", "2"]])
def test_benchmark_switched_off_says_so_in_no_data(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    project.makepyfile(
        test_suite="""
        import pytest
        pytestmark = pytest.mark.prodgate("bench", latency_p50_ms=1000)

        def test_bench(benchmark):
            benchmark(sum, range(100))
        """
    )
    result = project.runpytest("--prodgate", "-p", "no:cacheprovider", *args)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["bench latency_p50_ms NO_DATA: pytest-benchmark is disabled in this run (it switches*"]
    )


def test_a_sealed_set_rerun_with_last_failed_is_incomplete(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--lf`` reruns the one case that errored: a subset of the sealed set, so its
    gates are INCOMPLETE, not the sealed set's verdict."""
    project.makepyfile(
        test_suite="""
        import os
        import pytest
        from pytest_prodgate import load_cases

        @pytest.mark.prodgate("qa", accuracy_floor=0.1)
        @pytest.mark.parametrize("case", load_cases("cases.jsonl"))
        def test_case(prodgate_model, case):
            if case.id == "c3" and not os.environ.get("FIXED"):
                raise RuntimeError("flaky harness")
            assert prodgate_model(case.input) == case.expected
        """
    )
    rows = [json.dumps({"id": f"c{i}", "input": i, "expected": i}) for i in range(20)]
    (project.path / "cases.jsonl").write_text("\n".join(rows) + "\n")
    assert project.runpytest("--prodgate-lock").ret == 0
    first = project.runpytest("--prodgate", "--prodgate-model=mymodel:echo")
    first.assert_outcomes(passed=19, failed=1)
    monkeypatch.setenv("FIXED", "1")
    result = project.runpytest("--prodgate", "--prodgate-model=mymodel:echo", "--lf")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "qa *sealed_set[[]cases.jsonl[]] *all 20 *1 *(cases run) *1  INCOMPLETE",
            "qa accuracy_floor, sealed_set[[]cases.jsonl[]] INCOMPLETE: "
            "ran 1 of 20 sealed cases of cases.jsonl*--prodgate-subset*",
        ]
    )


@pytest.mark.xdist_modes
def test_sealed_cases_that_skip_themselves_leave_the_set_incomplete(
    run: RunFn, project: pytest.Pytester
) -> None:
    """Skipping the hard cases of a sealed set (pytest.skip in the body, a skip mark) is a
    subset too: INCOMPLETE, or gated as a subset with --prodgate-subset. Cases skipped
    by early stopping still count as run (tests/test_early_stopping.py)."""
    project.makepyfile(
        test_suite="""
        import pytest
        from pytest_prodgate import load_cases

        @pytest.mark.prodgate("qa", accuracy_floor=0.5)
        @pytest.mark.parametrize("case", load_cases("cases.jsonl"))
        def test_case(prodgate_model, case):
            if case.expected % 2:
                pytest.skip("hard case")
            assert prodgate_model(case.input) == case.expected
        """
    )
    rows = [json.dumps({"id": f"c{i}", "input": i, "expected": i}) for i in range(20)]
    (project.path / "cases.jsonl").write_text("\n".join(rows) + "\n")
    assert project.runpytest("--prodgate-lock").ret == 0
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "qa *sealed_set[[]cases.jsonl[]]*INCOMPLETE",
            "qa accuracy_floor, sealed_set[[]cases.jsonl[]] INCOMPLETE: ran 10 of 20 sealed "
            "cases of cases.jsonl (10 skipped (in the test, by a skip or xfail mark))*",
        ]
    )
    subset = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-subset")
    assert subset.ret == 0
    subset.stdout.fnmatch_lines(["*gated on a subset (--prodgate-subset): ran 10 of 20*"])


def test_a_project_without_an_ini_file_runs_from_a_subdirectory(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pytest.ini, pyproject.toml or setup.cfg anywhere: run from the tests' own
    directory, the dataset is read beside its module and the report is written
    relative to where pytest runs."""
    assert not list(pytester.path.glob("*.ini"))
    assert not list(pytester.path.glob("*.toml"))
    sub = pytester.path / "evals" / "qa"
    sub.mkdir(parents=True)
    (sub / "cases.jsonl").write_text(
        "\n".join(json.dumps({"id": f"q{i}", "input": i, "expected": i}) for i in range(30)) + "\n"
    )
    (sub / "test_qa.py").write_text(
        "import pytest\n"
        "from pytest_prodgate import Model, load_cases\n"
        "model = Model(lambda x: x)\n"
        "@pytest.mark.prodgate('qa', accuracy_floor=0.8)\n"
        "@pytest.mark.parametrize('case', load_cases('cases.jsonl'))\n"
        "def test_qa(case):\n"
        "    assert model(case.input) == case.expected\n"
    )
    monkeypatch.chdir(sub)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--prodgate", "--prodgate-report=out/r.json"
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["qa *accuracy_floor *>= 0.800 *1.000 *30 *PASS"])
    report = read_report(sub / "out" / "r.json")
    assert report["datasets"] == ["cases.jsonl"]
    assert report["suites"][0]["gates"][0]["verdict"] == "PASS"
