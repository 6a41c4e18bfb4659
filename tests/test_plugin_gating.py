"""End-to-end behaviour of the gated eval loop (xdist modes: see tests/conftest.py)."""

from __future__ import annotations

import pytest

from conftest import RunFn, read_report

PASSING_SUITE = """
import pytest

pytestmark = pytest.mark.prodgate("qa", accuracy_floor=0.90, error_rate_max=0.10)

@pytest.mark.parametrize("x", [f"q{i}" for i in range(100)])
def test_echo(prodgate_model, x):
    assert prodgate_model(x) == x
"""


def test_eval_cases_are_skipped_without_prodgate(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=PASSING_SUITE)
    result = run("-rs")
    assert result.ret == 0
    result.assert_outcomes(skipped=100)
    result.stdout.fnmatch_lines(["*prodgate eval case (run with --prodgate)*"])
    result.stdout.no_fnmatch_line("*prodgate: 1 suite*")


def test_passing_suite_prints_table_and_exits_zero(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=PASSING_SUITE)
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=100)
    result.stdout.fnmatch_lines(
        [
            "*= prodgate: 1 suite, 2 gates =*",
            "suite*gate*target*observed*95% interval*n*verdict",
            "qa*accuracy_floor*>= 0.900*1.000*[0.963, 1.000]*100*PASS",
            "qa*error_rate_max*<= 0.100*0.000*[0.000, 0.037]*100*PASS",
            "prodgate: PASSED*2 gates*",
        ]
    )


MISSING_SUITE = """
import pytest

pytestmark = pytest.mark.prodgate("qa", accuracy_floor=0.96)

@pytest.mark.parametrize("i", range(100))
def test_answers(prodgate_model, i):
    out = prodgate_model(i)
    assert i % 10 != 3, f"case {i} answered {out} but expected something else"
"""


def test_misses_get_their_own_status_and_fail_the_gate(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(test_suite=MISSING_SUITE)
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 90
    assert outcomes["missed"] == 10
    assert "failed" not in outcomes
    # 90/100: the Clopper-Pearson upper bound 0.951 is below the floor 0.96.
    result.stdout.fnmatch_lines(
        [
            "*MISSED test_suite.py::test_answers[[]3[]] - AssertionError: case 3 answered 3*",
            "qa*accuracy_floor*>= 0.960*0.900*[0.824, 0.951]*100*FAIL",
            "qa accuracy_floor FAIL: accuracy 0.900; the 95% interval's upper bound 0.951 < 0.960.",
            "prodgate: FAILED — 1 failed gate",
        ]
    )
    assert result.ret == 1


def test_report_mode_never_fails_on_a_gate(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=MISSING_SUITE)
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-mode=report")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["prodgate: report mode, not gating — would have FAILED*"])


INCONCLUSIVE_SUITE = """
import pytest

pytestmark = pytest.mark.prodgate("qa", accuracy_floor=0.90)

@pytest.mark.parametrize("i", range(40))
def test_answers(prodgate_model, i):
    prodgate_model(i)
    assert i != 7
"""


def test_inconclusive_fails_by_default_and_says_how_many_cases(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(test_suite=INCONCLUSIVE_SUITE)
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "qa*accuracy_floor*>= 0.900*0.975*40*INCONCLUSIVE",
            "qa accuracy_floor INCONCLUSIVE: accuracy 0.975; the 95% interval * straddles 0.900.",
            "  About 100 cases would likely show >= 0.900, a PASS (with 80% probability), "
            "if it stays at 0.975.",
            "*--prodgate-inconclusive=warn lets inconclusive gates pass*",
        ]
    )


def test_inconclusive_warn_lets_the_run_pass(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=INCONCLUSIVE_SUITE)
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-inconclusive=warn")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["prodgate: PASSED*1 inconclusive, allowed to pass (warn)"])


def test_graded_scores_use_the_betting_bound(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        pytestmark = pytest.mark.prodgate("graded", accuracy_floor=0.5)

        @pytest.mark.parametrize("i", range(60))
        def test_graded(prodgate_model, prodgate_case, i):
            prodgate_model(i)
            prodgate_case.score((i % 5) / 4 * 0.5 + 0.5)
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    assert result.ret == 0, result.stdout.str()
    report = read_report(project.path / "r.json")
    gate = report["suites"][0]["gates"][0]
    assert gate["method"] == "betting"
    assert gate["estimate"] == pytest.approx(0.75)
    assert 0.5 <= gate["lower"] < 0.75 < gate["upper"] <= 1.0


def test_model_errors_are_misses_and_feed_the_error_rate(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        pytestmark = pytest.mark.prodgate("flaky", accuracy_floor=0.5, error_rate_max=0.05)

        @pytest.mark.parametrize("x", [f"boom{i}" if i < 20 else f"ok{i}" for i in range(100)])
        def test_flaky(prodgate_model, x):
            assert prodgate_model(x) == x
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:flaky", "--prodgate-report=r.json")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 80
    assert outcomes["missed"] == 20
    assert "failed" not in outcomes
    assert "errors" not in outcomes
    result.stdout.fnmatch_lines(
        [
            "MISSED test_suite.py::test_flaky[[]boom0[]] - model error: ConnectionError: upstream*",
            "flaky*error_rate_max*<= 0.050*0.200*FAIL",
        ]
    )
    assert result.ret == 1
    report = read_report(project.path / "r.json")
    case = next(c for c in report["suites"][0]["cases"] if c["id"] == "boom3")
    assert case["error"] == "ConnectionError"
    assert case["trials"][0]["outcome"] == "model_error"
    assert "upstream refused boom3" in case["trials"][0]["calls"][0]["error_message"]


@pytest.mark.xdist_modes
def test_a_bug_in_the_test_fails_the_run_and_makes_gates_incomplete(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        pytestmark = pytest.mark.prodgate("buggy", accuracy_floor=0.5)

        @pytest.mark.parametrize("i", range(30))
        def test_buggy(prodgate_model, i):
            prodgate_model(i)
            if i == 4:
                {}["missing"]
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.assert_outcomes(passed=29, failed=1)
    result.stdout.fnmatch_lines(
        [
            "buggy*accuracy_floor*INCOMPLETE",
            "buggy accuracy_floor INCOMPLETE: 1 of 30 cases produced no result (1 error): "
            "test_suite.py::test_buggy[[]4[]]*",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str()
