"""Wrong early stops of the latency gate's sequential rule when cases make several calls.

A case's latency is its lognormal level (sigma 0.5) times 5% jitter per trial,
every case run ``trials`` times; the budget is the true p95 of one call, so
neither verdict is right and every stop is an error. Ten looks over the planned
cases. "pooled" is the exact binomial rule on all calls as if independent (what
early stopping did); "cases" is ``gating.early``'s rule now (a betting test of each
case's share of calls over the budget). Each cell: wrong PASS / wrong FAIL,
against a promised 0.025 a side.

    python benchmarks/sim_early_latency.py [RUNS]   (default 1000; about 2 minutes)
"""

from __future__ import annotations

import sys

import numpy as np

from pytest_prodgate.gating import early
from pytest_prodgate.gating.gates import GatePolicy, SuiteContext
from pytest_prodgate.schema.report import CallReport, CaseReport, EarlyStopReport, TrialReport
from pytest_prodgate.stats.sequential import binomial_decision, plan_looks

SIGMA, JITTER, Z95, ALPHA = 0.5, 0.05, 1.6448536269514722, 0.025


def _cases(lat: np.ndarray) -> list[CaseReport]:
    return [
        CaseReport(
            id=f"c{i}",
            suite="s",
            trials=[
                TrialReport(
                    nodeid=f"t[c{i}]",
                    trial=k,
                    outcome="passed",
                    score=1.0,
                    calls=[CallReport(latency_ms=float(ms), ok=True)],
                )
                for k, ms in enumerate(row)
            ],
        )
        for i, row in enumerate(lat)
    ]


def main(runs: int) -> None:
    budget = float(np.exp(Z95 * np.hypot(SIGMA, JITTER)))
    print(f"R = {runs} runs a cell; MC SE at 0.025: {np.sqrt(0.025 * 0.975 / runs):.4f}")
    print(f"{'trials':>6} {'cases':>6} {'pooled PASS/FAIL':>18} {'cases PASS/FAIL':>18}")
    for trials in (3, 5):
        for planned in (50, 200, 500):
            rng = np.random.default_rng([trials, planned])
            looks = plan_looks(planned, 10)
            info = EarlyStopReport(looks=looks, planned=planned, order=[])
            fractions = [n / planned for n in looks]
            tally = {"pooled": [0, 0], "cases": [0, 0]}
            for _ in range(runs):
                levels = rng.lognormal(0.0, SIGMA, planned)
                lat = levels[:, None] * rng.lognormal(0.0, JITTER, (planned, trials))
                over = [int((lat[:n] > budget).sum()) for n in looks]
                pooled = binomial_decision(
                    over, [n * trials for n in looks], 0.05, "<=", ALPHA, fractions
                )
                ctx = SuiteContext("s", {"latency_p95_ms": budget}, _cases(lat), GatePolicy())
                now = early.decide_suite(ctx, info)["latency_p95_ms"]
                assert now is not None
                for name, d in (("pooled", pooled), ("cases", now)):
                    if d.verdict in ("PASS", "FAIL"):
                        tally[name][d.verdict == "FAIL"] += 1
            cells = [f"{p / runs:.3f}/{f / runs:.3f}" for p, f in tally.values()]
            print(f"{trials:>6} {planned:>6} {cells[0]:>18} {cells[1]:>18}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
