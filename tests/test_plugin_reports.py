"""Reports (JSON, GitHub step summary), hooks, exit status, crashes and interruptions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_prodgate.schema.report import RunReport

from conftest import RunFn, read_report

SUITE = """
import pytest
from pytest_prodgate import Model, Pricing

class Usage:
    def __init__(self, n):
        self.prompt_tokens = 100 * n
        self.completion_tokens = 10 * n

class Reply:
    def __init__(self, text, n):
        self.text = text
        self.usage = Usage(n)

@pytest.fixture(scope="session")
def prodgate_model():
    m = Model(lambda q: Reply(q.upper(), 1 + len(q) % 3),
              name="shouty", version="v7", pricing=Pricing(input_per_mtok=2.0, output_per_mtok=8.0))
    m("warm-up")  # outside any case: never gated
    return m

pytestmark = pytest.mark.prodgate("shout", accuracy_floor=0.8, cost_per_call_usd=0.001,
                                  cost_cap_usd=0.00084,  # 3 x (100 in at $2/M + 10 out at $8/M)
                                  latency_p95_ms=10_000)

@pytest.mark.parametrize("q", [f"q{i}" for i in range(80)])
def test_shout(prodgate_model, prodgate_case, q):
    prodgate_case.note("length", len(q))
    prodgate_case.tag("short" if len(q) < 3 else "long")
    assert prodgate_model(q).text == q.upper()
