"""prodgate_load and prodgate_drill through the plugin, each scenario in three xdist modes."""

from __future__ import annotations

import pytest

from conftest import RunFn, read_report

LOAD_SUITE = """
import time
import pytest
from pytest_prodgate import Model

def slow(x):
    time.sleep(0.01)
    return x

pytestmark = pytest.mark.prodgate("svc", throughput_rps=THRESHOLD, latency_p50_ms=1000)

def test_single_calls(prodgate_model):
    for i in range(10):
        prodgate_model(i)

def test_load(prodgate_load):
    run = prodgate_load(Model(slow), list(range(50)), concurrency=4, duration_s=1.5, warmup=8)
    assert run.errors() == 0
"""


def test_throughput_gate_from_a_load_run(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=LOAD_SUITE.replace("THRESHOLD", "100"))
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["svc*throughput_rps*>= 100.0*PASS", "svc: load slow: concurrency 4, * requests in 1.5* s*"]
    )
    report = read_report(project.path / "r.json")
    gates = {g["gate"]: g for g in report["suites"][0]["gates"]}
    tp = gates["throughput_rps"]
    # 4 workers x 10 ms per call: about 400 requests per second.
    assert 300 <= tp["estimate"] <= 420
    assert tp["lower"] <= tp["estimate"] <= tp["upper"]
    assert tp["method"].startswith("window-")
    # calls under load stay out of the latency gate unless asked for: 10 single calls only
    assert gates["latency_p50_ms"]["n"] == 10


def test_throughput_below_target_fails(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=LOAD_SUITE.replace("THRESHOLD", "2000"))
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["svc throughput_rps FAIL: successful requests/s *< 2,000*"])


def test_load_latency_counts_when_asked(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite=LOAD_SUITE.replace("THRESHOLD", "100").replace(
            "warmup=8)", "warmup=8, count_latency=True)"
        )
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=r.json")
    assert result.ret == 0
    gates = {g["gate"]: g for g in read_report(project.path / "r.json")["suites"][0]["gates"]}
    assert gates["latency_p50_ms"]["n"] > 100


DRILL_SUITE = """
import time
import pytest

pytestmark = pytest.mark.prodgate("ops", recovery_s=1.0)

def test_drill(prodgate_drill):
    healthy_at = time.monotonic() + 0.2
    with prodgate_drill("restart", poll_interval_s=0.01) as drill:
        drill.wait_until(lambda: time.monotonic() >= healthy_at, timeout=RECOVERY_TIMEOUT)
"""


def test_recovery_gate_uses_the_worst_drill(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=DRILL_SUITE.replace("RECOVERY_TIMEOUT", "5"))
    result = run("--prodgate", "--prodgate-report=r.json")
    assert result.ret == 0, result.stdout.str()
    gate = read_report(project.path / "r.json")["suites"][0]["gates"][0]
    assert 0.2 <= gate["estimate"] <= 0.2 + 0.01 + 0.15
    assert gate["lower"] is None
    assert gate["upper"] is None
    result.stdout.fnmatch_lines(["ops*recovery_s*<= 1*(worst drill)*PASS", "ops: drill restart: *"])


def test_a_drill_that_never_recovers_fails(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=DRILL_SUITE.replace("RECOVERY_TIMEOUT", "0.1"))
    result = run("--prodgate")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["ops recovery_s FAIL: 1 of 1 drills never recovered within their timeout (restart)*"]
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
