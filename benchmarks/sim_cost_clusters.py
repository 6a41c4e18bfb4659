"""False PASS / FAIL of the cost gate when cases make different numbers of calls.

Two kinds of population, each with the budget at the true mean cost per call (sum
of costs over sum of calls), so any PASS or FAIL is false:

* half the cases make one call, half nine, with different prices; each call costs
  uniformly within +/-50% of its price;
* "rare": a case makes one or two calls; a call costs $0.001, or the cap ($0.02)
  with probability 2% (a long answer): at a few cases most runs see no costly call,
  and every call cost the same.

Prints one row per population and n (cases).

    python benchmarks/sim_cost_clusters.py [RUNS]   (default 1000; about 35 s)
"""

from __future__ import annotations

import math
import sys

import numpy as np

from pytest_prodgate.gating.cost import cost_interval
from pytest_prodgate.gating.gates import GatePolicy
from pytest_prodgate.stats.seeds import gate_seed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    policy = GatePolicy(resamples=1999)
    se = math.sqrt(0.025 * 0.975 / runs)
    print(f"{'population':30s} {'n':>5s} {'false PASS':>10s} {'false FAIL':>10s}")
    print(f"(runs={runs}, Monte-Carlo SE at 2.5%: {se:.3f}; cap $0.02)")
    populations = {
        "1 call $0.001 / 9 calls $0.01": (0.001, 1, 0.01, 9),
        "1 call $0.01 / 9 calls $0.001": (0.01, 1, 0.001, 9),
    }
    seed = gate_seed(0, "s", "cost_per_call_usd")
    for label, (c1, m1, c2, m2) in populations.items():
        true = (c1 * m1 + c2 * m2) / (m1 + m2)
        for n in (3, 5, 10, 30, 100, 400):
            rng = np.random.default_rng(n)
            false_pass = false_fail = 0
            for _ in range(runs):
                values: list[float] = []
                clusters: list[int] = []
                for case, big in enumerate(rng.random(n) < 0.5):
                    price, calls = (c2, m2) if big else (c1, m1)
                    values += list(rng.uniform(0.5 * price, 1.5 * price, calls))
                    clusters += [case] * calls
                iv = cost_interval(np.array(values), np.array(clusters), 0.02, policy, seed)
                false_pass += iv.upper <= true
                false_fail += iv.lower > true
            print(f"{label:30s} {n:5d} {false_pass / runs:10.3f} {false_fail / runs:10.3f}")
    cheap, cap, p = 0.001, 0.02, 0.02
    true = cheap + p * (cap - cheap)
    for n in (3, 5, 10, 30, 100, 400):
        rng = np.random.default_rng(1000 + n)
        false_pass = false_fail = 0
        for _ in range(runs):
            calls = rng.integers(1, 3, n)
            clusters_arr = np.repeat(np.arange(n), calls)
            costs = np.where(rng.random(clusters_arr.size) < p, cap, cheap)
            iv = cost_interval(costs, clusters_arr, cap, policy, seed)
            false_pass += iv.upper <= true
            false_fail += iv.lower > true
        label = "rare: 1-2 calls, 2% cost cap"
        print(f"{label:30s} {n:5d} {false_pass / runs:10.3f} {false_fail / runs:10.3f}")


if __name__ == "__main__":
    main()
