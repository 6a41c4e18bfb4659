"""Early stopping in a run (SPEC §13): resolved suites stop, others run to the end."""

from __future__ import annotations

from typing import Any

import pytest

from regate_check import figures, run_gate

from conftest import RunFn, gate_figures, read_report

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


#: A suite resolved early (at look 2: 40 of 200 cases) whose -n 2 run always runs cases
#: after the stop: worker gw1's first model call waits until gw0 has made 60 calls (or
#: 10 s), and the look cannot be complete while gw1 holds a case of it, so gw0 runs cases
#: past the deciding look. Without xdist (or with -n 0) nothing runs after the stop.
AFTER_STOP_PROJECT = {
    "conftest": """
import hashlib
import os
import time
from pathlib import Path

import pytest
from pytest_prodgate import Model

CALLS = Path(os.environ["AFTER_STOP_DIR"], "gw0-calls.txt")
WAITED = Path(os.environ["AFTER_STOP_DIR"], "gw1-waited.txt")


def answer(x):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker == "gw0":
        with CALLS.open("a") as fh:
            fh.write(x + "\\n")
    elif worker == "gw1" and not WAITED.exists():
        WAITED.touch()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            not CALLS.exists() or len(CALLS.read_text().split()) < 60
        ):
            time.sleep(0.01)
    time.sleep(0.002)
    wrong = int(hashlib.sha256(x.encode()).hexdigest(), 16) % 10 == 0  # ~10%, per case
    return "wrong" if wrong else x


@pytest.fixture(scope="session")
def prodgate_model():
    return Model(answer, name="answer", version="1", cost=lambda out: 0.001)
""",
    "test_es": """
import pytest

pytestmark = pytest.mark.prodgate(
    "es", accuracy_floor=0.6, error_rate_max=0.2, slice_floors={"even": 0.5},
    max_regression=0.2,
)


@pytest.mark.parametrize("i", range(200))
def test_case(prodgate_model, prodgate_case, i):
    if i % 2 == 0:
        prodgate_case.tag("even")
    assert prodgate_model(f"q{i}") == f"q{i}"
""",
}


def _derived(suite: dict[str, Any]) -> tuple[Any, ...]:
    """What a suite derives from its gated cases, besides the gate rows."""
    return (suite["verdict"], suite["slices"], suite["pass_all_rate"], suite["regression"])