"""


def test_json_report_holds_run_suites_gates_and_cases(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=SUITE)
    result = run("--prodgate", "--prodgate-report=out/report.json")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["prodgate: report written to *report.json"])
    path = project.path / "out" / "report.json"
    report = RunReport.model_validate_json(path.read_text(encoding="utf-8"))
    assert report.schema_version == 2
    assert report.verdict == "PASS"
    assert report.run.model_name == "shouty"
    assert report.run.warmup_calls >= 1
    assert (report.run.seed, report.run.confidence, report.run.resamples) == (0, 0.95, 9999)
    (suite,) = report.suites
    assert suite.counts == {"passed": 80}
    gates = {g.gate: g for g in suite.gates}
    cost = gates["cost_per_call_usd"]
    # Exact mean cost from the stated pricing: tokens 100n in at $2/M and 10n out at $8/M.
    ns = [1 + len(f"q{i}") % 3 for i in range(80)]
    expected = sum(n * (100 * 2.0 + 10 * 8.0) / 1e6 for n in ns) / 80
    assert cost.estimate == pytest.approx(expected)
    assert cost.lower is not None
    assert cost.upper is not None
    assert cost.lower < cost.estimate < cost.upper
    case = next(c for c in suite.cases if c.id == "q5")
    assert case.notes == {"length": 2}
    assert case.tags == ("short",)
    assert case.input_tokens == 100 * (1 + 2 % 3)
    assert case.trials[0].nodeid == "test_suite.py::test_shout[q5]"
    assert len(case.latencies_ms) == 1
    # p95 with 80 calls: both order-statistic bounds are finite.
    assert gates["latency_p95_ms"].upper is not None


def test_unbounded_side_is_written_as_null(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest
        pytestmark = pytest.mark.prodgate("few", latency_p95_ms=1000)

        @pytest.mark.parametrize("i", range(20))
        def test_few(prodgate_model, i):
            prodgate_model(i)
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "few*latency_p95_ms*<= 1,000*[[]*, ∞[]]*20*INCONCLUSIVE",
            "  A finite interval for p95 needs at least 72 calls at 95% confidence; *has 20.",
        ]
    )
    raw = json.loads((project.path / "r.json").read_text(encoding="utf-8"))
    gate = raw["suites"][0]["gates"][0]
    assert gate["upper"] is None
    assert gate["verdict"] == "INCONCLUSIVE"


def test_github_step_summary_gets_a_markdown_table(
    run: RunFn, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = project.path / "summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    project.makepyfile(test_suite=SUITE)
    result = run("--prodgate")
    assert result.ret == 0
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# earlier step\n### prodgate")
    assert "| shout | accuracy_floor | >= 0.800 | 1.000 |" in text
    assert "✅ PASS" in text


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_an_unwritable_step_summary_is_a_warning_under_the_table(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, quiet: list[str]
) -> None:
    """The warning was written at once, onto the end of the progress line under -q."""
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project.path / "missing" / "s.md"))
    project.makepyfile(test_suite=SUITE)
    result = project.runpytest("--prodgate", *quiet)
    assert result.ret == 0  # the gates passed; the summary is a courtesy
    lines = result.stdout.lines
    (i,) = [k for k, line in enumerate(lines) if "cannot append to GITHUB_STEP_SUMMARY" in line]
    assert lines[i].startswith("prodgate: WARNING: cannot append to GITHUB_STEP_SUMMARY=")
    verdict = next(k for k, line in enumerate(lines) if line.startswith("prodgate: PASSED"))
    assert verdict < i


def test_hooks_can_adjust_gates_and_see_the_report(run: RunFn, project: pytest.Pytester) -> None:
    project.makeconftest(
        """
        import json

        def pytest_prodgate_gates(config, suite, gates):
            for g in gates:
                if g.gate == "accuracy_floor":
                    g.verdict = "FAIL"
                    g.fails_run = True
                    g.reason = "forced by conftest"

        def pytest_prodgate_report(config, report):
            with open("seen.json", "w") as fh:
                json.dump({"verdict": report.verdict, "suites": len(report.suites)}, fh)
        """
    )
    project.makepyfile(test_suite=SUITE)
    result = run("--prodgate")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["shout accuracy_floor FAIL: forced by conftest"])
    assert json.loads((project.path / "seen.json").read_text()) == {"verdict": "FAIL", "suites": 1}


def test_a_failing_ordinary_test_is_never_hidden(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite=SUITE,
        test_plain="def test_broken():\n    assert 1 == 2\n",
    )
    result = run("--prodgate")
    result.assert_outcomes(passed=80, failed=1)
    result.stdout.fnmatch_lines(["prodgate: PASSED*"])
    assert result.ret == 1


def test_timeouts_are_model_errors_with_the_timeout_as_latency(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(
        test_suite="""
        import pytest
        from pytest_prodgate import Model
        import mymodel

        @pytest.fixture(scope="session")
        def prodgate_model():
            return Model(mymodel.slow, timeout_s=0.2)

        pytestmark = pytest.mark.prodgate("hang", error_rate_max=0.5)

        @pytest.mark.parametrize("delay", ["0", "5", "0", "0"])
        def test_hang(prodgate_model, delay):
            prodgate_model(delay)
        """
    )
    result = run("--prodgate", "--prodgate-report=r.json")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 3
    assert outcomes["missed"] == 1
    result.stdout.fnmatch_lines(["MISSED *test_hang[[]5[]] - model error: ModelTimeout*"])
    report = read_report(project.path / "r.json")
    hung = next(c for c in report["suites"][0]["cases"] if c["id"] == "5")
    call = hung["trials"][0]["calls"][0]
    assert call["timed_out"] is True
    assert call["latency_ms"] == pytest.approx(200, abs=50)


def test_cost_gate_without_any_cost_is_no_data(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest
        pytestmark = pytest.mark.prodgate("free", cost_per_call_usd=0.01)

        @pytest.mark.parametrize("i", range(5))
        def test_free(prodgate_model, i):
            prodgate_model(i)
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["free*cost_per_call_usd*NO_DATA", "free cost_per_call_usd NO_DATA: no cost was recorded*"]
    )


@pytest.mark.xdist_modes
def test_every_kind_of_bad_cost_is_named_in_the_reason(
    run: RunFn, project: pytest.Pytester
) -> None:
    """The reason named only the first bad cost: ``nan`` hid the ``-1`` and the string."""
    project.makepyfile(
        test_suite="""
        import pytest
        from pytest_prodgate import Model

        BAD = [float("nan"), -1, "abc", None, 1e400, -2]

        @pytest.fixture(scope="session")
        def prodgate_model():
            return Model(lambda i: i, cost=lambda i: BAD[i // 2 % 6] if i % 2 else 0.001)

        pytestmark = pytest.mark.prodgate("bad", cost_per_call_usd=0.01)

        @pytest.mark.parametrize("i", range(24))
        def test_bad(prodgate_model, i):
            prodgate_model(i)
        """
    )
    result = run("--prodgate", "--prodgate-report=r.json")
    assert result.ret == 1
    (gate,) = read_report(project.path / "r.json")["suites"][0]["gates"]
    assert gate["verdict"] == "INCOMPLETE"
    reason = gate["reason"]
    assert reason.startswith("12 calls have no cost: cost callable returned nan, ")
    assert "returned -1, not a finite number >= 0 (2 calls, first test_suite.py::test_bad[3])" in (
        reason
    )
    assert "cost callable returned 'abc'" in reason
    assert reason.count("cost callable returned") == 3
    assert reason.endswith("; and 3 more kinds of failure")


def test_suite_whose_cases_all_skip_is_no_data(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest
        pytestmark = pytest.mark.prodgate("skipped", accuracy_floor=0.5)

        @pytest.mark.skip(reason="not today")
        @pytest.mark.parametrize("i", range(3))
        def test_skipped(prodgate_model, i):
            prodgate_model(i)
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["skipped*accuracy_floor*NO_DATA"])


def test_crashed_worker_makes_the_gate_incomplete(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import os
        import pytest
        pytestmark = pytest.mark.prodgate("crashy", accuracy_floor=0.1)

        @pytest.mark.parametrize("i", range(6))
        def test_crashy(prodgate_model, i):
            prodgate_model(i)
            if i == 2:
                os._exit(3)
        """
    )
    result = project.runpytest(
        "-n", "2", "-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo"
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "crashy*accuracy_floor*INCOMPLETE",
            "crashy accuracy_floor INCOMPLETE: 1 of 6 cases produced no result (1 crashed)*",
        ]
    )


