"""Early stopping (SPEC §13): calls saved, and error rates at the target, by seeded simulation.

Run: ``.venv/bin/python benchmarks/bench_early.py [--reps 2000] [--seed 0]``

Table 1: 1,000 planned 0/1 cases, floor 0.90, 10 looks, the exact binomial
group-sequential rule of :mod:`pytest_prodgate.stats.sequential`: at true
accuracy floor +/- 0.05 and +/- 0.10, the share of model calls saved (cases not
run / planned), how often each verdict comes, and the power of the fixed-size
exact one-sided test at 1,000 cases for comparison.

Table 2: false PASS and false FAIL at the target (truth = target) with early
stopping on, for each sequential rule and several planned n, with the
Monte-Carlo standard error and whether the cell is within 2.5% + 3 SE; then
the power at a stated effect against the fixed-size test's (Table 3: the
product's rule, whose last look keeps the fixed-size test, and alpha spent
alone; Table 5: the spending power rho; Table 4: the betting rule, stakes
tuned for the planned n and for every n, against the fixed-size betting gate).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import numpy as np
from scipy.stats import binom

from pytest_prodgate.stats.bounded import betting_mean
from pytest_prodgate.stats.sequential import (
    SPENDING_RHO,
    betting_decision,
    binomial_boundaries,
    plan_looks,
)

ALPHA = 0.025
LOOKS = 10


def binomial_runs(
    p: float,
    p0: float,
    planned: int,
    reps: int,
    rng: np.random.Generator,
    good_high: bool,
    rho: float = SPENDING_RHO,
    keep_fixed: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Verdicts ("P", "F", "I") and cases used of ``reps`` sequential runs of a share.

    ``keep_fixed``: the product's rule for a suite's gates (the last look keeps
    the fixed-size test; ``final=planned``); ``False``: alpha spent by itself
    (a slice's rule, and the rule before the last look kept the fixed test).
    """
    looks = plan_looks(planned, LOOKS)
    final = planned if keep_fixed else None
    bounds = binomial_boundaries(p0, looks, alpha=ALPHA, rho=rho, final=final)
    steps = np.diff([0, *looks])
    counts = np.cumsum(rng.binomial(steps, p, size=(reps, len(steps))), axis=1)
    verdict = np.full(reps, "I")
    used = np.full(reps, planned)
    open_ = np.ones(reps, dtype=bool)
    for k, b in enumerate(bounds):
        up = open_ & (counts[:, k] >= (np.inf if b.upper is None else b.upper))
        low = open_ & (counts[:, k] <= (-np.inf if b.lower is None else b.lower))
        verdict[up] = "P" if good_high else "F"
        verdict[low] = "F" if good_high else "P"
        used[up | low] = b.n
        open_ &= ~(up | low)
    return verdict, used


def fixed_power(p: float, p0: float, n: int, good_high: bool) -> float:
    """Power of the fixed-size exact one-sided binomial test at level ALPHA."""
    (b,) = binomial_boundaries(p0, [n], alpha=ALPHA)
    if good_high:
        return 0.0 if b.upper is None else float(binom.sf(b.upper - 1, n, p))
    return 0.0 if b.lower is None else float(binom.cdf(b.lower, n, p))


