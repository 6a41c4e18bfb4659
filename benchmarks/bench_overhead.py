"""Plugin overhead in CPU instructions (callgrind), which repeat exactly on a noisy machine.

Two questions, each answered in one run of this script, every figure from
``valgrind --tool=callgrind`` (the instructions of the pytest process itself;
subprocesses such as ``git rev-parse`` are not followed):

1. *Installed but off*: ordinary tests (no prodgate marker) with the plugin
   installed and no ``--prodgate``, against ``-p no:prodgate``, at 500 and
   2,000 tests. Goal: <= 1.02x.
2. *On*: eval cases with an instant model, ``--prodgate`` against
   ``-p no:prodgate`` (the same tests, plain pytest), at 1,000 cases (goal
   <= 1.10x) and 250 cases; the per-case slope between the two sizes against
   plain pytest's (goal <= 1.05x).

    python benchmarks/bench_overhead.py [--plain 500,2000] [--evals 250,1000]

Bytecode caches are written by a native run first. Slow: each side runs under
callgrind (about 50x slower than native). Both sides run with one BLAS thread:
OpenBLAS's idle pool spins, and callgrind counts the spins, which vary with wall
time (an identical run differed by 75 M instructions).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CONFTEST = """
import pytest


def model_fn(x):
    return x


@pytest.fixture(scope="session")
def model(request):
    # The same fixture graph on both sides: the measured Model with the plugin, the
    # bare callable without it.
    if request.config.pluginmanager.has_plugin("prodgate"):
        from pytest_prodgate import Model

        return Model(model_fn, cost=lambda out: 0.0001)
    return model_fn
"""

EVALS = """
import pytest

pytestmark = pytest.mark.prodgate(
    "bench", accuracy_floor=0.5, latency_p95_ms=1000, cost_per_call_usd=0.01, cost_cap_usd=0.01,
    error_rate_max=0.5
)

@pytest.mark.parametrize("i", range({n}))
def test_case(model, i):
    assert model(i) == i
"""

PLAIN = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_plain(i):
    assert i >= 0
"""

#: Plugins this repo's dev install brings that a user's suite may not have; off on both sides.
UNRELATED = [
    "-p",
    "no:benchmark",
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:xdist",
    "-p",
    "no:randomly",
]
BASE = ["-q", "-p", "no:cacheprovider", *UNRELATED]


def instructions(project: Path, args: list[str]) -> int:
    """Instructions callgrind counts for one ``pytest`` run in ``project``."""
    cmd = [sys.executable, "-m", "pytest", *BASE, *args]
    # One BLAS thread: numpy's OpenBLAS pool busy-waits after the import, and callgrind
    # counts those spins (tens of millions of instructions, varying run to run).
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    # A native run first: bytecode caches written (pytest's rewritten ones of the test
    # modules and of the plugin's, an entry-point plugin), so both sides read them, as
    # in a user's second run. PYTHONDONTWRITEBYTECODE (set on this project's machines)
    # would make every measured run compile those modules again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(cmd, cwd=project, env=env, capture_output=True, check=False)
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}/cg.out",
                *cmd,
            ],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(
            f"pytest {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-2000:]}"
        )
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if match is None:
        raise SystemExit(f"no instruction count from callgrind:\n{proc.stderr[-2000:]}")
    return int(match.group(1))


def project(tmp: Path, name: str, template: str, n: int) -> Path:
    root = tmp / f"{name}{n}"
    root.mkdir()
    (root / "conftest.py").write_text(CONFTEST)
    (root / f"test_{name}.py").write_text(template.format(n=n))
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plain", default="500,2000", help="sizes of the ordinary-test runs")
    parser.add_argument("--evals", default="250,1000", help="two sizes of the eval-case runs")
    opts = parser.parse_args()
    plain_sizes = [int(x) for x in opts.plain.split(",") if x]
    eval_sizes = [int(x) for x in opts.evals.split(",") if x]
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        print("1. ordinary tests, plugin installed without --prodgate vs -p no:prodgate")
        print(f"   {'tests':>6s} {'-p no:prodgate':>16s} {'installed, off':>16s} {'ratio':>7s}")
        for n in plain_sizes:
            root = project(tmp, "plain", PLAIN, n)
            off = instructions(root, ["-p", "no:prodgate"])
            on = instructions(root, [])
            print(f"   {n:6,d} {off:16,d} {on:16,d} {on / off:7.3f}   (goal <= 1.02)")
        print("2. eval cases, instant model: --prodgate vs -p no:prodgate")
        print(f"   {'cases':>6s} {'-p no:prodgate':>16s} {'--prodgate':>16s} {'ratio':>7s}")
        figures = {}
        for n in eval_sizes:
            root = project(tmp, "evals", EVALS, n)
            off = instructions(root, ["-p", "no:prodgate"])
            on = instructions(root, ["--prodgate"])
            figures[n] = (off, on)
            print(f"   {n:6,d} {off:16,d} {on:16,d} {on / off:7.3f}   (goal <= 1.10 at 1,000)")
        if len(eval_sizes) >= 2:
            lo, hi = min(eval_sizes), max(eval_sizes)
            plain_slope = (figures[hi][0] - figures[lo][0]) / (hi - lo)
            gated_slope = (figures[hi][1] - figures[lo][1]) / (hi - lo)
            print(
                f"   per case between {lo:,} and {hi:,}: plain {plain_slope:,.0f}, "
                f"--prodgate {gated_slope:,.0f} instructions; "
                f"slope ratio {gated_slope / plain_slope:.3f}   (goal <= 1.05)"
            )
            fixed = figures[lo][1] - figures[lo][0] - (gated_slope - plain_slope) * lo
            print(
                f"   fixed cost of --prodgate (imports, gating, files): {fixed:,.0f} instructions"
            )


if __name__ == "__main__":
    main()
