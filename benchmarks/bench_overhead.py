"""Plugin overhead: 5,000 eval cases with an instant model, `--prodgate` vs `-p no:prodgate`.

Writes a throwaway project to a temp dir and times both sides in one run,
alternating them (the machine is shared and noisy) and reporting medians.

    python benchmarks/bench_overhead.py [--cases 5000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFTEST = """
import time

import pytest

MODEL_S = {model_s!r}


def model_fn(x):
    if MODEL_S:
        time.sleep(MODEL_S)
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

SUITE = """
import pytest

pytestmark = pytest.mark.prodgate(
    "bench", accuracy_floor=0.5, latency_p95_ms=1000, cost_per_call_usd=0.01, error_rate_max=0.5
)

@pytest.mark.parametrize("i", range({cases}))
def test_case(model, i):
    assert model(i) == i or i % 10 == 0
"""


#: Plugins this repo's dev install brings that a user's suite may not have; off on both sides.
UNRELATED = ["-p", "no:benchmark", "-p", "no:hypothesispytest", "-p", "no:xdist"]


def run(project: Path, args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"pytest {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-2000:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model-ms", type=float, default=0.0, help="model latency per call")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "conftest.py").write_text(CONFTEST.format(model_s=opts.model_ms / 1000))
        (project / "test_bench.py").write_text(SUITE.format(cases=opts.cases))
        (project / "pytest.ini").write_text("[pytest]\n")
        sides = {
            "plain (-p no:prodgate)": ["-p", "no:prodgate", *UNRELATED],
            "prodgate (--prodgate)": ["--prodgate", *UNRELATED],
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        run(project, sides["prodgate (--prodgate)"])  # warm the file system and bytecode caches
        for _ in range(opts.repeats):
            for name, args in sides.items():
                times[name].append(run(project, args))
        plain = statistics.median(times["plain (-p no:prodgate)"])
        gated = statistics.median(times["prodgate (--prodgate)"])
        model = f"{opts.model_ms:g} ms model" if opts.model_ms else "instant model"
        print(f"{opts.cases:,} eval cases, {model}, median of {opts.repeats} alternating runs")
        for name, ts in times.items():
            runs = ", ".join(f"{t:.2f}" for t in ts)
            print(f"  {name:24s} {statistics.median(ts):7.2f} s   runs: {runs}")
        print(f"  wall-time ratio prodgate / plain: {gated / plain:.3f}  (target <= 1.10)")
        per_case = (gated - plain) / opts.cases * 1e3
        print(f"  added per eval case: {per_case:.3f} ms (fixed start-up and gating included)")


if __name__ == "__main__":
    main()