#: Forty cases; the sixth kills the process running it (an xdist worker).
CRASHY = """
import os
import pytest
pytestmark = pytest.mark.prodgate("crashy", accuracy_floor=0.1)

@pytest.mark.parametrize("i", range(40))
def test_crashy(prodgate_model, i):
    prodgate_model(i)
    if i == 5:
        os._exit(3)
"""


def test_a_crashed_worker_with_no_restart_left_leaves_the_run_incomplete(
    project: pytest.Pytester,
) -> None:
    """--max-worker-restart=0: the tests the dead worker would have run never run, and
    the loop ends without a stop; the run is partial, and says how many did not run."""
    project.makepyfile(test_suite=CRASHY)
    result = project.runpytest(
        "-n", "2", "--max-worker-restart=0", "-p", "no:cacheprovider", "--prodgate",
        "--prodgate-model=mymodel:echo", "--prodgate-report=r.json",
    )  # fmt: skip
    assert result.ret == 1
    report = read_report(project.path / "r.json")
    assert report["run"]["interrupted"] is True
    (note,) = [n for n in report["notes"] if "collected tests did not finish" in n]
    unfinished = int(note.split(" of 40 ")[0])
    trials = [t for c in report["suites"][0]["cases"] for t in c["trials"]]
    assert [t["outcome"] for t in trials].count("crashed") == 1
    assert unfinished == 40 - len(trials) > 0  # never started (the crashed one is a trial)
    result.stdout.fnmatch_lines(["crashy*accuracy_floor*INCOMPLETE"])


