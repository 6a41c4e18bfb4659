"""How fast and how lean pytest_prodgate.stats is at 100,000 cases, against scipy.

Run: ``.venv/bin/python benchmarks/bench_stats.py [--n 100000] [--repeats 5]``

For each gate statistic it prints the median wall time of a few repeats and the
peak extra memory (tracemalloc, measured in a separate run so it does not slow
the timed ones), then the same for scipy: ``scipy.stats.bootstrap(...,
method="BCa", n_resamples=9999)`` for the means, ``scipy.stats.quantile_test(...)
.confidence_interval()`` for the p95. Ours and scipy's runs alternate. scipy's
BCa at 100,000 values would need a 9,999 x 100,000 resample matrix (8 GB, plus
as much for its indices) and a 100,000 x 99,999 jackknife matrix (80 GB), so it
is measured at a smaller n (8,000 by default; a second table compares both
sides there) and scaled linearly to 100,000: a lower bound, labelled as such
(its resampling is linear in n, its jackknife quadratic).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from pytest_prodgate import stats

RESAMPLES = 9999


def make_data(n: int, seed: int = 0) -> dict[str, tuple[Any, ...]]:
    rng = np.random.default_rng(seed)
    base = (rng.random(n) < 0.85).astype(float)
    cur = base.copy()
    flip = rng.random(n) < 0.05
    cur[flip] = 1.0 - cur[flip]
    return {
        "binary scores": ((rng.random(n) < 0.9).astype(float),),
        "graded scores (5-point)": (
            rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], p=[0.05, 0.05, 0.1, 0.3, 0.5], size=n),
        ),
        "lognormal costs": (rng.lognormal(-6.5, 0.8, size=n),),
        "p95 latency": (rng.lognormal(6.0, 0.5, size=n),),
        "paired binary": (cur, base),
    }


def ours(name: str, data: tuple[Any, ...]) -> Callable[[], object]:
    if name == "p95 latency":
        return lambda: stats.quantile_bounds(data[0], 0.95)
    if name == "paired binary":
        return lambda: stats.paired_delta(data[0], data[1], resamples=RESAMPLES)
    return lambda: stats.bootstrap_mean(data[0], resamples=RESAMPLES)


def theirs(name: str, data: tuple[Any, ...]) -> Callable[[], object]:
    import scipy.stats as sps

    if name == "p95 latency":
        return lambda: sps.quantile_test(data[0], q=1.0, p=0.95).confidence_interval(0.95)
    sample = data[0] - data[1] if name == "paired binary" else data[0]
    return lambda: (
        sps.bootstrap(
            (sample,), np.mean, method="BCa", n_resamples=RESAMPLES, rng=0
        ).confidence_interval
    )


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def peak_mb(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def measure_pair(
    mine: Callable[[], object], other: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median times of two functions, run alternately."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeats):
        a.append(timed(mine))
        b.append(timed(other))
    return statistics.median(a), statistics.median(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=8_000, help="n where scipy's BCa runs")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n, small_n, repeats = args.n, args.small, args.repeats

    data = make_data(n)
    # Cold start: the first calls pay the lazy imports (scipy.stats) once per process.
    cold = sum(timed(ours(name, d)) for name, d in data.items())
    small = make_data(small_n, seed=1)

    big_rows = []
    small_rows = []
    for name, d in data.items():
        mine = ours(name, d)
        method = str(getattr(mine(), "method", "?"))
        m_mine = peak_mb(mine)
        if name == "p95 latency":  # scipy is cheap here: measure it at full size
            t_mine, t_sp = measure_pair(mine, theirs(name, d), repeats)
            big_rows.append(
                (
                    name,
                    method,
                    t_mine,
                    m_mine,
                    f"{t_sp:.3f}",
                    f"{peak_mb(theirs(name, d)):.1f}",
                    "measured",
                )
            )
            continue
        t_mine = statistics.median(timed(mine) for _ in range(repeats))
        # scipy's BCa, measured at the small n, alternating with ours there.
        s_mine, s_sp = ours(name, small[name]), theirs(name, small[name])
        ts_mine, ts_sp = measure_pair(s_mine, s_sp, max(2, repeats // 2 + 1))
        ms_sp = peak_mb(s_sp)
        small_rows.append(
            (name, str(getattr(s_mine(), "method", "?")), ts_mine, peak_mb(s_mine), ts_sp, ms_sp)
        )
        # Its resampling alone is linear in n (and its jackknife quadratic), so a
        # linear extrapolation is a lower bound.
        scale = n / small_n
        big_rows.append(
            (
                name,
                method,
                t_mine,
                m_mine,
                f">= {ts_sp * scale:.1f}",
                f">= {ms_sp * scale:,.0f}",
                f"lower bound, x{scale:g} from n={small_n:,}",
            )
        )

    w = max(len(r[0]) for r in big_rows)
    print(f"pytest_prodgate.stats at n = {n:,} ({RESAMPLES:,} resamples; median of {repeats})")
    print(
        f"{'gate':<{w}}  {'method':<24} {'ours s':>7} {'ours MB':>8}"
        f"  {'scipy s':>9} {'scipy MB':>10}  scipy figure"
    )
    for name, method, t, mem, ts, ms, label in big_rows:
        print(f"{name:<{w}}  {method:<24} {t:>7.3f} {mem:>8.1f}  {ts:>9} {ms:>10}  {label}")
    t_all = sum(r[2] for r in big_rows)
    m_all = max(r[3] for r in big_rows)
    print(f"{'total':<{w}}  {'':<24} {t_all:>7.3f} {m_all:>8.1f}  (memory: largest single gate)")
    print(f"cold first calls of all five (incl. lazy scipy.stats import): {cold:.3f} s")
    ok = t_all < 0.5 and m_all < 200
    print(
        "target (all gates < 0.5 s and < 200 MB extra at 100,000 cases): "
        + ("met" if ok else "NOT met")
    )
    print()
    print(f"Both measured at n = {small_n:,} (scipy.stats.bootstrap BCa, {RESAMPLES:,} resamples)")
    print(
        f"{'gate':<{w}}  {'method':<24} {'ours s':>7} {'ours MB':>8}"
        f"  {'scipy s':>9} {'scipy MB':>10}  {'ratio':>7}"
    )
    for name, method, t, mem, ts, ms in small_rows:
        print(
            f"{name:<{w}}  {method:<24} {t:>7.3f} {mem:>8.1f}  {ts:>9.3f} {ms:>10.1f}"
            f"  {ts / max(t, 1e-9):>6.0f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
