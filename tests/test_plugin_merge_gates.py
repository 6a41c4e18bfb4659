"""Trials, slices and baseline regressions (xdist modes: see tests/conftest.py)."""

from __future__ import annotations

import json

import pytest

from conftest import RunFn, read_report

TRIALS_SUITE = """
import random
import pytest

pytestmark = pytest.mark.prodgate("nd", accuracy_floor=0.5, trials=3)

@pytest.mark.parametrize("i", range(30))
def test_nd(prodgate_model, prodgate_trial, i):
    prodgate_model(i)
    # A non-deterministic model: each trial of case i passes with its own chance.
    assert random.Random(i * 10 + prodgate_trial).random() < 0.8
"""


def test_trials_run_each_case_n_times_and_resample_cases(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(test_suite=TRIALS_SUITE)
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] + outcomes["missed"] == 90
    report = read_report(project.path / "r.json")
    suite = report["suites"][0]
    assert suite["trials"] == 3
    assert len(suite["cases"]) == 30
    case = suite["cases"][0]
    assert case["id"] == "0"
    assert [t["nodeid"] for t in case["trials"]] == [
        f"test_suite.py::test_nd[trial{k}-0]" for k in range(3)
    ]
    # Each trial holds its score (the report keeps no per-case copy, schema version 2).
    assert [t["score"] for t in case["trials"]] == [
        float(__import__("random").Random(k).random() < 0.8) for k in range(3)
    ]
    gate = suite["gates"][0]
    assert gate["method"] == "betting-cluster"
    scores = {c["id"]: [t["score"] for t in c["trials"]] for c in suite["cases"]}
    flaky = [c["id"] for c in suite["cases"] if len(set(scores[c["id"]])) > 1]
    assert suite["flaky_cases"] == flaky
    assert suite["pass_all_rate"] == pytest.approx(
        sum(all(s == 1.0 for s in scores[c["id"]]) for c in suite["cases"]) / 30
    )
    result.stdout.fnmatch_lines([f"nd: trials=3: pass^3 *, {len(flaky)} flaky cases; flaky: *"])


def test_trials_from_the_command_line(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate("cli", accuracy_floor=0.1)
        @pytest.mark.parametrize("i", range(4))
        def test_cli(prodgate_model, i):
            prodgate_model(i)
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-trials=2")
    result.assert_outcomes(passed=8)


SLICE_SUITE = """
import pytest
from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate(
    "sl", accuracy_floor=0.5, slice_floors={"lang:de": 0.9, "lang:fr": 0.5, "lang:xx": 0.5}
)

@pytest.mark.parametrize("case", load_cases("cases.jsonl"))
def test_sl(prodgate_model, prodgate_case, case):
    if case.id.endswith("7"):
        prodgate_case.tag("tricky")
    assert prodgate_model(case.input) == case.expected
"""


def _slice_cases(project: pytest.Pytester) -> None:
    lines = []
    for i in range(60):
        lang = "de" if i % 2 else "fr"
        wrong = lang == "de" and i % 6 == 1  # a third of the German cases miss
        lines.append(
            json.dumps(
                {
                    "id": f"c{i}",
                    "input": i,
                    "expected": -1 if wrong else i,
                    "tags": [f"lang:{lang}"],
                }
            )
        )
    project.path.joinpath("cases.jsonl").write_text("\n".join(lines) + "\n")


def test_slice_floors_gate_each_slice(run: RunFn, project: pytest.Pytester) -> None:
    _slice_cases(project)
    project.makepyfile(test_suite=SLICE_SUITE)
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "sl*slice_floor[[]lang:de[]]*>= 0.900*0.667*30*FAIL",
            "sl*slice_floor[[]lang:fr[]]*>= 0.500*1.000*30*PASS",
            "sl*slice_floor[[]lang:xx[]]*>= 0.500*-*0*NO_DATA",
            "sl slice_floor[[]lang:xx[]] NO_DATA: no scored case is tagged 'lang:xx'*",
            "sl: slices: lang:de 0.667 (n=30), lang:fr 1.000 (n=30), tricky 0.667 (n=6)",
        ]
    )
    report = read_report(project.path / "r.json")
    assert report["suites"][0]["slices"]["tricky"]["n"] == 6


BASE_SUITE = """
import pytest

pytestmark = pytest.mark.prodgate("reg", accuracy_floor=0.1, max_regression=0.0)

@pytest.mark.parametrize("i", range(200))
def test_reg(prodgate_model, i):
    prodgate_model(i)
    assert i % 100 >= MISS_BELOW
"""


def _run_pair(
    run: RunFn, project: pytest.Pytester, before: int, after: int, *extra: str
) -> pytest.RunResult:
    project.makepyfile(test_suite=BASE_SUITE.replace("MISS_BELOW", str(before)))
    first = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=base.json")
    assert first.ret == 0, first.stdout.str()
    project.makepyfile(test_suite=BASE_SUITE.replace("MISS_BELOW", str(after)))
    return run(
        "--prodgate",
        "--prodgate-model=mymodel:echo",
        "--prodgate-baseline=base.json",
        "--prodgate-report=now.json",
        *extra,
    )


