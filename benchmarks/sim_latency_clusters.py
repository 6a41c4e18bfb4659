"""Error of each side of the latency gate's p95 bounds when cases make several calls.

A case's calls share its input and are alike: latency is the case's lognormal
level (sigma 0.5) times a small per-call jitter (sigma 0.05). Populations:

* "5 trials": every case called 5 times (``--prodgate-trials 5``);
* "1-4 calls": a case makes 1 to 4 calls, independent of its level;
* "slow retry": slow cases (level above the median) make 4 calls, others 1, so
  the calls' p95 is not the cases' p95.

For each population and n (cases) the true p95 of one call is computed (exactly,
or from 2,000,000 calls), and each side's error is counted over RUNS runs: the
lower bound above the truth (a false FAIL at that budget) and the upper bound
below it (a false PASS). "pooled" is the order-statistic interval of all calls as
if independent (what the gate did); "clustered" is
``stats.quantile_bounds_clustered`` (what it does now).

    python benchmarks/sim_latency_clusters.py [RUNS]   (default 1000; about 30 s)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import numpy as np
from scipy.stats import norm

from pytest_prodgate import stats

Draw = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]
SIGMA, JITTER, Q = 0.5, 0.05, 0.95


def _calls(
    rng: np.random.Generator, levels: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    case = np.repeat(np.arange(levels.size), counts)
    return levels[case] * rng.lognormal(0.0, JITTER, case.size), case


def trials(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return _calls(rng, rng.lognormal(0.0, SIGMA, n), np.full(n, 5))


def some_calls(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return _calls(rng, rng.lognormal(0.0, SIGMA, n), rng.integers(1, 5, n))


def slow_retry(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    levels = rng.lognormal(0.0, SIGMA, n)
    return _calls(rng, levels, np.where(levels > 1.0, 4, 1))


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    se = math.sqrt(0.025 * 0.975 / runs)
    exact = math.exp(norm.ppf(Q) * math.hypot(SIGMA, JITTER))
    big, _ = slow_retry(np.random.default_rng(99), 2_000_000)
    populations: dict[str, tuple[Draw, float]] = {
        "5 trials": (trials, exact),
        "1-4 calls": (some_calls, exact),
        "slow retry": (slow_retry, float(np.quantile(big, Q))),
    }
    print(f"runs={runs}, Monte-Carlo SE at 2.5%: {se:.3f}; each side should be <= 0.025")
    print(
        f"{'population':12s} {'cases':>5s} | {'pooled lo>p95':>13s} {'pooled up<p95':>13s}"
        f" | {'clustered lo>p95':>16s} {'clustered up<p95':>16s}"
    )
    for label, (draw, truth) in populations.items():
        for n in (20, 50, 100, 300, 1000):
            rng = np.random.default_rng(n)
            counts = np.zeros(4)
            for r in range(runs):
                x, case = draw(rng, n)
                pooled = stats.quantile_bounds(x, Q)
                clustered = stats.quantile_bounds_clustered(x, case, Q, seed=r)
                counts += (
                    pooled.lower > truth,
                    pooled.upper < truth,
                    clustered.lower > truth,
                    clustered.upper < truth,
                )
            a, b, c, d = counts / runs
            print(f"{label:12s} {n:5d} | {a:13.3f} {b:13.3f} | {c:16.3f} {d:16.3f}")


if __name__ == "__main__":
    main()