def test_a_suite_resolved_early_gives_the_same_figures_in_every_mode(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC §9 and §13: the gates of a suite resolved at look K are computed over the
    first looks[K-1] cases of its order in every mode; the cases a worker ran after the
    stop are in the report, marked not gated, and counted in the spend; prodgate gate
    re-decides the report to the same figures."""
    from pytest_prodgate.schema.files import load_report

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # the outer run's, if any
    monkeypatch.setenv("AFTER_STOP_DIR", str(project.path))
    project.makepyfile(**AFTER_STOP_PROJECT)
    common = ("-p", "no:cacheprovider", "-p", "no:randomly", "--prodgate")
    base = project.runpytest(*common, "--prodgate-report=base.json")
    assert base.ret == 0, base.stdout.str()
    early_args = (*common, "--prodgate-early-stop", "--prodgate-baseline=base.json")
    reports: dict[str, dict[str, Any]] = {}
    for mode, extra in (("plain", []), ("n0", ["-n", "0"]), ("n2", ["-n", "2"])):
        runner = project.runpytest_subprocess if mode == "n2" else project.runpytest
        result = runner(*extra, *early_args, f"--prodgate-report={mode}.json")
        assert result.ret == 0, f"{mode}: {result.stdout.str()}"
        reports[mode] = read_report(project.path / f"{mode}.json")
        if mode == "n2":
            late = reports[mode]["suites"][0]["early_stop"]["cases_after_stop"]
            result.stdout.fnmatch_lines(
                [f"*; * run, {late} of them after the stop (reported, not gated), * saved"]
            )
    plain = reports["plain"]
    (suite,) = plain["suites"]
    early = suite["early_stop"]
    k = early["stopped_look"]
    assert k is not None
    assert k < len(early["looks"])
    head = set(early["order"][: early["looks"][k - 1]])
    assert {g["gate"] for g in suite["gates"]} == {
        "accuracy_floor",
        "error_rate_max",
        "slice_floor[even]",
        "regression",
    }
    for mode, report in reports.items():
        (s,) = report["suites"]
        assert gate_figures(report) == gate_figures(plain), mode
        assert _derived(s) == _derived(suite), mode
        assert report["verdict"] == plain["verdict"] == "PASS", mode
        assert s["early_stop"]["stopped_look"] == k, mode
        for g in s["gates"]:
            if g["gate"] != "slice_floor[even]":
                assert g["n"] == len(head), (mode, g["gate"])
        # every case that ran, gated or not, is reported and paid for
        ran = [c for c in s["cases"] if c["trials"][0]["outcome"] != "skipped"]
        late = [c for c in ran if c["not_gated"] is not None]
        assert {c["id"] for c in ran} - {c["id"] for c in late} == head, mode
        assert all(c["id"] not in head for c in late), mode
        assert all("after its suite resolved early" in c["not_gated"] for c in late), mode
        assert s["early_stop"]["cases_run"] == len(ran) == s["fresh_calls"], mode
        assert s["early_stop"]["cases_after_stop"] == len(late), mode
        assert s["fresh_cost_usd"] == pytest.approx(0.001 * len(ran)), mode
        assert sum(s["counts"].values()) == 200, mode
        if mode == "n2":
            assert len(late) >= 1, "no case ran after the stop under -n 2"
        else:
            assert late == [], mode
    # prodgate gate re-decides the -n 2 report, extra cases and all, to the same figures
    out = project.path / "regated.json"
    code, stdout, stderr = run_gate(
        "gate",
        str(project.path / "n2.json"),
        "--baseline",
        str(project.path / "base.json"),
        "--json",
        str(out),
    )
    assert code == 0, stdout + stderr
    assert figures(load_report(out)) == figures(load_report(project.path / "plain.json"))


def test_only_a_suite_resolved_early_is_gated_on_part_of_its_cases() -> None:
    from pytest_prodgate.gating.early import after_stop, gated, stop_reason
    from pytest_prodgate.schema.report import CaseReport, EarlyStopReport, TrialReport

    def case(cid: str, outcome: str = "passed", reason: str | None = None) -> CaseReport:
        trial = TrialReport(nodeid=f"t[{cid}]", outcome=outcome, score=1.0, reason=reason)  # type: ignore[arg-type]
        return CaseReport(id=cid, trials=[trial])

    info = EarlyStopReport(looks=[2, 4, 6], planned=6, order=["c", "a", "f", "b", "e", "d"])
    cases = [case(c) for c in "abcdef"]
    # not resolved early: every case, the same list
    assert gated(cases, info) is cases
    assert gated(cases, None) is cases
    assert after_stop(cases, info) == []
    info.stopped_look = 1
    skip = stop_reason(info)
    cases = [
        case("a"),
        case("b", "skipped", skip),
        case("c"),
        case("d"),
        case("e", "skipped", skip),
    ]
    # the first looks[0] cases of the order, in the cases' order; "d" ran after the stop
    assert [c.id for c in gated(cases, info)] == ["a", "c"]
    assert [c.id for c in after_stop(cases, info)] == ["d"]


TRIALS_SUITE = """
import pytest

@pytest.mark.prodgate("qa", accuracy_floor=0.5, latency_p95_ms=60000, trials=3)
@pytest.mark.parametrize("i", range(200))
def test_case(prodgate_model, i):
    for _ in range(CALLS):
        prodgate_model(i)
"""


@pytest.mark.xdist_modes
def test_latency_with_several_calls_per_case_stops_on_cases_or_not_at_all(
    run: RunFn, project: pytest.Pytester
) -> None:
    def run_suite() -> dict[str, Any]:
        args = ["--prodgate-model=mymodel:echo", "--prodgate-report=r.json", "-p", "no:randomly"]
        result = run("--prodgate", "--prodgate-early-stop", *args)
        assert result.ret == 0, result.stdout.str()
        (suite,) = read_report(project.path / "r.json")["suites"]
        return suite

    # 3 trials of one call: each case is one unit of 3 calls (betting on its share).
    project.makepyfile(test_suite=TRIALS_SUITE.replace("CALLS", "1"))
    suite = run_suite()
    early = suite["early_stop"]
    assert early["stopped_look"] is not None
    assert "betting" in early["boundaries"]["latency_p95_ms"]
    assert {g["gate"]: g["verdict"] for g in suite["gates"]}["latency_p95_ms"] == "PASS"
    # 1 or 2 calls per trial: no sequential rule, the suite runs to the end and the
    # fixed-size (clustered) latency gate decides.
    project.makepyfile(test_suite=TRIALS_SUITE.replace("range(CALLS)", "range(1 + i % 2)"))
    suite = run_suite()
    assert suite["early_stop"]["stopped_look"] is None
    assert "latency_p95_ms" not in suite["early_stop"]["boundaries"]
    gates = {g["gate"]: g for g in suite["gates"]}
    assert gates["latency_p95_ms"]["verdict"] == "PASS"
    assert gates["latency_p95_ms"]["method"] == "quantile-cluster-betting"
    assert suite["counts"]["passed"] == 600


WHOLE_CASES = """
import pytest

@pytest.mark.prodgate("qa", accuracy_floor=0.5, early_stop=True, trials=3)
@pytest.mark.parametrize("i", range(300))
def test_case(prodgate_model, i):
    prodgate_model(i)
"""


@pytest.mark.xdist_modes
def test_a_case_stops_whole_even_when_the_stop_lands_between_its_trials(
    run: RunFn, project: pytest.Pytester
) -> None:
    # Under -n 2 the other worker's stop can land between a case's trials: the trials
    # left of a case that has started still run.
    project.makepyfile(test_suite=WHOLE_CASES)
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    assert result.ret == 0, result.stdout.str()
    (suite,) = read_report(project.path / "r.json")["suites"]
    assert suite["early_stop"]["stopped_look"] is not None
    partial = [c["id"] for c in suite["cases"] if len({t["outcome"] for t in c["trials"]}) > 1]
    assert partial == []
    ran = sum(1 for c in suite["cases"] if c["trials"][0]["outcome"] == "passed")
    assert suite["counts"]["passed"] == 3 * ran
    assert suite["early_stop"]["calls_saved"] == 3 * (300 - ran)