def test_a_real_regression_fails_against_the_baseline(run: RunFn, project: pytest.Pytester) -> None:
    # 5% missed before, 15% now: 20 cases flipped to a miss, none fixed.
    result = _run_pair(run, project, 5, 15)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "reg*regression*Δ >= 0.000*-0.100*200*FAIL",
            "reg regression FAIL: accuracy change -0.100 vs baseline over 200 paired cases "
            "(20 regressed, 0 fixed)*",
            "reg: vs baseline: accuracy 0.950 -> 0.850 over 200 paired cases; "
            "20 regressed, 0 fixed*",
            "reg:   regressed: 5, 6, 7, 8, 9, 10, 11, 12, … (12 more)",
        ]
    )
    report = read_report(project.path / "now.json")
    reg = report["suites"][0]["regression"]
    assert reg["regressed"][:3] == ["5", "6", "7"]
    assert reg["fixed"] == []
    assert reg["min_detectable_regression"] > 0


def test_no_change_passes_the_regression_gate(run: RunFn, project: pytest.Pytester) -> None:
    result = _run_pair(run, project, 5, 5)
    assert result.ret == 0
    # No case flipped: exact McNemar cannot show Δ >= 0 either; inconclusive warns.
    result.stdout.fnmatch_lines(
        ["reg*regression*Δ >= 0.000*+0.000*[[]-0.018, +0.018[]]*200*INCONCLUSIVE"]
    )


def test_partial_baseline_compares_only_shared_cases(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=BASE_SUITE.replace("MISS_BELOW", "5"))
    first = run(
        "--prodgate",
        "--prodgate-model=mymodel:echo",
        "--prodgate-report=base.json",
        "-k",
        "test_reg and 1",
    )
    assert first.ret == 0
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-baseline=base.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "reg:   compared the * cases scored in both runs; "
            "0 only in the baseline and * only in this run*"
        ]
    )


def test_baseline_from_another_layout_is_no_data(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=BASE_SUITE.replace("MISS_BELOW", "5"))
    assert (
        run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=base.json").ret == 0
    )
    project.makepyfile(test_suite=BASE_SUITE.replace("MISS_BELOW", "5").replace('"reg"', '"other"'))
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-baseline=base.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "other regression NO_DATA: the baseline *base.json has no suite 'other' "
            "(another suite layout?)."
        ]
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON (line 1: *)"),
        ('{"schema_version": 99}', "report schema_version 99 is not supported*"),
        ('{"schema_version": 1, "suites": 3}', "invalid prodgate report at run: Field required*"),
        ("[1, 2]", "not a prodgate report (no schema_version)"),
    ],
)
def test_bad_baseline_is_a_usage_error(
    project: pytest.Pytester, content: str, message: str
) -> None:
    project.path.joinpath("base.json").write_text(content)
    project.makepyfile(test_suite="def test_x(): pass")
    result = project.runpytest("--prodgate", "--prodgate-baseline=base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: prodgate: --prodgate-baseline: *base.json: {message}"])


def test_shared_ids_across_functions_of_one_suite_stay_apart(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        pytestmark = pytest.mark.prodgate("pooled", accuracy_floor=0.1)

        @pytest.mark.parametrize("i", range(3))
        def test_first(prodgate_model, i):
            prodgate_model(i)

        @pytest.mark.parametrize("i", [2, 3])
        def test_second(prodgate_model, i):
            prodgate_model(i)
            assert i != 2
        """
    )
    run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    suite = read_report(project.path / "r.json")["suites"][0]
    ids = [c["id"] for c in suite["cases"]]
    # Only the id both functions use is qualified; the others stay as given.
    assert sorted(ids) == sorted(
        ["0", "1", "3", "test_suite.py::test_first[2]", "test_suite.py::test_second[2]"]
    )
    assert suite["flaky_cases"] == []
    assert suite["gates"][0]["n"] == 5


@pytest.mark.xdist_modes
def test_maxfail_after_every_case_ran_is_not_partial(
    run: RunFn, project: pytest.Pytester, xdist_args: list[str]
) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate("full", accuracy_floor=0.1)
        @pytest.mark.parametrize("i", range(5))
        def test_full(prodgate_model, i):
            prodgate_model(i)

        def test_zz_last_plain_failure():
            assert False
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "-x")
    if xdist_args == ["-n", "2"]:
        # xdist stops its workers on -x, so cases may be left unrun: never a PASS then.
        assert result.ret in (1, 2)
        return
    assert result.ret == 1
    result.stdout.fnmatch_lines(["full*accuracy_floor*PASS"])
