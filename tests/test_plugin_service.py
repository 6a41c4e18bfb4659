"""prodgate_load and prodgate_drill through the plugin; figures checked against recorded events."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import RunFn, read_report

LOAD_SUITE = """
import time
import pytest
from pytest_prodgate import Model

def slow(x):
    time.sleep(0.01)
    return x

pytestmark = pytest.mark.prodgate("svc", throughput_rps=THRESHOLD, latency_p50_ms=10_000)

@pytest.mark.parametrize("i", range(10))
def test_single_calls(prodgate_model, i):
    prodgate_model(i)

def test_load(prodgate_load):
    run = prodgate_load(Model(slow), list(range(50)), concurrency=4, requests=200, warmup=8)
    assert run.errors() == 0
"""


def _load_runs(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for c in report["suites"][0]["cases"] for t in c["trials"] for r in t["load_runs"]]


def test_throughput_gate_from_a_load_run(run: RunFn, project: pytest.Pytester) -> None:
    # 4 workers x 10 ms calls make ~400 requests/s. A stall of a loaded machine can bunch
    # the requests into one window, which shrinks the lower bound to ~1% of the rate:
    # the target of 0.5 holds. The figures are checked against the run's own events.
    project.makepyfile(test_suite=LOAD_SUITE.replace("THRESHOLD", "0.5"))
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["svc*throughput_rps*>= 0.5*PASS", "svc: load slow: concurrency 4, 200 requests in * s*"]
    )
    report = read_report(project.path / "r.json")
    gates = {g["gate"]: g for g in report["suites"][0]["gates"]}
    tp = gates["throughput_rps"]
    (load,) = _load_runs(report)
    calls = load["calls"]
    assert (load["requests"], load["warmup"], len(calls)) == (200, 8, 200)
    assert load["duration_s"] == max(c[1] for c in calls)
    assert min(c[0] for c in calls) == 0.0
    assert tp["estimate"] == pytest.approx(sum(1 for c in calls if c[2]) / load["duration_s"])
    assert tp["lower"] <= tp["estimate"] <= tp["upper"]
    # windows of >= 5 median latencies: 200 calls over 4 workers make at least 10
    assert 10 <= tp["n"] <= 20
    assert tp["method"] == "window-poisson-ar1"
    # calls under load stay out of the latency gate unless asked for: 10 single calls only
    assert gates["latency_p50_ms"]["n"] == 10


def test_throughput_below_target_fails(run: RunFn, project: pytest.Pytester) -> None:
    # time.sleep(0.01) never returns early: 4 workers cannot exceed ~400 requests/s (and no
    # 10-window slice of the run can exceed 4 / 0.01 + 4 / window), so 2,000 always fails.
    project.makepyfile(test_suite=LOAD_SUITE.replace("THRESHOLD", "2000"))
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["svc throughput_rps FAIL: successful requests/s *< 2,000*"])


def test_load_latency_counts_when_asked(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite=LOAD_SUITE.replace("THRESHOLD", "0.5").replace(
            "warmup=8)", "warmup=8, count_latency=True)"
        )
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    assert result.ret == 0
    gates = {g["gate"]: g for g in read_report(project.path / "r.json")["suites"][0]["gates"]}
    assert gates["latency_p50_ms"]["n"] == 10 + 200


DRILL_SUITE = """
import itertools
import pytest

pytestmark = pytest.mark.prodgate("ops", recovery_s=30)

def test_drill(prodgate_drill):
    for name, healthy_on in [("restart", 4), ("failover", 11)]:
        checks = itertools.count(1)
        with prodgate_drill(name, poll_interval_s=0.02) as drill:
            drill.wait_until(lambda: next(checks) >= healthy_on, timeout=RECOVERY_TIMEOUT)
"""


def test_recovery_gate_uses_the_worst_drill(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=DRILL_SUITE.replace("RECOVERY_TIMEOUT", "30"))
    result = run("--prodgate", "--prodgate-report=r.json")
    assert result.ret == 0, result.stdout.str()
    report = read_report(project.path / "r.json")
    gate = report["suites"][0]["gates"][0]
    drills = [d for c in report["suites"][0]["cases"] for t in c["trials"] for d in t["drills"]]
    assert [(d["name"], d["steps"][0]["checks"]) for d in drills] == [
        ("restart", 4),
        ("failover", 11),
    ]
    # The gate is the worst recorded drill; each drill's time is its recorded step's, and
    # at least its polls' schedule (sleeps never return early): (checks - 1) x interval.
    assert gate["estimate"] == max(d["recovered_s"] for d in drills)
    for d in drills:
        step = d["steps"][0]
        assert (
            d["recovered_s"] == step["elapsed_s"] >= step["wait_s"] >= (step["checks"] - 1) * 0.02
        )
    assert (gate["n"], gate["method"], gate["lower"], gate["upper"]) == (
        2,
        "observed-max",
        None,
        None,
    )
    result.stdout.fnmatch_lines(
        [
            "ops*recovery_s*<= 30*(worst drill)*PASS",
            "ops: drill restart: *",
            "ops: drill failover: *",
        ]
    )


def test_a_drill_that_never_recovers_fails(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=DRILL_SUITE.replace("RECOVERY_TIMEOUT", "0.05"))
    result = run("--prodgate")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["ops recovery_s FAIL: * of 2 drills never recovered within their timeout (*failover)*"]
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "prodgate_load(lambda x: x, [1], concurrency=0, requests=5)",
            "prodgate_load: *concurrency*",
        ),
        ("prodgate_load(lambda x: x, [], concurrency=2, requests=5)", "prodgate_load: *input*"),
        ("prodgate_load(42, [1], concurrency=2, requests=5)", "prodgate_load: *callable*"),
        (
            "with prodgate_drill('nodrill'): pass",
            "prodgate_drill: drill 'nodrill' has no recovery step*",
        ),
    ],
)
def test_misuse_fails_the_test_with_a_clear_line(
    run: RunFn, project: pytest.Pytester, body: str, message: str
) -> None:
    project.makepyfile(
        test_suite=f"""
        import pytest
        pytestmark = pytest.mark.prodgate("bad", throughput_rps=1)

        def test_bad(prodgate_load, prodgate_drill):
            {body}
        """
    )
    result = run("--prodgate")
    assert result.ret == 1
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*test_suite.py::test_bad: {message}"])
    assert "INTERNALERROR" not in result.stdout.str()
