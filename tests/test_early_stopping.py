"""Early stopping in a run (SPEC §13): resolved suites stop, others run to the end."""

from __future__ import annotations

import pytest

from conftest import RunFn, read_report

CLEAR_SUITE = """
import pytest

pytestmark = pytest.mark.prodgate("qa", accuracy_floor=0.5, latency_p95_ms=60000)

@pytest.mark.parametrize("x", [f"q{i}" for i in range(200)])
def test_echo(prodgate_model, x):
    assert prodgate_model(x) == x
"""


def test_a_clear_suite_stops_early_and_says_where(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=CLEAR_SUITE)
    result = run(
        "--prodgate",
        "--prodgate-model=mymodel:echo",
        "--prodgate-early-stop",
        "--prodgate-report=r.json",
        "-rs",
    )
    assert result.ret == 0, result.stdout.str()
    report = read_report(project.path / "r.json")
    (suite,) = report["suites"]
    early = suite["early_stop"]
    assert early["planned"] == 200
    assert early["looks"] == list(range(20, 201, 20))
    # 20 of 20 passes clear 0.5 at look 1; no call over the p95 budget is rare enough
    # under a true exceedance share of 5% only from 100 calls on (0.95**100 <= 0.025 / 4)
    assert early["stopped_look"] == 5
    assert {g["gate"]: g["verdict"] for g in suite["gates"]} == {
        "accuracy_floor": "PASS",
        "latency_p95_ms": "PASS",
    }
    assert "exact binomial" in early["boundaries"]["latency_p95_ms"]
    assert early["cases_run"] == 100
    assert early["calls_run"] == 100
    assert early["calls_saved"] == 100
    assert suite["counts"] == {"passed": 100, "skipped": 100}
    result.stdout.fnmatch_lines(
        [
            "*qa accuracy_floor PASS: Sequential test: 20 of 20 at look 1 (boundary >= 19).",
            "*qa: early stopping: resolved at look 5 of 10 after 100 of 200 cases; 100 run, "
            "100 calls saved",
            "prodgate: PASSED*",
            "*prodgate: suite resolved early at look 5 of 10 (100 of 200 cases)*",
        ]
    )


@pytest.mark.xdist_modes
def test_workers_stop_calling_for_a_resolved_suite(
    run: RunFn, project: pytest.Pytester, xdist_args: list[str]
) -> None:
    project.makepyfile(
        test_suite="""
        import time
        import pytest

        pytestmark = pytest.mark.prodgate("qa", accuracy_floor=0.5)

        @pytest.mark.parametrize("x", [f"q{i}" for i in range(400)])
        def test_echo(prodgate_model, x):
            time.sleep(0.01)
            assert prodgate_model(x) == x
        """
    )
    result = run(
        "--prodgate",
        "--prodgate-model=mymodel:echo",
        "--prodgate-early-stop",
        "--prodgate-report=r.json",
    )
    assert result.ret == 0, result.stdout.str()
    (suite,) = read_report(project.path / "r.json")["suites"]
    early = suite["early_stop"]
    assert early["stopped_look"] == 1
    skipped = suite["counts"].get("skipped", 0)
    assert early["cases_run"] + skipped == 400
    if xdist_args[-1:] == ["2"]:
        # the workers share the finished cases; a case sent to a worker before the
        # stop may still run, but most of the suite is never called
        assert 40 <= early["cases_run"] < 300
    else:
        assert early["cases_run"] == 40