def test_a_crashed_worker_that_is_replaced_leaves_one_crashed_case_not_an_interrupted_run(
    project: pytest.Pytester,
) -> None:
    """With a restart left, every other case runs: the crashed case makes the gate
    INCOMPLETE, and the run is not called interrupted."""
    project.makepyfile(test_suite=CRASHY)
    result = project.runpytest(
        "-n", "2", "-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo",
        "--prodgate-report=r.json",
    )  # fmt: skip
    assert result.ret == 1
    report = read_report(project.path / "r.json")
    assert report["run"].get("interrupted", False) is False
    assert not [n for n in report.get("notes", []) if "did not finish" in n]
    trials = [t for c in report["suites"][0]["cases"] for t in c["trials"]]
    assert len(trials) == 40
    assert [t["outcome"] for t in trials].count("crashed") == 1
    result.stdout.fnmatch_lines(
        ["crashy*accuracy_floor*INCOMPLETE: 1 of 40 cases produced no result (1 crashed):*",
         "prodgate: FAILED — 1 incomplete gate"]
    )  # fmt: skip
    result.stdout.no_fnmatch_line("*run interrupted*")


def test_interrupted_run_still_writes_a_report_that_does_not_pass(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_suite="""
        import pytest
        pytestmark = pytest.mark.prodgate("stop", accuracy_floor=0.1)

        @pytest.mark.parametrize("i", range(5))
        def test_stop(prodgate_model, i):
            prodgate_model(i)
            if i == 2:
                raise KeyboardInterrupt
        """
    )
    result = project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--prodgate",
        "--prodgate-model=mymodel:echo",
        "--prodgate-report=r.json",
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = read_report(project.path / "r.json")
    assert report["run"]["interrupted"] is True
    assert report["suites"][0]["gates"][0]["verdict"] == "INCOMPLETE"


