"""Every feature gives the same figures without xdist, with ``-n 0`` and with ``-n 2`` (SPEC §9).

The other plugin tests run their scenarios once, without xdist (see
``tests/conftest.py`` for the few that run three ways). Here a few projects,
each covering several features, run in all three modes, and everything that is
not a timing must be identical: exit code, outcome counts, run and suite
verdicts, every gate's ``(suite, gate, estimate, lower, upper, n, method,
verdict)`` (verdict, n and method for the timing gates: latency, throughput,
recovery), and every case's record without its latencies (ids, scores per
trial, outcomes, errors, tags, notes, cost, tokens; a load run's requests and
successes; a drill's steps and whether it recovered).

* ``EVAL``: accuracy with misses, model errors and the error rate, cost, a
  latency gate, slice floors, graded scores, trials, a load run (throughput),
  drills (one recovers, one never does), pytest-benchmark's fallback (disabled:
  the plain call times the case), and setup errors raised on the workers (a bad
  marker, conflicting targets across files, ``prodgate_case`` outside an eval
  case, ``prodgate_load`` misuse, a bug in a test that makes its gates
  INCOMPLETE).
* ``SEALED``: a baseline regression, a tampered sealed dataset and a loosened
  target (``prodgate.lock``).
* ``CAPPED``: the spend cap, alone (it stops every model call of the run).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from conftest import XDIST_MODES, gate_figures, read_report

EVAL = {
    "test_acc": """
        import pytest

        pytestmark = pytest.mark.prodgate(
            "acc", accuracy_floor=0.6, error_rate_max=0.2, cost_per_call_usd=0.01,
            latency_p95_ms=10_000, slice_floors={"lang:de": 0.5},
        )

        @pytest.mark.parametrize("x", [f"boom{i}" if i % 10 == 0 else f"q{i}" for i in range(100)])
        def test_acc(prodgate_model, prodgate_case, x):
            i = int(x.lstrip("boomq"))
            prodgate_case.tag("lang:de" if i % 2 else "lang:en")
            prodgate_case.note("i", i)
            prodgate_case.add_cost(0.001 * (1 + i % 7))
            assert prodgate_model(x) == x
            assert i % 10 != 3, f"case {i} missed"
        """,
    "test_graded": """
        import random
        import pytest

        pytestmark = pytest.mark.prodgate("graded", accuracy_floor=0.4)

        @pytest.mark.parametrize("i", range(60))
        def test_graded(prodgate_model, prodgate_case, i):
            prodgate_model(i)
            prodgate_case.score(random.Random(i).random())
        """,
    "test_trials": """
        import random
        import pytest

        pytestmark = pytest.mark.prodgate("nd", accuracy_floor=0.5, trials=3)

        @pytest.mark.parametrize("i", range(30))
        def test_nd(prodgate_model, prodgate_trial, i):
            prodgate_model(i)
            assert random.Random(i * 10 + prodgate_trial).random() < 0.8
        """,
    "test_svc": """
        import itertools
        import time
        import pytest
        from pytest_prodgate import Model

        def slow(x):
            time.sleep(0.002)
            if x == 0:  # 1 call in 7 fails: the windows' success counts are not all equal
                raise ConnectionError("refused")
            return x

        # ~700 requests/s idle. A stall of the loaded machine can bunch the 200 requests
        # into one window, which shrinks the lower bound to ~1% of the rate: 0.2 holds.
        @pytest.mark.prodgate("svc", throughput_rps=0.2, latency_p50_ms=10_000, recovery_s=30)
        def test_load(prodgate_model, prodgate_load, prodgate_drill):
            for i in range(10):
                prodgate_model(i)
            run = prodgate_load(Model(slow), list(range(7)), concurrency=2, requests=200, warmup=4)
            assert run.errors() == 200 // 7 + 1
            checks = itertools.count(1)
            with prodgate_drill("restart", poll_interval_s=0.005) as drill:
                drill.wait_until(lambda: next(checks) >= 3, timeout=30, step="detected")
                drill.wait_until(lambda: next(checks) >= 6, timeout=30)

        @pytest.mark.prodgate("stuck", recovery_s=30)
        def test_stuck(prodgate_drill):
            with prodgate_drill("never", poll_interval_s=0.01) as drill:
                drill.wait_until(lambda: False, timeout=0.03)

        @pytest.mark.prodgate("bench", latency_p50_ms=1000)
        def test_bench(benchmark, prodgate_model):
            benchmark.pedantic(prodgate_model, args=(1,), rounds=20, iterations=1)
        """,
    "test_setup_a": """
        import pytest

        @pytest.mark.prodgate("shared", accuracy_floor=0.9)
        def test_a(prodgate_model):
            prodgate_model(1)

        @pytest.mark.prodgate(accuracy_floor=1.5)
        @pytest.mark.parametrize("i", range(3))
        def test_badmarker(prodgate_model, i):
            prodgate_model(i)

        def test_plain(prodgate_case):
            pass
        """,
    "test_setup_b": """
        import pytest

        @pytest.mark.prodgate("shared", accuracy_floor=0.8)
        def test_b(prodgate_model):
            prodgate_model(1)

        @pytest.mark.prodgate("misuse", throughput_rps=1)
        def test_misuse(prodgate_load):
            prodgate_load(lambda x: x, [1], concurrency=0, requests=5)

        @pytest.mark.prodgate("buggy", accuracy_floor=0.5)
        @pytest.mark.parametrize("i", range(10))
        def test_buggy(prodgate_model, i):
            prodgate_model(i)
            if i == 4:
                {}["missing"]
        """,
}

#: Lines every mode prints for EVAL (the setup errors survive xdist, SPEC §2).
EVAL_LINES = [
    "*test_setup_a.py::test_badmarker[[]0[]]: prodgate marker: accuracy_floor=1.5: *",
    "*test_setup_b.py::test_b: prodgate marker: suite 'shared' declares accuracy_floor=0.8 "
    "here but accuracy_floor=0.9 at test_setup_a.py::test_a*",
    "*prodgate_case is only available in eval cases*",
    "*test_setup_b.py::test_misuse: prodgate_load: *concurrency*",
]

SEALED_SUITE = """
import pytest
from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate("sealed", accuracy_floor=0.5, latency_p50_ms=5000)

