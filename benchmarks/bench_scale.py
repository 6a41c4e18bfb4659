"""Gating at scale, end to end: collected -> verdict -> files, for 100,000 instant cases.

Writes a throwaway project (a JSONL dataset read with ``load_cases``, an instant
model, one suite with four gates) and runs it twice in subprocesses: with
``--prodgate --prodgate-report`` and with ``-p no:prodgate`` (the same tests,
plain pytest). A probe plugin in the project's conftest records, in each run:

* the CPU seconds (``time.process_time``) from the last case's teardown to
  ``pytest_unconfigure`` (aggregation, gating, terminal table, JSON report);
* the process's peak RSS (``ru_maxrss``), compared with the plain run's.

Then it times ``prodgate gate`` on the report (wall and CPU of that process)
and prints the report's size. Goals (issue 11): < 1 s CPU after the last case,
< 200 MB above plain pytest's peak, a report < 30 MB.

    python benchmarks/bench_scale.py [--cases 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFTEST = """
import json
import os
import resource
import time

import pytest


def model_fn(x):
    return x


@pytest.fixture(scope="session")
def plain(request):
    # Plain pytest would fail the one case in ten that misses, and keep a traceback for
    # each: the plain side lets them pass, so its peak is that of passing tests only.
    return not request.config.pluginmanager.has_plugin("prodgate")


@pytest.fixture(scope="session")
def model(request):
    if request.config.pluginmanager.has_plugin("prodgate"):
        from pytest_prodgate import Model

        return Model(model_fn, cost=lambda out: 0.0000052)
    return model_fn


_LAST = [0.0]


def pytest_runtest_logfinish(nodeid, location):
    _LAST[0] = time.process_time()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    out = {
        "cpu_after_last_s": time.process_time() - _LAST[0],
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    with open(os.environ["SCALE_PROBE"], "w") as fh:
        json.dump(out, fh)
"""

SUITE = """
import pytest

from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate(
    "scale", accuracy_floor=0.5, latency_p95_ms=1000, cost_per_call_usd=0.01, cost_cap_usd=0.01,
    error_rate_max=0.5
)


@pytest.mark.parametrize("case", load_cases("evals/cases.jsonl"))
def test_case(model, plain, case):
    assert model(case.input) == case.expected or plain
"""

#: Plugins this repo's dev install brings that a user's suite may not have; off on both sides
#: (pytest-rerunfailures keeps every failed test's exception, frames and all, to the end).
UNRELATED = [
    "-p", "no:benchmark", "-p", "no:hypothesispytest", "-p", "no:xdist", "-p", "no:rerunfailures",
    "-p", "no:sugar", "-p", "no:repeat",
]  # fmt: skip


def write_project(root: Path, cases: int) -> None:
    (root / "evals").mkdir()
    with open(root / "evals" / "cases.jsonl", "w", encoding="utf-8") as fh:
        for i in range(cases):
            # One case in ten misses: the gates still have something to count.
            expected = i if i % 10 else -1
            fh.write(json.dumps({"id": f"c{i}", "input": i, "expected": expected}) + "\n")
    (root / "conftest.py").write_text(CONFTEST)
    (root / "test_scale.py").write_text(SUITE)
    (root / "pytest.ini").write_text("[pytest]\n")


def run_pytest(root: Path, args: list[str]) -> dict[str, float]:
    probe = root / "probe.json"
    env = {**__import__("os").environ, "SCALE_PROBE": str(probe)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as in a user's second run
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *UNRELATED, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"pytest {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}"
        )
    result: dict[str, float] = json.loads(probe.read_text())
    result["wall_s"] = wall
    return result


def time_gate(root: Path, report: Path) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_prodgate.cli", "gate", str(report)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"prodgate gate exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return wall, cpu, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_project(root, opts.cases)
        report = root / "report.json"
        gated = run_pytest(root, ["--prodgate", f"--prodgate-report={report}"])
        plain = run_pytest(root, ["-p", "no:prodgate"])
        size_mb = report.stat().st_size / 1e6
        gate_wall, gate_cpu, gate_rc = time_gate(root, report)
    above = (gated["maxrss_kb"] - plain["maxrss_kb"]) / 1024
    print(f"{opts.cases:,} instant eval cases, one suite, 4 gates (one run each side)")
    print(f"  {'':34s} {'--prodgate':>12s} {'plain pytest':>13s}")
    print(f"  {'wall time of the run':34s} {gated['wall_s']:10.1f} s {plain['wall_s']:11.1f} s")
    print(
        f"  {'CPU after the last case':34s} {gated['cpu_after_last_s']:10.2f} s "
        f"{plain['cpu_after_last_s']:11.2f} s   (goal < 1 s with --prodgate)"
    )
    own = gated["cpu_after_last_s"] - plain["cpu_after_last_s"]
    label = "  of which the plugin's"
    print(f"  {label:34s} {own:10.2f} s")
    peak, plain_peak = gated["maxrss_kb"] / 1024, plain["maxrss_kb"] / 1024
    print(
        f"  {'peak RSS':34s} {peak:9.0f} MB {plain_peak:10.0f} MB"
        f"   above plain: {above:.0f} MB (goal < 200 MB)"
    )
    print(f"  report size: {size_mb:.1f} MB (goal < 30 MB)")
    print(f"  prodgate gate on it: {gate_wall:.2f} s wall, {gate_cpu:.2f} s CPU (exit {gate_rc})")


if __name__ == "__main__":
    main()