def betting_runs(
    draw: Callable[[int], np.ndarray],
    target: float,
    planned: int,
    reps: int,
    bounds: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    looks = plan_looks(planned, LOOKS)
    verdict = np.full(reps, "I")
    used = np.full(reps, planned)
    for r in range(reps):
        d = betting_decision(draw(planned), looks, target, ">=", ALPHA, bounds, planned=planned)
        if d.verdict != "INCONCLUSIVE":
            verdict[r] = d.verdict[0]
            used[r] = looks[d.look - 1]
    return verdict, used


def saved_table(reps: int, rng: np.random.Generator) -> None:
    print(f"Table 1: 1,000 planned 0/1 cases, floor 0.90, {LOOKS} looks, {reps:,} runs each")
    print(f"{'truth':>6} {'saved':>7} {'PASS':>6} {'FAIL':>6} {'INCONC':>7} {'fixed-n power':>13}")
    for truth in (0.80, 0.85, 0.95, 1.00):
        v, used = binomial_runs(truth, 0.90, 1000, reps, rng, good_high=True)
        good = truth > 0.90
        fp = fixed_power(truth, 0.90, 1000, good)
        print(
            f"{truth:6.2f} {1 - used.mean() / 1000:7.1%} {np.mean(v == 'P'):6.1%} "
            f"{np.mean(v == 'F'):6.1%} {np.mean(v == 'I'):7.1%} {fp:13.1%}"
        )


def _cell(rate: float, reps: int) -> tuple[str, bool]:
    se = math.sqrt(max(rate * (1 - rate), ALPHA * (1 - ALPHA)) / reps)
    return f"{rate:6.2%} ±{se:5.2%}", rate <= ALPHA + 3 * se


def error_table(reps: int, rng: np.random.Generator) -> bool:
    print()
    print(
        f"Table 2: error at the target with early stopping ({LOOKS} looks, {reps:,} runs per "
        "cell; OK = within 2.5% + 3 SE)"
    )
    print(f"{'rule':<40} {'n':>5} {'false PASS':>15} {'false FAIL':>15} {'saved':>6}  ok")
    ok_all = True
    rows: list[tuple[str, Callable[[int], tuple[np.ndarray, np.ndarray]]]] = []
    for floor in (0.5, 0.9, 0.99):
        rows.append(
            (
                f"accuracy 0/1, floor {floor} (binomial)",
                lambda n, f=floor: binomial_runs(f, f, n, reps, rng, True),
            )
        )
    for cap in (0.01, 0.1):
        rows.append(
            (
                f"error rate, max {cap} (binomial)",
                lambda n, c=cap: binomial_runs(c, c, n, reps, rng, False),
            )
        )
    rows.append(
        (
            "latency p95 exceedances (binomial)",
            lambda n: binomial_runs(0.05, 0.05, n, reps, rng, False),
        )
    )
    grid = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    probs = np.array([0.05, 0.05, 0.15, 0.25, 0.5])
    mean = float(grid @ probs)
    bet_reps = max(200, reps // 4)
    rows.append(
        (
            f"graded 5-point, mean {mean:.4g} (betting)",
            lambda n: betting_runs(
                lambda m: rng.choice(grid, m, p=probs), mean, n, bet_reps, (0.0, 1.0)
            ),
        )
    )
    rows.append(
        (
            "paired flips 5%/5%, max 0 (betting)",
            lambda n: betting_runs(
                lambda m: rng.choice([-1.0, 0.0, 1.0], m, p=[0.05, 0.9, 0.05]),
                0.0,
                n,
                bet_reps,
                (-1.0, 1.0),
            ),
        )
    )
    for name, sim in rows:
        for n in (20, 50, 100, 400, 1000):
            v, used = sim(n)
            r = len(v)
            fp, ok1 = _cell(float(np.mean(v == "P")), r)
            ff, ok2 = _cell(float(np.mean(v == "F")), r)
            ok_all &= ok1 and ok2
            print(
                f"{name:<40} {n:>5} {fp:>15} {ff:>15} {1 - used.mean() / n:6.1%}  "
                f"{'OK' if ok1 and ok2 else 'OVER'}"
            )
    return ok_all


def power_table(reps: int, rng: np.random.Generator) -> None:
    print()
    print("Table 3: power at the last look vs the fixed-size exact test (0/1, floor 0.90)")
    print(
        f"{'n':>5} {'truth':>6} {'sequential':>10} {'fixed-n':>8} {'gap':>6} {'saved':>6} "
        f"{'alpha-only':>10} {'saved':>6}"
    )
    for n, truth in ((50, 0.99), (100, 0.97), (400, 0.935), (1000, 0.92)):
        v, used = binomial_runs(truth, 0.90, n, reps, rng, True)
        v0, used0 = binomial_runs(truth, 0.90, n, reps, rng, True, keep_fixed=False)
        seq = float(np.mean(v == "P"))
        fixed = fixed_power(truth, 0.90, n, True)
        print(
            f"{n:>5} {truth:6.3f} {seq:10.1%} {fixed:8.1%} {fixed - seq:+6.1%} "
            f"{1 - used.mean() / n:6.1%} {float(np.mean(v0 == 'P')):10.1%} "
            f"{1 - used0.mean() / n:6.1%}"
        )


def spending_table(reps: int, rng: np.random.Generator) -> None:
    print()
    print(
        "Table 5: the spending power rho (alpha * t^rho) against calls saved and last-look "
        "power (0/1, floor 0.90)"
    )
    print(
        f"{'rho':>4} {'saved 0.85':>10} {'saved 0.95':>10} {'power n=100':>11} "
        f"{'n=400':>6} {'n=1000':>6}"
    )
    for rho in (1.0, 2.0, 3.0):
        saved = [
            1 - binomial_runs(t, 0.90, 1000, reps, rng, True, rho)[1].mean() / 1000
            for t in (0.85, 0.95)
        ]
        power = [
            float(np.mean(binomial_runs(t, 0.90, n, reps, rng, True, rho)[0] == "P"))
            for n, t in ((100, 0.97), (400, 0.935), (1000, 0.92))
        ]
        print(
            f"{rho:4g} {saved[0]:10.1%} {saved[1]:10.1%} {power[0]:11.1%} "
            f"{power[1]:6.1%} {power[2]:6.1%}"
        )


def betting_power_table(reps: int, rng: np.random.Generator) -> None:
    print()
    print(
        "Table 4: power of the betting rule (stakes tuned for n, as the suite's gates; and "
        "for every n, as a slice's) vs the fixed-size gate (betting bound) and a normal "
        "interval (graded 5-point scores, target 0.775)"
    )
    print(
        f"{'n':>5} {'truth':>6} {'sequential':>10} {'any-n':>6} {'fixed gate':>10} "
        f"{'normal':>7} {'gap':>6} {'saved':>6}"
    )
    grid = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    base = np.array([0.05, 0.05, 0.15, 0.25, 0.5])
    better = np.array([0.02, 0.03, 0.12, 0.25, 0.58])  # mean 0.830
    z = 1.959963984540054
    r = max(200, reps // 4)
    for n in (50, 100, 400, 1000):
        target = float(grid @ base)
        x = rng.choice(grid, size=(r, n), p=better)
        normal = float(np.mean(x.mean(1) - z * x.std(1, ddof=1) / math.sqrt(n) >= target))
        gate = float(
            np.mean([betting_mean(row, 0.95, k).lower >= target for k, row in enumerate(x)])
        )
        looks = plan_looks(n, LOOKS)
        ds = [betting_decision(row, looks, target, ">=", ALPHA, planned=n) for row in x]
        seq = float(np.mean([d.verdict == "PASS" for d in ds]))
        anyn = float(
            np.mean(
                [betting_decision(row, looks, target, ">=", ALPHA).verdict == "PASS" for row in x]
            )
        )
        used = np.mean([looks[d.look - 1] if d.verdict != "INCONCLUSIVE" else n for d in ds])
        print(
            f"{n:>5} {float(grid @ better):6.3f} {seq:10.1%} {anyn:6.1%} {gate:10.1%} "
            f"{normal:7.1%} {gate - seq:+6.1%} {1 - used / n:6.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    saved_table(args.reps, rng)
    ok = error_table(args.reps, rng)
    power_table(args.reps, rng)
    spending_table(args.reps, rng)
    betting_power_table(args.reps, rng)
    print()
    print("every cell within 2.5% + 3 SE" if ok else "SOME CELL EXCEEDS 2.5% + 3 SE")


if __name__ == "__main__":
    main()