def test_a_gate_without_a_sequential_rule_runs_the_suite_to_the_end(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(
        test_suite=CLEAR_SUITE.replace("latency_p95_ms=60000", "cost_per_call_usd=1.0")
    )
    result = run(
        "--prodgate",
        "--prodgate-model=mymodel:echo",
        "--prodgate-early-stop",
        "--prodgate-report=r.json",
    )
    result.assert_outcomes(passed=200)
    (suite,) = read_report(project.path / "r.json")["suites"]
    assert suite["early_stop"]["stopped_look"] is None
    assert suite["early_stop"]["cases_run"] == 200
    result.stdout.fnmatch_lines(["*qa: early stopping: not resolved before the last look*"])


def test_the_marker_turns_it_on_per_suite(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.prodgate("a", accuracy_floor=0.5, early_stop=True)
        @pytest.mark.parametrize("i", range(100))
        def test_a(i):
            pass
        """,
        test_b="""
        import pytest

        @pytest.mark.prodgate("b", accuracy_floor=0.5)
        @pytest.mark.parametrize("i", range(100))
        def test_b(i):
            pass
        """,
    )
    result = run("--prodgate", "--prodgate-report=r.json", "-p", "no:randomly")
    # 10 of 10 is not yet rare enough under 0.5 (0.5**10 > 0.025 / 100); 20 of 20 is
    result.assert_outcomes(passed=120, skipped=80)
    suites = {s["name"]: s for s in read_report(project.path / "r.json")["suites"]}
    assert suites["a"]["early_stop"]["stopped_look"] == 2
    assert suites["b"]["early_stop"] is None
    assert suites["b"]["counts"] == {"passed": 100}


def test_the_order_is_seeded_and_trials_stay_with_their_case(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate("qa", accuracy_floor=0.5, trials=2)
        @pytest.mark.parametrize("i", range(60))
        def test_case(i):
            pass
        """
    )
    orders = []
    for seed in ("0", "0", "1"):
        result = run(
            "--prodgate",
            "--prodgate-early-stop",
            "--prodgate-report=r.json",
            f"--prodgate-seed={seed}",
            "-p",
            "no:randomly",
        )
        assert result.ret == 0, result.stdout.str()
        (suite,) = read_report(project.path / "r.json")["suites"]
        orders.append(suite["early_stop"]["order"])
        early = suite["early_stop"]
        # a case stops whole: every case ran both trials or none
        for case in suite["cases"]:
            outcomes = {t["outcome"] for t in case["trials"]}
            assert outcomes in ({"passed"}, {"skipped"}), case["id"]
        assert early["stopped_look"] is not None
        ran = [c["id"] for c in suite["cases"] if c["trials"][0]["outcome"] == "passed"]
        assert set(ran) == set(early["order"][: len(ran)])
        # graded per-case means (trials > 1): the betting confidence sequence
        assert "betting" in early["boundaries"]["accuracy_floor"]
    assert orders[0] == orders[1] != orders[2]
    assert sorted(orders[0]) != orders[0]


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--prodgate-early-stop-looks=1"],
            "",
            "--prodgate-early-stop-looks=1: Input should be greater than or equal to 2",
        ),
        (
            [],
            "prodgate_early_stop_looks = 500",
            "prodgate_early_stop_looks (ini)=500: Input should be less than or equal to 100",
        ),
    ],
)
def test_bad_early_stop_options_exit_4_with_one_line(
    run: RunFn, project: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    if ini:
        project.makeini(f"[pytest]\n{ini}\n")
    project.makepyfile(test_suite=CLEAR_SUITE)
    result = run("--prodgate", "--prodgate-early-stop", *args)
    assert result.ret == 4
    text = result.stdout.str() + result.stderr.str()
    assert f"prodgate: {message}" in text
    assert "INTERNALERROR" not in text
    assert "Traceback" not in text


def test_a_bad_marker_value_names_the_test(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate("qa", accuracy_floor=0.5, early_stop="yes")
        def test_case():
            pass
        """
    )
    result = run("--prodgate")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*test_case*early_stop='yes': Input should be a valid boolean*"])


def test_early_stopping_refuses_shards(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=CLEAR_SUITE)
    result = run("--prodgate", "--prodgate-early-stop", "--prodgate-shard=1/2")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*prodgate: --prodgate-early-stop with --prodgate-shard*"])


#: A model that appends each input to the file named by ``CALLS_FILE`` (one line, one
#: ``write`` on a file opened for append): the count survives xdist workers.
COUNTED_PROJECT = {
    "conftest": """
import os
import time
import pytest
from pytest_prodgate import Model

def counted(x):
    with open(os.environ["CALLS_FILE"], "a", encoding="utf-8") as fh:
        fh.write(x + "\\n")
    time.sleep(0.002)
    return x

@pytest.fixture(scope="session")
def prodgate_model():
    return Model(counted, name="counted", version="1")
""",
    # suite "a" resolves at look 1 (20 of 200 cases); suite "b" (no early stopping) runs
    # after it with the same model, so a caller that kept walking its plan would start
    # the calls of a's 180 skipped cases on reaching b
    "test_a": """
import pytest
from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate("a", accuracy_floor=0.5)

@pytest.mark.parametrize("case", load_cases("a.jsonl"))
def test_a(prodgate_output, case):
    assert prodgate_output == case.expected
""",
    "test_b": """
import pytest
from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate("b", accuracy_floor=0.5, early_stop=False)

@pytest.mark.parametrize("case", load_cases("b.jsonl"))
def test_b(prodgate_output, case):
    assert prodgate_output == case.expected
""",
}


@pytest.mark.xdist_modes
def test_a_resolved_suite_starts_no_more_calls_ahead(
    run: RunFn, project: pytest.Pytester, xdist_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    for name, n in (("a", 200), ("b", 30)):
        rows = [json.dumps({"id": f"{name}{i}", "input": f"{name}{i}", "expected": f"{name}{i}"})
                for i in range(n)]  # fmt: skip
        project.path.joinpath(f"{name}.jsonl").write_text("\n".join(rows) + "\n")
    project.makepyfile(**COUNTED_PROJECT)
    calls_file = project.path / "calls.txt"
    calls_file.write_text("")
    monkeypatch.setenv("CALLS_FILE", str(calls_file))
    concurrency = 4
    result = run(
        "--prodgate",
        "--prodgate-early-stop",
        f"--prodgate-concurrency={concurrency}",
        "--prodgate-report=r.json",
        "-p",
        "no:randomly",
    )
    assert result.ret == 0, result.stdout.str()
    suites = {s["name"]: s for s in read_report(project.path / "r.json")["suites"]}
    assert suites["a"]["early_stop"]["stopped_look"] == 1
    ran = {
        c["id"]
        for s in suites.values()
        for c in s["cases"]
        if c["trials"][0]["outcome"] != "skipped"
    }
    calls = calls_file.read_text().split()
    assert len(calls) == len(set(calls))  # one call per case
    assert ran <= set(calls)
    workers = 2 if xdist_args[-1:] == ["2"] else 1
    wasted = set(calls) - ran  # calls whose case was skipped: made ahead, never used
    assert all(c.startswith("a") for c in wasted)
    assert len(wasted) <= concurrency * workers, sorted(wasted)
    assert suites["b"]["counts"] == {"passed": 30}


HOOKS_CONFTEST = """
def pytest_sessionfinish(session):
    pm = session.config.pluginmanager
    print("early per-item hooks:", pm.has_plugin("prodgate-early-running"))
"""


@pytest.mark.parametrize(("args", "registered"), [([], False), (["--prodgate-early-stop"], True)])
def test_early_stoppings_per_item_hooks_only_while_a_suite_may_stop(
    run: RunFn, project: pytest.Pytester, args: list[str], registered: bool
) -> None:
    project.makepyfile(test_suite=CLEAR_SUITE)
    project.makeconftest(HOOKS_CONFTEST)
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "-s", *args)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"*early per-item hooks: {registered}*"])
