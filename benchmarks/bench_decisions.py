"""Decision quality of every gate kind, measured: false PASS, false FAIL and power by n.

Run: ``PYTHONPATH=src python benchmarks/bench_decisions.py [--quick] [--before] [--reps R]``
(``--margin``: the regression gate with ``max_regression`` > 0 only: its
betting bound, exact McNemar and the bootstrap).

Each cell draws data whose truth is known, gates it with the functions the
product's evaluators call (``share_interval``, ``cost_interval``,
``paired_interval``, ``quantile_bounds``, ``throughput_interval``, ``compare``,
Holm's ``holm_steps``) and counts verdicts. Seeds are fixed per (kind, n,
truth), so every run prints the same table. Columns:

* ``false PASS`` / ``false FAIL``: the truth is exactly the target; the
  promise is at most 2.5% each;
* ``PASS +e`` / ``FAIL -e``: power, the truth a stated effect ``e`` on the good
  (bad) side of the target;
* ``width``: the median interval width at the target (finite ones only).

0/1 shares (accuracy, error rate) are summed exactly over every binomial count
(no Monte-Carlo error); the others are simulated with R repetitions, and the
worst cell is printed with its Monte-Carlo standard error.

``--before`` gates with the methods of the code before issue 8: Wilson for
0/1 shares, the BCa bootstrap for graded scores, trials, cost (no minimum n)
and regression, the window bootstrap for throughput, no Holm correction
(today's code reaches each of them through ``--prodgate-ci-method``, except
the uncapped cost, which today has only a lower bound: the bench calls the
bootstrap for it).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist, median
from typing import Any

import numpy as np

from pytest_prodgate import stats
from pytest_prodgate.gating.cost import cost_interval
from pytest_prodgate.gating.gates import GatePolicy, compare
from pytest_prodgate.gating.multiplicity import holm_steps
from pytest_prodgate.gating.regression import paired_interval
from pytest_prodgate.gating.shares import share_interval
from pytest_prodgate.stats.windows import throughput_interval

NS = (1, 5, 10, 20, 30, 50, 100, 400, 1000)
QUICK_NS = (1, 10, 30, 100)
ALPHA = 0.025
RESAMPLES = 999  # the bootstrap (before, and uncapped cost) at 999 resamples: 10x faster
SEED = np.random.SeedSequence(0)


@dataclass
class Cell:
    kind: str
    n: int
    false_pass: float
    false_fail: float
    power_pass: float
    power_fail: float
    width: float
    reps: int  # 0: exact sum over binomial counts

    def se(self, p: float) -> float:
        return (
            0.0 if self.reps == 0 else math.sqrt(max(p * (1 - p), ALPHA * (1 - ALPHA)) / self.reps)
        )


def _policy(before: bool, zero_one: bool = False) -> GatePolicy:
    if before:
        return GatePolicy(resamples=RESAMPLES, ci_method="wilson" if zero_one else "bootstrap")
    return GatePolicy(resamples=RESAMPLES)


def _seed(*key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([0, *key])


def _verdict(comparator: str, target: float, iv: stats.Interval) -> str:
    return compare(">=" if comparator == ">=" else "<=", target, iv)


# --------------------------------------------------------------------------- exact 0/1 shares


def _binomial_cell(
    kind: str, n: int, target: float, effect: float, comparator: str, before: bool
) -> Cell:
    """accuracy (>= floor) or error rate (<= max): exact sums over the count."""
    from scipy.stats import binom

    policy = _policy(before, zero_one=True)
    verdicts, widths = [], []
    for k in range(n + 1):
        values = np.zeros(n)
        values[:k] = 1.0
        iv = share_interval(values, None, policy, _seed(k))
        verdicts.append(_verdict(comparator, target, iv))
        widths.append(iv.upper - iv.lower)
    ks = np.arange(n + 1)

    def rate(p: float, verdict: str) -> float:
        pmf = binom.pmf(ks, n, p)
        return float(sum(w for w, v in zip(pmf, verdicts, strict=True) if v == verdict))

    good = target + effect if comparator == ">=" else target - effect
    bad = target - effect if comparator == ">=" else target + effect
    pmf = binom.pmf(ks, n, target)
    order = np.argsort(widths)
    cdf = np.cumsum(pmf[order])
    med = float(np.asarray(widths)[order][int(np.searchsorted(cdf, 0.5))])
    return Cell(
        kind, n, rate(target, "PASS"), rate(target, "FAIL"), rate(good, "PASS"),
        rate(bad, "FAIL"), med, 0,
    )  # fmt: skip


# --------------------------------------------------------------------------- simulated kinds

Draw = Callable[[np.random.Generator, int, float], Any]
Gate = Callable[[Any, np.random.SeedSequence], stats.Interval]


def _mc_cell(
    kind: str,
    n: int,
    reps: int,
    target: float,
    truths: tuple[float, float, float],
    comparator: str,
    draw: Draw,
    gate: Gate,
    key: int,
) -> Cell:
    """truths: (at target, good side, bad side)."""
    rates = []
    widths: list[float] = []
    for j, truth in enumerate(truths):
        rng = np.random.default_rng(_seed(key, n, j))
        ps = fs = 0
        for r in range(reps):
            iv = gate(draw(rng, n, truth), _seed(key, n, j, r))
            v = _verdict(comparator, target, iv)
            ps += v == "PASS"
            fs += v == "FAIL"
            if j == 0 and math.isfinite(iv.upper - iv.lower):
                widths.append(iv.upper - iv.lower)
        rates.append((ps / reps, fs / reps))
    width = median(widths) if widths else math.inf
    return Cell(kind, n, rates[0][0], rates[0][1], rates[1][0], rates[2][1], width, reps)


def graded_cell(n: int, reps: int, before: bool) -> Cell:
    """Scores Binomial(4, θ)/4 on a 5-point grid, mean θ; floor 0.8, effect 0.05."""
    policy = _policy(before)

    def draw(rng: np.random.Generator, n: int, theta: float) -> np.ndarray[Any, Any]:
        return rng.binomial(4, theta, n) / 4.0

    def gate(x: np.ndarray[Any, Any], seed: np.random.SeedSequence) -> stats.Interval:
        return share_interval(x, None, policy, seed)

    return _mc_cell("accuracy graded", n, reps, 0.8, (0.8, 0.85, 0.75), ">=", draw, gate, 1)


def trials_cell(n: int, reps: int, before: bool) -> Cell:
    """3 trials of each case, its own chance p_i ~ Beta(8m, 8(1 - m)); floor 0.8, e = 0.05."""
    policy = _policy(before)
    codes = {}

    def draw(rng: np.random.Generator, n: int, m: float) -> np.ndarray[Any, Any]:
        p = rng.beta(8 * m, 8 * (1 - m), n)
        return (rng.random((n, 3)) < p[:, None]).astype(float).ravel()

    def gate(x: np.ndarray[Any, Any], seed: np.random.SeedSequence) -> stats.Interval:
        c = codes.setdefault(x.size, np.repeat(np.arange(x.size // 3), 3))
        return share_interval(x, c, policy, seed)

    return _mc_cell("accuracy trials=3", n, reps, 0.8, (0.8, 0.85, 0.75), ">=", draw, gate, 2)


def latency_cell(n: int, reps: int, before: bool) -> Cell:
    """p95 of lognormal(0, 0.5) latencies against a budget at the true p95; e = ±20%."""
    p95 = math.exp(0.5 * NormalDist().inv_cdf(0.95))

    def draw(rng: np.random.Generator, n: int, scale: float) -> np.ndarray[Any, Any]:
        return rng.lognormal(0.0, 0.5, n) * scale

    def gate(x: np.ndarray[Any, Any], seed: np.random.SeedSequence) -> stats.Interval:
        return stats.quantile_bounds(x, 0.95)

    return _mc_cell("latency p95", n, reps, p95, (1.0, 1 / 1.2, 1.2), "<=", draw, gate, 3)


def _capped_mean(mu: float, sigma: float, cap: float) -> float:
    nd = NormalDist()
    a = (math.log(cap) - mu) / sigma
    return math.exp(mu + sigma**2 / 2) * nd.cdf(a - sigma) + cap * (1 - nd.cdf(a))


def cost_cell(n: int, reps: int, before: bool, capped: bool) -> Cell:
    """Lognormal(σ = 1) cost per call (capped at 10x its median when ``capped``); e = ±20%."""
    policy = _policy(before)
    cap = 10.0 if capped else None
    budget = _capped_mean(0.0, 1.0, 10.0) if capped else math.exp(0.5)

    def draw(rng: np.random.Generator, n: int, scale: float) -> tuple[Any, float | None]:
        x = rng.lognormal(0.0, 1.0, n)
        if cap is None:
            return x * scale, None
        return np.minimum(x, cap) * scale, cap * scale  # the cap scales with the costs

    def gate(data: tuple[Any, float | None], seed: np.random.SeedSequence) -> stats.Interval:
        x, c = data
        if before:  # today's gate: the BCa bootstrap at every n, no cap
            return stats.bootstrap_mean(x, resamples=RESAMPLES, seed=seed)
        return cost_interval(x, None, c, policy, seed)

    name = "cost (cap)" if capped else "cost (no cap)"
    return _mc_cell(name, n, reps, budget, (1.0, 1 / 1.2, 1.2), "<=", draw, gate, 4 + capped)


def _paired(rng: np.random.Generator, n: int, theta: float) -> tuple[Any, Any]:
    """Paired 0/1 outcomes (current, baseline): 80% pass, 10% of pairs discordant, a
    share ``theta`` of those regressed."""
    base = (rng.random(n) < 0.8).astype(float)
    disc = rng.random(n) < 0.1
    regress = rng.random(n) < theta
    cur = base.copy()
    cur[disc & regress], base[disc & regress] = 0.0, 1.0
    cur[disc & ~regress], base[disc & ~regress] = 1.0, 0.0
    return cur, base


def regression_cell(n: int, reps: int, before: bool) -> Cell:
    """Paired 0/1 outcomes, 10% discordant; Δ = 0.1 (1 - 2θ): 0 at the target, e = ±0.05."""
    policy = _policy(before)

    def gate(pair: tuple[Any, Any], seed: np.random.SeedSequence) -> stats.Interval:
        return paired_interval(pair[0], pair[1], 0.0, policy, seed)

    return _mc_cell("regression", n, reps, 0.0, (0.5, 0.25, 0.75), ">=", _paired, gate, 6)


def throughput_cell(n: int, reps: int, before: bool) -> Cell:
    """n windows of 0.5 s; rate 8 (1 + 0.25 u) req/s, u AR(1) with ρ = 0.5; e = ±15%."""
    policy = _policy(before)
    target, width, lat = 8.0, 0.5, 0.1

    def draw(rng: np.random.Generator, n: int, scale: float) -> list[dict[str, Any]]:
        runs = []
        for start in range(0, n, 20):
            w = min(20, n - start)
            u = np.empty(w)
            u[0] = rng.standard_normal()
            for i in range(1, w):
                u[i] = 0.5 * u[i - 1] + math.sqrt(0.75) * rng.standard_normal()
            rate = np.clip(target * scale * (1 + 0.25 * u), 0.0, None)
            k = rng.poisson(rate * width)
            ends = np.repeat(np.arange(w), k) * width + rng.random(int(k.sum())) * width
            calls = [(e - lat, e, True, None) for e in ends.tolist()]
            runs.append({"duration_s": w * width, "calls": calls})
        return runs

    def gate(runs: Any, seed: np.random.SeedSequence) -> stats.Interval:
        est, lo, hi, nw, method = throughput_interval(
            runs, policy.confidence, policy.resamples, seed, method=policy.ci_method
        )
        return stats.Interval(est, lo, hi, nw, method)

    return _mc_cell("throughput", n, reps, target, (1.0, 1.15, 0.85), ">=", draw, gate, 7)


MARGINS = (0.02, 0.05)
MARGIN_NS = (50, 100, 400, 1000)


def margin_cell(n: int, reps: int, margin: float, method: str) -> Cell:
    """``max_regression = margin`` > 0: paired 0/1 outcomes, 10% discordant, Δ = -margin.

    Δ = 0.1 (1 - 2θ), θ the share of discordant pairs that regressed; the truth
    is Δ = -margin at the target and -margin ± margin (e = margin) for power.
    ``method``: ``auto`` (the gate: the betting bound of the paired
    differences), ``mcnemar`` (exact McNemar with the margin, Bonferroni over
    θ and the discordance: the gate's method before) or ``bootstrap`` (the
    paired BCa bootstrap).
    """
    policy = GatePolicy(resamples=RESAMPLES, ci_method="auto" if method == "mcnemar" else method)

    def theta(delta: float) -> float:
        return (1.0 - delta / 0.1) / 2.0

    def gate(pair: tuple[Any, Any], seed: np.random.SeedSequence) -> stats.Interval:
        if method == "mcnemar":
            cur, base = pair
            b, f = int(np.count_nonzero(base > cur)), int(np.count_nonzero(cur > base))
            return stats.mcnemar_delta(b, f, len(cur), policy.confidence, margin=margin)
        return paired_interval(pair[0], pair[1], margin, policy, seed)

    truths = (theta(-margin), theta(0.0), theta(-2 * margin))
    key = 9 + MARGINS.index(margin)
    name = f"max_regression {margin:g} ({method})"
    return _mc_cell(name, n, reps, -margin, truths, ">=", _paired, gate, key)


def margin_table(reps: int) -> list[Cell]:
    """Every margin × method × n of :func:`margin_cell` (same draws for both methods)."""
    return [
        margin_cell(n, reps, m, method)
        for m in MARGINS
        for method in ("auto", "mcnemar", "bootstrap")
        for n in MARGIN_NS
    ]


def suite_cell(n: int, reps: int, before: bool) -> Cell:
    """A suite of 5 gates at 0.9: accuracy over 4 slices of n cases each, and each slice floor.

    false PASS: the share of slice gates that PASS; false FAIL: runs in which any
    gate FAILs (after Holm unless --before); power: every slice +e (the suite
    PASSes) / one slice at -e (that slice FAILs).
    """
    policy = _policy(before, zero_one=True)
    floor, m = 0.9, 5

    def fails(slices: list[np.ndarray[Any, Any]], level: float) -> set[str]:
        pol = GatePolicy(confidence=level, ci_method=policy.ci_method)
        out = set()
        for i, s in enumerate([np.concatenate(slices), *slices]):
            if share_interval(s, None, pol, _seed(i)).upper < floor:
                out.add(str(i))
        return out

    rates = []
    widths: list[float] = []
    for j, truths in enumerate(([0.9] * 4, [0.95] * 4, [0.85, 0.9, 0.9, 0.9])):
        rng = np.random.default_rng(_seed(8, n, j))
        ps = fs = 0.0
        for _ in range(reps):
            slices = [(rng.random(n) < p).astype(float) for p in truths]
            ivs = [share_interval(s, None, policy, _seed(i)) for i, s in enumerate(slices, 1)]
            if j == 0:
                widths.extend(iv.upper - iv.lower for iv in ivs)
            base = fails(slices, 0.95)
            if not before and base:
                base, _ = holm_steps(sorted(base), m, 0.95, lambda lv, s=slices: fails(s, lv))
            if j == 0:
                ps += sum(iv.lower >= floor for iv in ivs) / 4
                fs += bool(base)
            elif j == 1:
                ps += all(iv.lower >= floor for iv in ivs)
            else:
                fs += "1" in base
        rates.append((ps / reps, fs / reps))
    return Cell("suite: 4 slices + all", n, rates[0][0], rates[0][1], rates[1][0], rates[2][1],
                median(widths), reps)  # fmt: skip


KINDS: dict[str, Callable[[int, int, bool], Cell]] = {
    "accuracy 0/1": lambda n, r, b: _binomial_cell("accuracy 0/1", n, 0.9, 0.05, ">=", b),
    "accuracy graded": graded_cell,
    "accuracy trials=3": trials_cell,
    "suite: 4 slices + all": suite_cell,
    "error rate": lambda n, r, b: _binomial_cell("error rate", n, 0.01, 0.005, "<=", b),
    "latency p95": latency_cell,
    "cost (cap)": lambda n, r, b: cost_cell(n, r, b, capped=True),
    "cost (no cap)": lambda n, r, b: cost_cell(n, r, b, capped=False),
    "regression": regression_cell,
    "throughput": throughput_cell,
}
EFFECTS = {
    "accuracy 0/1": "floor 0.90, e = 0.05",
    "accuracy graded": "5-point grid, floor 0.80, e = 0.05",
    "accuracy trials=3": "p_i ~ Beta, floor 0.80, e = 0.05",
    "suite: 4 slices + all": "5 gates at 0.90, e = 0.05",
    "error rate": "max 0.010, e = 0.005",
    "latency p95": "lognormal σ=0.5, e = ×1.2",
    "cost (cap)": "lognormal σ=1 capped at 10×median, e = ×1.2",
    "cost (no cap)": "lognormal σ=1, e = ×1.2",
    "regression": "10% discordant, Δ target 0, e = 0.05",
    "throughput": "AR(1) ρ=0.5 window rates, e = ×1.15",
}


def run(kinds: Sequence[str], ns: Sequence[int], reps: int, before: bool) -> list[Cell]:
    """Every (kind, n) cell (the simulated ones with ``reps`` repetitions)."""
    return [KINDS[k](n, reps, before) for k in kinds for n in ns]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def table(cells: Sequence[Cell]) -> str:
    """The Markdown table of ``cells``."""
    lines = [
        "| gate | n | false PASS | false FAIL | PASS +e | FAIL −e | width | R |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        lines.append(
            f"| {c.kind} | {c.n} | {_pct(c.false_pass)} | {_pct(c.false_fail)} | "
            f"{_pct(c.power_pass)} | {_pct(c.power_fail)} | {c.width:.4g} | "
            f"{c.reps or 'exact'} |"
        )
    return "\n".join(lines)


def worst(cells: Sequence[Cell]) -> list[str]:
    """The worst false PASS and false FAIL per gate kind, and overall, with its SE."""
    out = ["| gate | worst false PASS (n) | worst false FAIL (n) |", "|---|---:|---:|"]
    for kind in dict.fromkeys(c.kind for c in cells):
        mine = [c for c in cells if c.kind == kind]
        p = max(mine, key=lambda c: c.false_pass)
        f = max(mine, key=lambda c: c.false_fail)
        out.append(
            f"| {kind} | {_pct(p.false_pass)} ± {_pct(p.se(p.false_pass))} ({p.n}) | "
            f"{_pct(f.false_fail)} ± {_pct(f.se(f.false_fail))} ({f.n}) |"
        )
    top = max(cells, key=lambda c: max(c.false_pass, c.false_fail))
    err = max(top.false_pass, top.false_fail)
    out.append(
        f"\nworst cell: {top.kind}, n = {top.n}: {_pct(err)} (Monte-Carlo SE "
        f"{_pct(top.se(err))}{', exact' if top.reps == 0 else ''})"
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer n and R = 200")
    ap.add_argument("--before", action="store_true", help="the methods before issue 8")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per simulated cell")
    ap.add_argument("--kind", action="append", choices=sorted(KINDS), help="only these kinds")
    ap.add_argument(
        "--margin",
        action="store_true",
        help="only the regression gate with max_regression > 0: betting, exact McNemar, bootstrap",
    )
    args = ap.parse_args(argv)
    if args.margin:
        reps = args.reps or 1000
        print(f"max_regression > 0, R = {reps}; 10% discordant pairs; e = the margin\n")
        t0 = time.perf_counter()
        print(table(margin_table(reps)))
        print(f"\n({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        return 0
    reps = args.reps or (200 if args.quick else 1000)
    ns = QUICK_NS if args.quick else NS
    kinds = args.kind or list(KINDS)
    t0 = time.perf_counter()
    label = "before (Wilson, bootstrap, no Holm)" if args.before else "after (auto)"
    print(f"decision quality, {label}; R = {reps} per simulated cell; 95% two-sided\n")
    print("\n".join(f"- {k}: {EFFECTS[k]}" for k in kinds))
    print()
    print(table([]), flush=True)
    cells = []
    for k in kinds:  # row by row, so a long run shows its progress
        for n in ns:
            cells.append(KINDS[k](n, reps, args.before))
            print(table(cells[-1:]).splitlines()[-1], flush=True)
    print()
    print("\n".join(worst(cells)))
    print(f"\n({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
