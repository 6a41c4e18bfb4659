"""How many observations would resolve an inconclusive gate."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from pytest_prodgate.stats.intervals import (
    Interval,
    _as_values,
    _check_confidence,
    _check_q,
    _ndtri,
    _order_stat_indices,
    clopper_pearson,
    wilson,
)

__all__ = ["n_to_resolve_mean", "n_to_resolve_proportion", "n_to_resolve_quantile"]

# The search of n_to_resolve_* stops here.
_MAX_N = 1 << 50
# scipy's binomial CDF behind the order statistics takes n as a C int.
_MAX_QUANTILE_N = (1 << 31) - 1


def _smallest_n(resolved: Callable[[int], bool], limit: int = _MAX_N) -> int | None:
    """Smallest n with resolved(n) (and not resolved(n - 1)): doubling, then bisection."""
    hi = 1
    while not resolved(hi):
        hi *= 2
        if hi > limit:
            return None
    lo = hi // 2  # not resolved (or 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if resolved(mid):
            hi = mid
        else:
            lo = mid
    return hi


def n_to_resolve_proportion(
    p_hat: float,
    target: float,
    confidence: float = 0.95,
    method: str = "wilson",
    power: float | None = None,
) -> int | None:
    """Number of observations that would resolve a proportion against ``target``.

    The smallest n at which the interval computed at the same observed rate
    (``successes = round(p_hat * n)``) lies entirely on ``p_hat``'s side of the
    target: ``lower >= target`` when ``p_hat > target``, ``upper < target``
    when ``p_hat < target``. ``None`` when ``p_hat == target`` (no n resolves
    it) or when more than 2**50 observations would be needed. ``method`` is
    ``"wilson"`` or ``"clopper-pearson"``.

    With ``power`` (e.g. 0.8), the question becomes "how many observations make
    the gate resolve with probability ``power`` if the true rate is ``p_hat``":
    the smallest n (found by bisection; the exact answer saw-tooths with
    discreteness) at which the binomial chance of a count that clears the
    target reaches ``power``. This is the number an inconclusive gate reports.
    """
    c = _check_confidence(confidence)
    p = float(p_hat)
    t = float(target)
    if not (0.0 <= p <= 1.0 and 0.0 <= t <= 1.0):
        raise ValueError(f"p_hat and target must be in [0, 1], got {p_hat!r}, {target!r}")
    if method.endswith("-empty"):
        method = method[: -len("-empty")]
    if method == "wilson":
        interval = wilson
    elif method == "clopper-pearson":
        interval = clopper_pearson
    else:
        raise ValueError(f"method must be 'wilson' or 'clopper-pearson', got {method!r}")
    if p == t:
        return None
    above = p > t

    def clears(k: int, n: int) -> bool:
        iv = interval(k, n, c)
        return iv.lower >= t if above else iv.upper < t

    if power is None:
        return _smallest_n(lambda n: clears(min(round(p * n), n), n))
    pw = _check_power(power)
    if p in (0.0, 1.0):
        return _smallest_n(lambda n: clears(round(p * n), n))

    def likely(n: int) -> bool:
        # The clearing counts form one tail (the bound is monotone in k): find its edge.
        lo, hi = (0, n + 1) if above else (-1, n)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if clears(mid, n) == above:
                hi = mid
            else:
                lo = mid
        edge = hi if above else lo  # above: k >= edge clears; below: k <= edge clears
        chance = binom_sf(edge - 1, n, p) if above else binom_cdf(edge, n, p)
        return chance >= pw

    return _smallest_n(likely)


def _check_power(power: float) -> float:
    pw = float(power)
    if not 0.5 <= pw < 1.0:
        raise ValueError(f"power must be in [0.5, 1), got {power!r}")
    return pw


def n_to_resolve_mean(
    interval: Interval, target: float, power: float | None = None, confidence: float = 0.95
) -> int | None:
    """Number of observations at which a mean's interval would clear ``target``.

    Scales ``interval.n`` by ``(half-width on the target's side / |estimate -
    target|)**2``, rounded up (at least 1): the half-width of a mean's interval
    shrinks like 1/sqrt(n). ``None`` when the estimate equals the target, the
    interval is unbounded on that side, or ``interval.n == 0``.

    With ``power`` (and the ``confidence`` the interval was computed at), the
    half-width is read as ``z * se`` and the answer is the n
    at which ``|estimate - target| = (z + z_power) * se``: the chance that the
    interval clears the target, if the true mean is the estimate, is ``power``.
    """
    t = float(target)
    est = interval.estimate
    if est == t or interval.n <= 0 or not math.isfinite(t):
        return None
    half = est - interval.lower if t < est else interval.upper - est
    if not math.isfinite(half):
        return None
    if power is not None:
        alpha = (1.0 - _check_confidence(confidence)) / 2
        z = _ndtri(1.0 - alpha)
        half *= (z + _ndtri(_check_power(power))) / z
    needed = interval.n * (half / abs(est - t)) ** 2
    if not math.isfinite(needed) or needed > _MAX_N:
        return None
    return max(1, math.ceil(needed * (1.0 - 1e-12)))


def n_to_resolve_quantile(
    values: npt.ArrayLike,
    q: float,
    budget: float,
    confidence: float = 0.95,
    power: float | None = None,
) -> int | None:
    """Number of observations at which the q-quantile's bound would clear ``budget``.

    Assumes the empirical distribution stays the same: with F the share of
    values ``<= budget`` and ``round(F * n)`` of n values at or below the budget,
    returns the smallest n where the upper order-statistic bound is ``<=
    budget`` (when F > q: the quantile is under budget) or the lower one is
    ``> budget`` (when F < q). ``None`` when F == q (the empirical quantile sits
    on the budget, no n helps) or when more than 2**31 would be needed.

    With ``power``: the smallest n at which, drawing n values from the same
    distribution, the bound clears the budget with probability ``power``.
    """
    qf = _check_q(q)
    c = _check_confidence(confidence)
    x = _as_values(values)
    b = float(budget)
    share = float(np.count_nonzero(x <= b)) / x.size
    if share == qf:
        return None
    under = share > qf

    def resolved(n: int) -> bool:
        at_or_below = min(round(share * n), n)
        low, high = _order_stat_indices(n, qf, c)
        if under:
            return high < n and high < at_or_below
        return low >= 0 and low >= at_or_below

    if power is None or share in (0.0, 1.0):
        return _smallest_n(resolved, _MAX_QUANTILE_N)
    pw = _check_power(power)

    def likely(n: int) -> bool:
        low, high = _order_stat_indices(n, qf, c)
        if under:
            return high < n and binom_sf(high, n, share) >= pw
        return low >= 0 and binom_cdf(low, n, share) >= pw

    return _smallest_n(likely, _MAX_QUANTILE_N)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), any integer ``k`` (scipy.special, not scipy.stats)."""
    from scipy.special import bdtr

    return 0.0 if k < 0 else 1.0 if k >= n else float(bdtr(k, n, p))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X > k) for X ~ Binomial(n, p), any integer ``k``."""
    from scipy.special import bdtrc

    return 1.0 if k < 0 else 0.0 if k >= n else float(bdtrc(k, n, p))