@pytest.mark.parametrize("case", load_cases("evals/qa.jsonl"))
def test_sealed(prodgate_model, case):
    assert prodgate_model(case.input) == case.expected
"""

REG_SUITE = """
import pytest

pytestmark = pytest.mark.prodgate("reg", accuracy_floor=0.1, max_regression=0.0)

@pytest.mark.parametrize("i", range(200))
def test_reg(prodgate_model, i):
    prodgate_model(i)
    assert i % 100 >= MISS_BELOW
"""

CAPPED_SUITE = """
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


@pytest.fixture(autouse=True)
def _not_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-benchmark and xdist read this variable, which the outer run sets
    # when this suite itself runs under xdist: the inner runs must not see it.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


def _calls(calls: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (c["ok"], c["error"], c["timed_out"], c["retries"], c["cost_usd"], c["kind"]) for c in calls
    ]


def _load_runs(runs: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """A load run's requests and successes, not its times."""
    return [
        (
            r["concurrency"],
            r["requests"],
            r["warmup"],
            r["name"],
            r["timed_out"],
            sum(1 for call in r["calls"] if call[2]),
        )
        for r in runs
    ]


def _drills(drills: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """A drill's steps, not its times; checks only of steps that succeeded (on a count)."""
    return [
        (
            d["name"],
            d["recovered"],
            d["error"],
            [(st["step"], st["ok"], st["checks"] if st["ok"] else None) for st in d["steps"]],
        )
        for d in drills
    ]


def case_figures(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every case's record without its timings, sorted by (suite, id)."""
    out = []
    for s in report["suites"]:
        for c in s["cases"]:
            trials = [
                (
                    t["nodeid"],
                    t["trial"],
                    t["outcome"],
                    t["score"],
                    t["error"],
                    t["added_cost_usd"],
                    _calls(t["calls"]),
                    _load_runs(t["load_runs"]),
                    _drills(t["drills"]),
                )
                for t in c["trials"]
            ]
            out.append(
                (
                    s["name"],
                    c["id"],
                    c["tags"],
                    json.dumps(c["notes"], sort_keys=True),
                    c.get("cost_usd"),
                    c.get("input_tokens"),
                    c.get("output_tokens"),
                    c.get("error"),
                    c.get("pass_rate"),
                    c.get("flaky", False),
                    trials,
                )
            )
    return sorted(out, key=lambda row: (row[0], row[1]))


def suite_figures(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Per suite: verdict, outcome counts, slices, trials, flaky cases, regression."""
    return [
        (
            s["name"],
            s["verdict"],
            s["counts"],
            s["slices"],
            s["trials"],
            s["pass_all_rate"],
            sorted(s["flaky_cases"]),
            s["regression"],
        )
        for s in report["suites"]
    ]


def run_modes(project: pytest.Pytester, *args: str) -> dict[str, dict[str, Any]]:
    """Run the project in every xdist mode; per mode: exit code, outcomes, report, result."""
    out = {}
    for mode, extra in XDIST_MODES.items():
        path = project.path / f"{mode}.json"
        result = project.runpytest(
            *extra, "-p", "no:cacheprovider", *args, f"--prodgate-report={path}"
        )
        assert result.ret in (0, 1), f"{mode}: {result.stdout.str()}"
        out[mode] = {
            "ret": result.ret,
            "outcomes": result.parseoutcomes(),
            "report": read_report(path),
            "result": result,
        }
    return out


def assert_identical(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every non-timing figure of every mode equals the plain run's; returns the plain report."""
    plain = runs["plain"]
    for mode, got in runs.items():
        assert got["ret"] == plain["ret"], mode
        assert got["outcomes"] == plain["outcomes"], mode
        assert got["report"]["verdict"] == plain["report"]["verdict"], mode
        assert gate_figures(got["report"]) == gate_figures(plain["report"]), mode
        assert suite_figures(got["report"]) == suite_figures(plain["report"]), mode
        assert case_figures(got["report"]) == case_figures(plain["report"]), mode
    report: dict[str, Any] = plain["report"]
    return report


def _gates(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(s["name"], g["gate"]): g for s in report["suites"] for g in s["gates"]}


def test_eval_features_give_identical_figures_in_every_mode(project: pytest.Pytester) -> None:
    project.makepyfile(**EVAL)
    runs = run_modes(project, "--prodgate", "--prodgate-model=mymodel:flaky", "--benchmark-disable")
    for mode, got in runs.items():
        got["result"].stdout.fnmatch_lines_random(EVAL_LINES)
        assert "INTERNALERROR" not in got["result"].stdout.str(), mode
    report = assert_identical(runs)
    assert runs["plain"]["ret"] == 1
    assert runs["n2"]["report"]["run"]["xdist_workers"] == 2
    # The figures compared are the ones each feature is about (not vacuous):
    gates = _gates(report)
    verdicts = {key: g["verdict"] for key, g in gates.items()}
    counts = {s["name"]: s["counts"] for s in report["suites"]}
    assert counts["acc"] == {"passed": 80, "missed": 10, "model_error": 10}
    assert gates[("acc", "accuracy_floor")]["estimate"] == pytest.approx(0.8)
    assert gates[("acc", "error_rate_max")]["estimate"] == pytest.approx(0.1)
    assert gates[("acc", "cost_per_call_usd")]["n"] == 100
    assert gates[("acc", "latency_p95_ms")]["n"] == 100
    assert gates[("acc", "slice_floor[lang:de]")]["n"] == 50
    assert gates[("graded", "accuracy_floor")]["method"] == "betting"
    assert gates[("nd", "accuracy_floor")]["n"] == 30
    assert gates[("nd", "accuracy_floor")]["method"] == "betting-cluster"
    assert verdicts[("svc", "throughput_rps")] == "PASS"
    assert gates[("svc", "throughput_rps")]["n"] == 20
    assert gates[("svc", "throughput_rps")]["method"] == "window-poisson-ar1"
    assert gates[("svc", "latency_p50_ms")]["n"] == 10  # the load run stays out of it
    assert verdicts[("svc", "recovery_s")] == "PASS"
    assert verdicts[("stuck", "recovery_s")] == "FAIL"
    assert gates[("bench", "latency_p50_ms")]["n"] == 1  # benchmark disabled: the one call
    assert verdicts[("buggy", "accuracy_floor")] == "INCOMPLETE"
    assert verdicts[("misuse", "throughput_rps")] == "INCOMPLETE"
    assert verdicts[("shared", "accuracy_floor")] == "INCOMPLETE"
    outcomes = runs["plain"]["outcomes"]
    assert outcomes["missed"] == 20 + counts["nd"]["missed"]
    assert outcomes["errors"] == 3 + 1 + 1  # bad marker x3, conflicting target, prodgate_case
    assert outcomes["failed"] == 2  # the bug in test_buggy[4], prodgate_load misuse


def _write_rows(project: pytest.Pytester, rows: list[dict[str, Any]]) -> None:
    evals = project.path / "evals"
    evals.mkdir(exist_ok=True)
    (evals / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_baseline_and_lock_give_identical_figures_in_every_mode(
    project: pytest.Pytester,
) -> None:
    rows = [{"id": f"q{i}", "input": f"x{i}", "expected": f"x{i}"} for i in range(20)]
    _write_rows(project, rows)
    project.makepyfile(test_sealed=SEALED_SUITE, test_reg=REG_SUITE.replace("MISS_BELOW", "5"))
    lock = project.runpytest("-p", "no:cacheprovider", "--prodgate-lock")
    assert lock.ret == 0, lock.stdout.str()
    base = project.runpytest(
        "-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo",
        "--prodgate-report=base.json",
    )  # fmt: skip
    assert base.ret == 0, base.stdout.str()
    rows[3]["input"] = "changed"  # tampered: the sealed suite's case q3 now misses
    _write_rows(project, rows)
    project.makepyfile(
        test_sealed=SEALED_SUITE.replace("accuracy_floor=0.5", "accuracy_floor=0.4"),  # loosened
        test_reg=REG_SUITE.replace("MISS_BELOW", "9"),  # 8 more misses out of 200: regressed
    )
    runs = run_modes(
        project, "--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-baseline=base.json"
    )
    report = assert_identical(runs)
    assert runs["plain"]["ret"] == 1
    verdicts = {key: g["verdict"] for key, g in _gates(report).items()}
    assert verdicts[("reg", "regression")] == "FAIL"
    assert verdicts[("sealed", "sealed_dataset[evals/qa.jsonl]")] == "TAMPERED"
    assert verdicts[("sealed", "locked:accuracy_floor")] == "LOOSENED"
    regressed = {s["name"]: s["regression"]["regressed"] for s in report["suites"]}
    assert regressed == {"reg": ["5", "6", "7", "8", "105", "106", "107", "108"], "sealed": ["q3"]}


def test_spend_cap_gives_identical_verdicts_in_every_mode(project: pytest.Pytester) -> None:
    project.makepyfile(test_capped=CAPPED_SUITE)
    runs = run_modes(project, "--prodgate", "--prodgate-max-spend-usd=0.05")
    # Calls in flight on the other worker hold their expected cost against the cap, so
    # -n 2 stops after as many calls as one process (it made one more on each worker);
    # which cases those are depends on how xdist hands them out.
    assert_identical({"plain": runs["plain"], "n0": runs["n0"]})
    plain, n2 = runs["plain"], runs["n2"]
    assert (n2["ret"], n2["outcomes"]) == (plain["ret"], plain["outcomes"])
    assert gate_figures(n2["report"]) == gate_figures(plain["report"])
    assert suite_figures(n2["report"]) == suite_figures(plain["report"])
    for mode, got in runs.items():
        assert got["ret"] == 1, mode
        verdicts = [(f[0], f[1], f[7]) for f in gate_figures(got["report"])]
        assert verdicts == [
            ("capped", "accuracy_floor", "INCOMPLETE"),
            ("capped", "cost_per_call_usd", "INCOMPLETE"),
        ], mode
        outcomes = got["outcomes"]
        assert outcomes["passed"] == 5, mode
        assert outcomes["passed"] + outcomes["skipped"] == 20, mode
