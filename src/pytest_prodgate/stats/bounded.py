"""Intervals that hold at every n: bounded means by betting, paired 0/1 outcomes exactly.

:func:`betting_mean` bounds the mean of values in a known range ``[low, high]``
(graded scores in [0, 1], costs under a declared per-call cap, paired score
differences in [-1, 1]) with the betting confidence bound of Waudby-Smith &
Ramdas (2024, "Estimating means of bounded random variables by betting",
JRSS-B): each side is a test martingale, so its one-sided error is at most
``(1 - confidence) / 2`` for every n and every distribution on the range
(Ville's inequality), not only asymptotically.

:func:`mcnemar_delta` is the exact paired test of 0/1 outcomes: the
conditional binomial (exact McNemar) test on the discordant pairs, inverted
into an interval of the accuracy change.

:func:`nonnegative_lower` bounds the mean of values known only to be ``>= 0``
(costs with no declared cap) from below, by the same betting argument: a
lower bound needs no upper limit, an upper bound does (no method can bound
the mean of an unbounded cost from above), so its upper bound is ``inf``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from pytest_prodgate.stats.intervals import (
    Floats,
    Interval,
    _as_values,
    _check_binomial,
    _check_confidence,
    clopper_pearson,
)
from pytest_prodgate.stats.seeds import SeedLike, _generator

__all__ = ["betting_mean", "betting_ratio", "mcnemar_delta", "nonnegative_lower"]

# Bets are truncated at this share of the largest bet that keeps the capital positive.
_TRUNCATE = 0.75
# Bisection steps on [0, 1]: 2**-52 is below float spacing at 1.
_STEPS = 52


def _rejects(x: Floats, lam: Floats, m: float, log_threshold: float) -> bool:
    """Whether the capital betting that the mean exceeds ``m`` ever reaches the threshold."""
    bet = np.minimum(lam, _TRUNCATE / m) if m > 0.0 else lam
    log_capital = np.cumsum(np.log1p(bet * (x - m)))
    return bool(np.max(log_capital) >= log_threshold)


def _largest_rejected(
    x: Floats, lam: Floats, log_threshold: float, top: float, tol: float
) -> float:
    """Bisection for the largest mean in [0, ``top``] the bets reject, to ``tol``.

    ``top`` is ``max(x)``: every m at or above it keeps the capital <= 1.
    """
    lo, hi = 0.0, top
    for _ in range(_STEPS):
        mid = 0.5 * (lo + hi)
        if _rejects(x, lam, mid, log_threshold):
            lo = mid
        else:
            hi = mid
        if hi - lo <= tol:
            break
    return lo


def _bets(x: Floats, alpha: float) -> Floats:
    """Predictable plug-in bets on ``x`` in [0, 1], tuned for a fixed n (WSR eq. 26)."""
    n = x.size
    t = np.arange(1, n + 1, dtype=np.float64)
    mu = (0.5 + np.cumsum(x)) / (t + 1.0)
    prev_mu = np.concatenate(([0.5], mu[:-1]))
    var = (0.25 + np.cumsum((x - prev_mu) ** 2)) / (t + 1.0)
    prev_var = np.concatenate(([0.25], var[:-1]))
    lam: Floats = np.sqrt(2.0 * math.log(1.0 / alpha) / (n * prev_var))
    return lam


def _nonnegative_bets(x: Floats, alpha: float) -> Floats:
    """Predictable plug-in bets on ``x >= 0``: the first bets nothing, then as
    :func:`_bets` with a prior pseudo-value of variance mean²."""
    n = x.size
    t = np.arange(1, n + 1, dtype=np.float64)
    mu = np.cumsum(x) / t
    dev = np.concatenate(([0.0], (x[1:] - mu[:-1]) ** 2))
    var = (mu**2 + np.cumsum(dev)) / (t + 1.0)
    prev_var = np.concatenate(([0.0], var[:-1]))
    with np.errstate(divide="ignore"):
        lam: Floats = np.where(
            prev_var > 0.0, np.sqrt(2.0 * math.log(1.0 / alpha) / (n * prev_var)), 0.0
        )
    return lam


def _lower(x: Floats, alpha: float) -> float:
    """One-sided (1 - alpha) lower bound of the mean of ``x`` in [0, 1] (in this order)."""
    lam = _bets(x, alpha)
    log_threshold = math.log(1.0 / alpha)
    if not _rejects(x, lam, 0.0, log_threshold):
        return 0.0
    return _largest_rejected(x, lam, log_threshold, float(x.max()), 1e-15)


def betting_mean(
    values: npt.ArrayLike,
    confidence: float = 0.95,
    seed: SeedLike = 0,
    *,
    low: float = 0.0,
    high: float = 1.0,
) -> Interval:
    """Betting confidence interval of the mean of values known to lie in ``[low, high]``.

    Each bound is the edge of the set of means that a test martingale does not
    reject at ``(1 - confidence) / 2`` (Waudby-Smith & Ramdas, predictable
    plug-in bets, truncated at 0.75 of the largest safe bet), so each side's
    error is at most that for every n and every distribution on the range.
    The bets follow the values' order, shuffled by a seeded permutation. Give
    them in an order that does not depend on the values (the gates give cases
    by id): a fixed shuffle of *sorted* values puts the same ranks first every
    time, and for some seeds that erred in 10% of runs, not 2.5%. One value,
    or values with no spread, still give an honest interval (never
    zero-width). Method ``"betting"``.

    Raises:
        ValueError: empty or non-finite values, a value outside ``[low, high]``,
            ``low >= high`` or ``confidence`` outside (0, 1).
    """
    c = _check_confidence(confidence)
    x = _as_values(values)
    lo_, hi_ = float(low), float(high)
    if not (math.isfinite(lo_) and math.isfinite(hi_) and lo_ < hi_):
        raise ValueError(f"the range must be finite with low < high, got [{low!r}, {high!r}]")
    if float(x.min()) < lo_ or float(x.max()) > hi_:
        raise ValueError(
            f"values must lie in [{lo_:g}, {hi_:g}], got [{float(x.min()):g}, {float(x.max()):g}]"
        )
    span = hi_ - lo_
    u = np.clip((x - lo_) / span, 0.0, 1.0)
    u = u[_generator(seed).permutation(u.size)]
    alpha = (1.0 - c) / 2.0
    lower = _lower(u, alpha)
    upper = 1.0 - _lower(1.0 - u, alpha)
    estimate = float(np.mean(x))
    return Interval(
        estimate,
        min(lo_ + span * lower, estimate),
        max(lo_ + span * upper, estimate),
        int(x.size),
        "betting",
    )


def _lower_nonnegative(x: Floats, alpha: float) -> float:
    """One-sided (1 - alpha) lower bound of the mean of ``x >= 0`` (in this order).

    Betting that the mean exceeds m with stakes below 1/m keeps the capital
    positive for any x >= 0, and under mean <= m it is a nonnegative
    supermartingale. The stakes are predictable plug-in bets from the values
    before each one (the first bets nothing), with a prior pseudo-value of
    variance mean²; the procedure is scale-equivariant.
    """
    lam = _nonnegative_bets(x, alpha)
    log_threshold = math.log(1.0 / alpha)
    top = float(x.max())
    if top <= 0.0 or not _rejects(x, lam, top * 2.0**-52, log_threshold):
        return 0.0
    return _largest_rejected(x, lam, log_threshold, top, 1e-15 * top)


def nonnegative_lower(
    values: npt.ArrayLike, confidence: float = 0.95, seed: SeedLike = 0
) -> Interval:
    """Lower betting bound of the mean of values known only to be ``>= 0``; upper ``inf``.

    The lower bound errs with probability at most ``(1 - confidence) / 2`` for
    every n and every distribution on ``[0, inf)`` (a test martingale, as in
    :func:`betting_mean`); there is no finite upper bound without a cap, so
    an interval from this function can FAIL a budget but never PASS one. The
    bets follow the values' order, shuffled by the seed, as in
    :func:`betting_mean` (give them in an order that does not depend on them). Method
    ``"betting-lower"``.

    Raises:
        ValueError: empty or non-finite values, a negative value, or
            ``confidence`` outside (0, 1).
    """
    c = _check_confidence(confidence)
    x = _as_values(values)
    if float(x.min()) < 0.0:
        raise ValueError(f"values must be >= 0, got {float(x.min()):g}")
    estimate = float(np.mean(x))
    top = float(x.max())
    if top == 0.0:
        return Interval(estimate, 0.0, math.inf, int(x.size), "betting-lower")
    u = x / top  # the bound is scale-equivariant; this keeps squares finite
    u = u[_generator(seed).permutation(u.size)]
    lower = top * _lower_nonnegative(u, (1.0 - c) / 2.0)
    return Interval(estimate, min(lower, estimate), math.inf, int(x.size), "betting-lower")


def ratio_rejects_above(
    s: Floats, k: Floats, b: float, alpha: float, cap: float | None, *, most: float
) -> bool:
    """Whether the cases' ``(s - b * k) / most + b`` (in ``[0, cap]``, mean above ``b``
    exactly when ``E[s] / E[k] > b``) reject "ratio <= b" at level ``alpha``, in this
    order; without ``cap`` they are only ``>= 0``. ``most`` bounds ``k``."""
    log_threshold = math.log(1.0 / alpha)
    y = (s - b * k) / most + b
    if cap is None:
        scale = float(y.max())
        if scale <= 0.0:
            return False
        u = y / scale
        return _rejects(u, _nonnegative_bets(u, alpha), b / scale, log_threshold)
    u = np.clip(y / cap, 0.0, 1.0)
    return _rejects(u, _bets(u, alpha), b / cap, log_threshold)


def ratio_rejects_below(
    s: Floats, k: Floats, b: float, alpha: float, cap: float, *, most: float
) -> bool:
    """Whether the cases reject "ratio >= b" at level ``alpha`` (see
    :func:`ratio_rejects_above`; needs ``cap``)."""
    v = np.clip(1.0 - ((s - b * k) / most + b) / cap, 0.0, 1.0)
    return _rejects(v, _bets(v, alpha), 1.0 - b / cap, math.log(1.0 / alpha))


def betting_ratio(
    sums: npt.ArrayLike,
    counts: npt.ArrayLike,
    confidence: float = 0.95,
    seed: SeedLike = 0,
    *,
    cap: float | None = None,
) -> Interval:
    """Betting interval of a ratio of means, ``E[sum] / E[count]``: the mean cost per call
    when case ``i`` made ``counts[i] >= 1`` calls costing ``sums[i]`` in all.

    For a candidate ratio ``b`` the cases' ``(sums - b * counts) / M`` (``M`` the most
    calls a case made) lie in ``[-b, cap - b]`` and have mean of the sign of the true
    ratio minus ``b``; the test martingale of :func:`betting_mean` on them rejects
    ``b`` or not, and the bounds are the edges of the ``b`` not rejected (bisection).
    Each side errs at most ``(1 - confidence) / 2`` for every n when no case can make
    more than ``M`` calls (``M`` is read from the data: a case with more calls than
    any seen would widen the range). Unlike the mean of the cases' means it weighs a
    case by its calls, as the mean per call does. With ``cap`` each call costs in
    ``[0, cap]``; without it costs are only ``>= 0`` and the upper bound is ``inf``.
    With equal counts it is :func:`betting_mean` of the case means. Method
    ``"betting-ratio"`` (``"betting-lower"`` without a cap).

    Raises:
        ValueError: lengths differ, a count below 1, a sum below 0 or above
            ``cap`` times its count, or ``confidence`` outside (0, 1).
    """
    c = _check_confidence(confidence)
    s = _as_values(sums)
    k = _as_values(counts)
    if s.shape != k.shape:
        raise ValueError(f"sums and counts differ in length: {s.size} != {k.size}")
    if float(k.min()) < 1.0 or float(s.min()) < 0.0:
        raise ValueError("counts must be >= 1 and sums >= 0")
    if cap is not None and not (math.isfinite(cap) and cap > 0.0):
        raise ValueError(f"cap must be a positive number, got {cap!r}")
    if cap is not None and bool(np.any(s > cap * k * (1.0 + 1e-12))):
        raise ValueError(f"a case's sum is above cap × its count (cap {cap:g})")
    order = _generator(seed).permutation(s.size)
    s, k = s[order], k[order]
    estimate = float(s.sum() / k.sum())
    alpha = (1.0 - c) / 2.0
    most = float(k.max())

    def shows_above(b: float) -> bool:  # the data reject "ratio <= b"
        return ratio_rejects_above(s, k, b, alpha, cap, most=most)

    def shows_below(b: float) -> bool:  # the data reject "ratio >= b" (cap only)
        assert cap is not None
        return ratio_rejects_below(s, k, b, alpha, cap, most=most)

    lower = 0.0
    if shows_above(0.0):
        lo, hi = 0.0, max(estimate, 0.0)
        for _ in range(_STEPS):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if shows_above(mid) else (lo, mid)
            if hi - lo <= 1e-12 * max(hi, 1e-300):
                break
        lower = lo
    if cap is None:
        return Interval(estimate, min(lower, estimate), math.inf, int(s.size), "betting-lower")
    upper = cap
    if shows_below(cap):
        lo, hi = estimate, cap
        for _ in range(_STEPS):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if shows_below(mid) else (mid, hi)
            if hi - lo <= 1e-12 * hi:
                break
        upper = hi
    return Interval(
        estimate, min(lower, estimate), max(upper, estimate), int(s.size), "betting-ratio"
    )


def mcnemar_delta(
    regressed: int, fixed: int, n: int, confidence: float = 0.95, margin: float = 0.0
) -> Interval:
    """Exact interval of the accuracy change of ``n`` paired 0/1 cases.

    ``regressed`` cases passed in the baseline and fail now, ``fixed`` the
    reverse; the change is ``(fixed - regressed) / n``. Given the ``D =
    regressed + fixed`` discordant pairs, ``regressed`` is Binomial(D, θ) with
    θ the share of discordant pairs that regressed (exact McNemar); the change
    is π(1 − 2θ), π the discordance rate.

    With ``margin == 0`` (the question "did accuracy drop at all?") only the
    sign of each bound decides, and the sign is exact: the Clopper–Pearson
    bounds of θ at ``(1 - confidence) / 2`` each, times π
    (method ``"mcnemar-exact"``); the bounds' size takes π's Clopper–Pearson
    bounds at the same level, so it is approximate (the verdict reads only the
    signs). With ``margin > 0`` the magnitude matters
    too: θ's and π's exact bounds are taken at half that level each and
    combined (Bonferroni, method ``"mcnemar-exact-margin"``), so each side
    holds at ``(1 - confidence) / 2`` for every n. No discordant pair gives
    ``[-π_upper, π_upper]``, never a zero-width interval.

    Raises:
        ValueError: negative counts, ``regressed + fixed > n``, ``n < 1``,
            ``margin`` outside [0, 1] or ``confidence`` outside (0, 1).
    """
    c, b, n = _check_binomial(regressed, n, confidence)
    _, f, _ = _check_binomial(fixed, n, confidence)
    if n < 1:
        raise ValueError("n must be >= 1: no interval without paired cases")
    d = b + f
    if d > n:
        raise ValueError(f"regressed + fixed must be <= n, got {b} + {f} > {n}")
    mg = float(margin)
    if not 0.0 <= mg <= 1.0:
        raise ValueError(f"margin must be in [0, 1], got {margin!r}")
    alpha = (1.0 - c) / 2.0
    estimate = (f - b) / n
    if mg == 0.0:
        # The signs of the bounds are θ's alone, exact at alpha each; their size also
        # takes π's Clopper–Pearson bounds, so the estimate is not an edge when every
        # discordant pair went one way (π = d/n would give [-d/n, …]).
        pi = clopper_pearson(d, n, 1.0 - 2.0 * alpha)
        pi_lo, pi_hi = pi.lower, pi.upper
        level, method = 1.0 - 2.0 * alpha, "mcnemar-exact"
    else:
        pi = clopper_pearson(d, n, 1.0 - alpha)  # each side at alpha / 2
        pi_lo, pi_hi = pi.lower, pi.upper
        level, method = 1.0 - alpha, "mcnemar-exact-margin"
    if d == 0:
        top = pi_hi if mg > 0.0 else clopper_pearson(0, n, c).upper
        return Interval(estimate, -top, top, n, method)
    theta = clopper_pearson(b, d, level)
    # lower bound of the change: the most regressions θ_upper allows
    slope_lo = 1.0 - 2.0 * theta.upper
    slope_hi = 1.0 - 2.0 * theta.lower
    lower = slope_lo * (pi_lo if slope_lo >= 0.0 else pi_hi)
    upper = slope_hi * (pi_hi if slope_hi >= 0.0 else pi_lo)
    return Interval(estimate, min(lower, estimate), max(upper, estimate), n, method)
