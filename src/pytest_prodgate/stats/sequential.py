"""Sequential tests for early stopping (SPEC §13): decided before the run, exact where they can be.

Two rules, both one-sided at ``alpha`` on each side, so a gate stopped early
keeps the fixed-size gate's promise (false PASS and false FAIL at the target
each <= ``alpha``, 2.5% at 95% confidence):

* :func:`binomial_boundaries` / :func:`binomial_decision`: a group-sequential
  test of a binomial share against ``p0`` at planned looks (0/1 accuracy, slice
  floors, the error rate, latency exceedances of a budget). The error is spent
  across the looks by the power family ``alpha * t**rho`` (Lan-DeMets style,
  ``t`` the planned fraction of the suite seen), and each look's boundary is
  the most extreme count whose exact probability under ``p0`` -- computed by
  recursion over the looks on the paths that have not stopped yet -- keeps the
  error spent so far within the budget. No normal approximation anywhere.
* :func:`betting_decision`: an anytime-valid test of the mean of values in
  ``[lo, hi]`` (graded scores, case means over trials, paired differences
  against a baseline): the hedged betting capital process of Waudby-Smith and
  Ramdas (2023, "Estimating means of bounded random variables by betting").
  By Ville's inequality the capital of a true null reaches ``1/alpha`` with
  probability <= ``alpha`` at any time, so looking at any points is valid.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "SPENDING_RHO",
    "Boundary",
    "Decision",
    "betting_decision",
    "binomial_boundaries",
    "binomial_decision",
    "plan_looks",
    "spent",
]

#: The power of the spending function ``alpha * t**rho``: 1 spends evenly
#: (Pocock-like, stops early most often), 3 holds most back for the last look
#: (O'Brien-Fleming-like). 2 keeps the last look's power within a few points of
#: the fixed-size test while stopping most suites well before the end
#: (``benchmarks/bench_early.py``).
SPENDING_RHO = 2.0
_TOL = 1e-12
#: Stakes of the planned-n betting rule are truncated at this share of the largest safe one.
_PLANNED_TRUNCATE = 0.75

Side = Literal["PASS", "FAIL"]
SequentialVerdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]


def spent(t: float, alpha: float, rho: float = SPENDING_RHO) -> float:
    """The error the power family has spent by fraction ``t`` of the planned data."""
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"fraction must be >= 0, got {t!r}")
    return float(alpha * min(1.0, t) ** rho)


def plan_looks(planned: int, looks: int) -> list[int]:
    """Cumulative case counts of ``looks`` evenly spaced looks at ``planned`` cases.

    ``[ceil(k * planned / looks) for k = 1..looks]`` without repeats (fewer looks
    when ``planned < looks``); the last is ``planned``.
    """
    if planned < 1 or looks < 1:
        raise ValueError(f"planned and looks must be >= 1, got {planned!r}, {looks!r}")
    out: list[int] = []
    for k in range(1, looks + 1):
        n = -(-k * planned // looks)
        if not out or n > out[-1]:
            out.append(n)
    return out


@dataclass(frozen=True)
class Boundary:
    """One look of a binomial group-sequential test.

    ``upper``: stop when the count of ones is >= it (``None``: no count stops);
    ``lower``: stop when it is <= it (``None``: none). ``alpha_upper`` /
    ``alpha_lower``: the exact probability under ``p0`` of having stopped on that
    side by this look.
    """

    n: int
    fraction: float
    upper: int | None
    lower: int | None
    alpha_upper: float
    alpha_lower: float


@dataclass(frozen=True)
class Decision:
    """What a sequential rule decided: the verdict and the look (1-based; 0: none yet)."""

    verdict: SequentialVerdict
    look: int
    method: str
    detail: str = ""


def _check(alpha: float, rho: float) -> None:
    if not (0.0 < alpha < 0.5):
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")
    if not (math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be > 0, got {rho!r}")


def binomial_boundaries(
    p0: float,
    looks: Sequence[int],
    fractions: Sequence[float] | None = None,
    alpha: float = 0.025,
    rho: float = SPENDING_RHO,
    final: int | None = None,
) -> list[Boundary]:
    """Exact stopping counts of a binomial share against ``p0`` at cumulative sizes ``looks``.

    ``fractions``: the planned fraction of the data at each look (default
    ``looks[k] / looks[-1]``); whatever it says, the last look spends all of
    ``alpha`` only if its fraction is 1. Both sides are computed jointly on the
    paths still running, so the chance under ``p0`` of ever stopping on the upper
    side is ``<= alpha`` and so is the lower side's.

    ``final``: the planned number of trials. Then a look before it spends only
    the *excess* over the fixed-size test at ``final``: stopping a path with
    count s costs the chance, under ``p0``, that it would have ended on the
    other side of the fixed test's boundary, and these costs are spent as
    ``(alpha - alpha_fixed) * t**rho`` (``alpha_fixed`` the fixed test's exact
    error, below ``alpha`` by discreteness). The last look (``final`` trials)
    then still has the fixed test's boundary, so early looks cost no power
    there, and the error stays ``<= alpha`` on each side whatever the real
    number of trials turns out to be.
    """
    from scipy.stats import binom

    p = float(p0)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p0 must be in [0, 1], got {p0!r}")
    _check(alpha, rho)
    sizes = [int(n) for n in looks]
    if not sizes or sizes[0] < 0 or any(b < a for a, b in itertools.pairwise(sizes)):
        raise ValueError(f"looks must be non-decreasing counts >= 0, got {list(looks)!r}")
    fr = (
        [n / sizes[-1] if sizes[-1] else 1.0 for n in sizes]
        if fractions is None
        else [float(f) for f in fractions]
    )
    if len(fr) != len(sizes):
        raise ValueError("fractions and looks must have the same length")
    if final is not None and (final < sizes[-1] or final < 1):
        final = None  # fewer planned than seen: no fixed test to keep
    fixed = None if final is None else _fixed_test(p, final, alpha)
    mass = np.ones(1)  # P(count = s, not stopped) under p0
    prev = 0
    up_spent = low_spent = 0.0
    up_excess = low_excess = 0.0
    out: list[Boundary] = []
    for n, t in zip(sizes, fr, strict=True):
        if n > prev:
            mass = np.convolve(mass, binom.pmf(np.arange(n - prev + 1), n - prev, p))
        prev = n
        s = np.arange(n + 1)
        if final is None or fixed is None or n >= final:
            cost_up = cost_low = np.ones(n + 1)
            budget_up = spent(t, alpha, rho) - up_spent
            budget_low = spent(t, alpha, rho) - low_spent
        else:
            a, slack_up, b, slack_low = fixed
            # the chance to end below the fixed upper boundary (above the lower one)
            cost_up = binom.cdf(a - s - 1, final - n, p)
            cost_low = binom.sf(b - s, final - n, p)
            budget_up = slack_up * min(1.0, t) ** rho - up_excess
            budget_low = slack_low * min(1.0, t) ** rho - low_excess
        # upper: the smallest a with the cost of stopping at S >= a within budget_up
        tail_up = np.cumsum((mass * cost_up)[::-1])[::-1]
        ok_up = np.nonzero(tail_up <= budget_up + _TOL)[0]
        upper = int(ok_up[0]) if ok_up.size and mass[ok_up[0] :].sum() > 0 else None
        tail_low = np.cumsum(mass * cost_low)
        ok_low = np.nonzero(tail_low <= budget_low + _TOL)[0]
        lower = int(ok_low[-1]) if ok_low.size and mass[: ok_low[-1] + 1].sum() > 0 else None
        if upper is not None and lower is not None and lower >= upper:
            lower = upper - 1 if upper > 0 else None
        if upper is not None:
            up_excess += float((mass * cost_up)[upper:].sum())
            up_spent += float(mass[upper:].sum())
            mass[upper:] = 0.0
        if lower is not None:
            low_excess += float((mass * cost_low)[: lower + 1].sum())
            low_spent += float(mass[: lower + 1].sum())
            mass[: lower + 1] = 0.0
        out.append(Boundary(n, t, upper, lower, up_spent, low_spent))
    return out


def _fixed_test(p0: float, n: int, alpha: float) -> tuple[int, float, int, float]:
    """The exact fixed-size test at n: (upper boundary, alpha - its error, lower, same).

    A side no count rejects has boundary n + 1 (upper) or -1 (lower) and error 0.
    """
    from scipy.stats import binom

    ks = np.arange(n + 1)
    tail = binom.sf(ks - 1, n, p0)  # P(S >= k)
    ok = np.nonzero(tail <= alpha + _TOL)[0]
    a = int(ok[0]) if ok.size else n + 1
    cdf = binom.cdf(ks, n, p0)  # P(S <= k)
    ok = np.nonzero(cdf <= alpha + _TOL)[0]
    b = int(ok[-1]) if ok.size else -1
    err_up = float(tail[a]) if a <= n else 0.0
    err_low = float(cdf[b]) if b >= 0 else 0.0
    return a, max(0.0, alpha - err_up), b, max(0.0, alpha - err_low)


def binomial_decision(
    ones: Sequence[int],
    looks: Sequence[int],
    p0: float,
    comparator: Literal[">=", "<="],
    alpha: float = 0.025,
    fractions: Sequence[float] | None = None,
    rho: float = SPENDING_RHO,
    final: int | None = None,
) -> Decision:
    """The first look whose count of ones crosses a boundary of :func:`binomial_boundaries`.

    ``final``: the planned number of trials, when known before the run (the
    last look then keeps the fixed-size test's boundary; see there).

    ``ones[k]``: the cumulative count of ones at look ``k`` (as many looks as
    seen so far; ``looks`` and ``fractions`` may plan more). For ``">="`` (a
    floor: ones are successes) crossing the upper boundary is PASS and the
    lower FAIL; for ``"<="`` (a maximum share: ones are errors or exceedances)
    the reverse. INCONCLUSIVE with the last look seen when none crossed.
    """
    seen = len(ones)
    if seen > len(looks):
        raise ValueError("more counts than planned looks")
    fr = None if fractions is None else list(fractions)[:seen]
    if fr is None:
        total = looks[-1] if looks else 0
        fr = [n / total if total else 1.0 for n in looks[:seen]]
    bounds = binomial_boundaries(p0, looks[:seen], fr, alpha, rho, final)
    method = (
        f"group-sequential exact binomial (alpha*t^{rho:g} spending)"
        if final is None
        else f"group-sequential exact binomial (excess over the fixed-n test spent as t^{rho:g})"
    )
    for k, (s, b) in enumerate(zip(ones, bounds, strict=True), start=1):
        high = b.upper is not None and s >= b.upper
        low = b.lower is not None and s <= b.lower
        if high or low:
            verdict: SequentialVerdict = "PASS" if high == (comparator == ">=") else "FAIL"
            edge = f">= {b.upper}" if high else f"<= {b.lower}"
            detail = f"{s} of {b.n} at look {k} (boundary {edge})"
            return Decision(verdict, k, method, detail)
    last = bounds[-1] if bounds else None
    detail = (
        ""
        if last is None
        else (
            f"{ones[-1]} of {last.n} at look {seen} (boundaries "
            f"<= {'-' if last.lower is None else last.lower}, "
            f">= {'-' if last.upper is None else last.upper})"
        )
    )
    return Decision("INCONCLUSIVE", seen, method, detail)


def _capital(
    x: npt.NDArray[np.float64], m: float, alpha: float, sign: float, planned: int | None = None
) -> np.ndarray:
    """The hedged capital after each value, betting that the mean is above (sign=1) m.

    Without ``planned`` the bets are tuned for every n at once (``i log(i + 1)``
    in the stake's denominator); with it, for the planned number of values,
    as the fixed-size betting bound's are, which is more powerful there. Any
    predictable stake keeps the capital a test supermartingale, so both are
    valid at any look.
    """
    n = x.size
    i = np.arange(1, n + 1, dtype=float)
    mu = (0.5 + np.cumsum(x)) / (i + 1)
    var = (0.25 + np.cumsum((x - mu) ** 2)) / (i + 1)
    var_prev = np.concatenate(([0.25], var[:-1]))
    if planned is None:
        lam = np.sqrt(2 * math.log(1 / alpha) / (var_prev * i * np.log(i + 1)))
        share = 0.5
    else:
        lam = np.sqrt(2 * math.log(1 / alpha) / (var_prev * max(planned, 1)))
        share = _PLANNED_TRUNCATE
    cap = share / m if sign > 0 else share / (1 - m)
    lam = np.minimum(lam, cap)
    with np.errstate(divide="ignore"):
        log_wealth = np.cumsum(np.log1p(sign * lam * (x - m)))
    return np.asarray(log_wealth)


def betting_decision(
    values: npt.ArrayLike,
    looks: Sequence[int],
    target: float,
    comparator: Literal[">=", "<="],
    alpha: float = 0.025,
    bounds: tuple[float, float] = (0.0, 1.0),
    planned: int | None = None,
) -> Decision:
    """Anytime-valid test of a bounded mean against ``target`` at the looks seen so far.

    ``values`` in run order, within ``bounds``; ``looks``: cumulative counts at
    which to look (those beyond ``len(values)`` are ignored). PASS when the
    capital betting on the good side of the target reaches ``1/alpha`` at a
    look, FAIL when the capital betting on the other side does. ``planned``:
    the number of values planned (the suite's size), for which the stakes are
    tuned; ``None`` tunes them for every n (less power at the planned n).
    """
    lo, hi = (float(b) for b in bounds)
    if not hi > lo:
        raise ValueError(f"bounds must be increasing, got {bounds!r}")
    _check(alpha, 1.0)
    x = (np.asarray(values, dtype=float) - lo) / (hi - lo)
    if x.size and (not np.all(np.isfinite(x)) or x.min() < -1e-12 or x.max() > 1 + 1e-12):
        raise ValueError(f"values must lie within {bounds!r}")
    x = np.clip(x, 0.0, 1.0)
    m = (float(target) - lo) / (hi - lo)
    method = (
        "anytime-valid betting confidence sequence"
        if planned is None
        else f"betting test martingale (stakes tuned for {planned} values)"
    )
    seen = [n for n in looks if 0 < n <= x.size]
    if not seen:
        return Decision("INCONCLUSIVE", 0, method)
    above_wins = comparator == ">="
    threshold = math.log(1 / alpha)
    up = _capital(x, m, alpha, 1.0, planned) if m < 1 else np.full(x.size, -math.inf)
    down = _capital(x, m, alpha, -1.0, planned) if m > 0 else np.full(x.size, -math.inf)
    first_up = _first(up >= threshold)
    first_down = _first(down >= threshold)
    for k, n in enumerate(seen, start=1):
        hit_up, hit_down = first_up < n, first_down < n
        if hit_up and (not hit_down or first_up <= first_down):
            verdict: SequentialVerdict = "PASS" if above_wins else "FAIL"
            return Decision(verdict, k, method, f"mean above {target:g} by look {k} ({n})")
        if hit_down:
            verdict = "FAIL" if above_wins else "PASS"
            return Decision(verdict, k, method, f"mean below {target:g} by look {k} ({n})")
    return Decision("INCONCLUSIVE", len(seen), method)


def _first(hit: npt.NDArray[np.bool_]) -> int:
    """Index of the first True (the length when none)."""
    idx = np.flatnonzero(hit)
    return int(idx[0]) if idx.size else hit.size