def test_no_side_effects_without_eval_cases(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    pytester.makeconftest(
        """
        import sys
        def pytest_unconfigure(config):
            heavy = sorted(m for m in ("numpy", "scipy", "pydantic") if m in sys.modules)
            print("HEAVY:", ",".join(heavy) or "none")
        """
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-s",
            "-p",
            "no:xdist",
            "-p",
            "no:benchmark",
        ],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HEAVY: none" in proc.stdout
    lines = [line for line in proc.stdout.splitlines() if not line.startswith("plugins:")]
    assert not [line for line in lines if "prodgate" in line]


def test_xdist_workers_do_not_import_the_statistics(pytester: pytest.Pytester) -> None:
    """Workers measure; only the controller gates. Without early stopping a worker
    imports neither numpy nor scipy (pydantic it needs: it validates what it measures)."""
    pytest.importorskip("xdist")
    pytester.makepyfile(
        test_w="""
        import pytest
        from pytest_prodgate import Model

        model = Model(lambda x: x)
        pytestmark = pytest.mark.prodgate("w", accuracy_floor=0.5)

        @pytest.mark.parametrize("i", range(8))
        def test_w(i):
            assert model(i) == i
        """
    )
    pytester.makeconftest(
        """
        import sys
        def pytest_sessionfinish(session):
            worker = getattr(session.config, "workerinput", None)
            if worker is not None:
                heavy = [m for m in ("numpy", "scipy", "pytest_prodgate.stats") if m in sys.modules]
                with open(f"heavy-{worker['workerid']}.txt", "w") as fh:
                    fh.write(",".join(heavy) or "none")
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:benchmark", "-p", "no:hypothesispytest",
        "-p", "no:randomly", "-n", "2", "--prodgate",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    written = sorted(pytester.path.glob("heavy-gw*.txt"))
    assert len(written) == 2
    assert [f.read_text() for f in written] == ["none", "none"]


def test_junit_xml_has_a_testcase_per_gate(run: RunFn, project: pytest.Pytester) -> None:
    import xml.etree.ElementTree as ET

    project.makepyfile(
        test_suite="""
        import pytest
        pytestmark = pytest.mark.prodgate("ju", accuracy_floor=0.99, error_rate_max=0.5)

        @pytest.mark.parametrize("i", range(50))
        def test_ju(prodgate_model, i):
            prodgate_model(i)
            assert i % 5
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--junitxml=j.xml")
    assert result.ret == 1
    root = ET.parse(project.path / "j.xml").getroot()
    cases = {
        (c.get("classname"), c.get("name")): c
        for c in root.iter("testcase")
        if (c.get("classname") or "").startswith("prodgate")
    }
    assert set(cases) == {("prodgate.ju", "accuracy_floor"), ("prodgate.ju", "error_rate_max")}
    failure = cases[("prodgate.ju", "accuracy_floor")].find("failure")
    assert failure is not None
    assert "FAIL: accuracy 0.800" in (failure.get("message") or "") + (failure.text or "")
    assert cases[("prodgate.ju", "error_rate_max")].find("failure") is None


@pytest.mark.xdist_modes
def test_spend_cap_stops_model_calls_and_makes_gates_incomplete(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(
        test_suite="""
        import pytest
        from pytest_prodgate import Model

        @pytest.fixture(scope="session")
        def prodgate_model():
            return Model(lambda x: x, cost=lambda out: 0.01)

        pytestmark = pytest.mark.prodgate("capped", accuracy_floor=0.1, cost_per_call_usd=1.0)

        @pytest.mark.parametrize("i", range(20))
        def test_capped(prodgate_model, i):
            assert prodgate_model(i) == i
        """
    )
    result = run("--prodgate", "--prodgate-max-spend-usd=0.05", "--prodgate-report=r.json", "-rs")
    assert result.ret == 1
    outcomes = result.parseoutcomes()
    # The cap is checked before every call: 5 calls reach it; a worker's call already
    # past its check may finish, so under -n 2 at most one more per worker.
    assert 5 <= outcomes["passed"] <= 7
    assert outcomes["skipped"] == 20 - outcomes["passed"]
    result.stdout.fnmatch_lines(
        [
            "capped*accuracy_floor*INCOMPLETE",
            "capped accuracy_floor, cost_per_call_usd INCOMPLETE: * of 20 cases produced no "
            "result (* not run)*Spend cap reached: $* spent of $0.0500 when the first of "
            "them was due (this suite's cases cost $0.0* in all); raise*",
            "SKIPPED [[]*[]] test_suite.py:*: prodgate: spend cap reached: $0.0* spent of $0.0500 "
            "(--prodgate-max-spend-usd)",
        ]
    )
    report = read_report(project.path / "r.json")
    spent = sum(c["cost_usd"] or 0 for c in report["suites"][0]["cases"])
    assert spent <= 0.07 + 1e-9


@pytest.mark.xdist_modes
def test_pytest_benchmark_timings_feed_the_latency_gate(
    run: RunFn, project: pytest.Pytester, xdist_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest-benchmark also disables itself when it sees this variable, which the
    # outer run sets when this test suite itself runs under xdist.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    project.makepyfile(
        test_suite="""
        import pytest
        pytestmark = pytest.mark.prodgate("bench", latency_p50_ms=1000)

        def test_bench(benchmark, prodgate_model):
            benchmark.pedantic(prodgate_model, args=(1,), rounds=80, iterations=1)
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    report = read_report(project.path / "r.json")
    gate = report["suites"][0]["gates"][0]
    # pytest-benchmark switches itself off when xdist distributes (-n 2, not -n 0).
    # 80 rounds give a finite p50 interval; the one call made then cannot.
    distributed = xdist_args == ["-n", "2"]
    assert result.ret == (1 if distributed else 0), result.stdout.str()
    notes = report["suites"][0]["cases"][0]["notes"]
    if distributed:
        assert "disabled" in notes["latency_source"]
        assert gate["n"] == 1
    else:
        assert notes["latency_source"] == "pytest-benchmark raw timings (80 rounds)"
        assert gate["n"] == 80
        kinds = {c["kind"] for c in report["suites"][0]["cases"][0]["trials"][0]["calls"]}
        assert kinds == {"call", "benchmark"}
