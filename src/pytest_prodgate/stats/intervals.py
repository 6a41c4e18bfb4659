"""Interval, argument checks, binomial intervals, quantile bounds, normal quantiles.

The building blocks every other module of :mod:`pytest_prodgate.stats` uses.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "Interval",
    "clopper_pearson",
    "min_n_for_quantile",
    "quantile_bounds",
    "wilson",
    "wilson_graded",
    "z_one_sided",
    "z_two_sided",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

_NORMAL = NormalDist()
# min_n_for_quantile refuses to answer beyond this (a float no longer counts exactly).
_MAX_QUANTILE_N = 2.0**53


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval.

    ``lower`` is ``-inf`` and ``upper`` is ``inf`` where a side is unbounded;
    neither is ever NaN. ``n`` is the number of observations (values, not
    clusters). ``method`` names exactly what was computed (see the module
    docstring).
    """

    estimate: float
    lower: float
    upper: float
    n: int
    method: str


# --------------------------------------------------------------------------- validation


def _not_text(value: object, name: str) -> None:
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be a number, got the string {value!r}")


def _check_confidence(confidence: float) -> float:
    _not_text(confidence, "confidence")
    try:
        c = float(confidence)
    except (TypeError, ValueError):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}") from None
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return c


def _check_q(q: float) -> float:
    _not_text(q, "q")
    try:
        qf = float(q)
    except (TypeError, ValueError):
        raise ValueError(f"q must be a number in (0, 1), got {q!r}") from None
    if not 0.0 < qf < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    return qf


def _check_int(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        # Accept an integral float (e.g. a numpy sum of 0/1 scores), nothing else.
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise ValueError(f"{name} must be an integer, got {value!r}") from None
        v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def _as_values(values: npt.ArrayLike, name: str = "values") -> Floats:
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be an array of numbers, got a string")
    raw = np.asarray(values)
    if (
        raw.dtype.kind in "USO"
        and raw.size
        and (raw.dtype.kind != "O" or any(isinstance(v, (str, bytes)) for v in raw.ravel()))
    ):
        raise ValueError(f"{name} must be numbers, not strings (found {raw.ravel()[0]!r})")
    try:
        x = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers") from None
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty: no interval without observations")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return x


# --------------------------------------------------------------------------- normal helpers


def _ndtri(p: float) -> float:
    return _NORMAL.inv_cdf(p)


def _ndtr(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# --------------------------------------------------------------------------- proportions


def _check_binomial(successes: int, n: int, confidence: float) -> tuple[float, int, int]:
    """(confidence, successes, n) validated for a binomial interval."""
    c = _check_confidence(confidence)
    n = _check_int(n, "n", 0)
    k = _check_int(successes, "successes", 0)
    if k > n:
        raise ValueError(f"successes must be <= n, got successes={k}, n={n}")
    return c, k, n


def wilson(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval of a binomial proportion.

    Equal (to 1e-12) to ``statsmodels.stats.proportion.proportion_confint(successes,
    n, alpha=1 - confidence, method="wilson")``. The bounds are clipped to
    [0, 1]; for ``n > 0`` the interval is never zero-width, not even at 0% or
    100%. ``n == 0`` carries no information: the interval is [0, 1], the
    estimate 0.5 (the limit of the Wilson centre, never NaN) and the method
    ``"wilson-empty"``.
    """
    c, k, n = _check_binomial(successes, n, confidence)
    if n == 0:
        return Interval(0.5, 0.0, 1.0, 0, "wilson-empty")
    q_ = k / n
    center, dist = _wilson_core(q_, n, c)
    # Exactly 0 at no success and 1 at all successes (the formula leaves ~1e-17).
    lower = 0.0 if k == 0 else min(max(center - dist, 0.0), 1.0)
    upper = 1.0 if k == n else min(max(center + dist, 0.0), 1.0)
    return Interval(q_, lower, upper, n, "wilson")


def _wilson_core(q_: float, n: int, c: float) -> tuple[float, float]:
    """(centre, half-width) of the Wilson score interval at observed share ``q_``."""
    # Same operations, in the same order, as statsmodels.
    alpha = (1.0 - c) / 2.0
    crit = -_ndtri(alpha)
    crit2 = crit**2
    denom = 1 + crit2 / n
    center = (q_ + crit2 / (2 * n)) / denom
    dist = crit * math.sqrt(q_ * (1.0 - q_) / n + crit2 / (4.0 * n**2))
    return center, dist / denom


def wilson_graded(mean: float, n: int, confidence: float = 0.95) -> Interval:
    """Wilson's interval at a mean score in [0, 1] of ``n`` graded scores (method
    ``"wilson-graded"``).

    A score in [0, 1] with mean p has variance at most p(1 - p), the binomial one,
    so this bounds the mean conservatively where the data show no spread (constant
    scores), where a bootstrap would give a zero-width interval.
    """
    c = _check_confidence(confidence)
    n = _check_int(n, "n", 1)
    p = float(mean)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"mean must be in [0, 1], got {mean!r}")
    center, dist = _wilson_core(p, n, c)
    return Interval(p, max(0.0, center - dist), min(1.0, center + dist), n, "wilson-graded")


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Clopper–Pearson ("exact", beta) interval of a binomial proportion.

    Equal (to 1e-12) to statsmodels' ``proportion_confint(..., method="beta")``:
    the lower bound is 0 at 0 successes, the upper bound 1 at ``n`` successes.
    ``n == 0`` gives [0, 1] with estimate 0.5 and method
    ``"clopper-pearson-empty"``.
    """
    c, k, n = _check_binomial(successes, n, confidence)
    if n == 0:
        return Interval(0.5, 0.0, 1.0, 0, "clopper-pearson-empty")
    # scipy.special, not scipy.stats (a third of its import time): the same values.
    from scipy.special import betainccinv, betaincinv

    alpha = (1.0 - c) / 2.0
    lower = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha))
    upper = 1.0 if k == n else float(betainccinv(k + 1, n - k, alpha))
    return Interval(k / n, lower, upper, n, "clopper-pearson")


# --------------------------------------------------------------------------- quantiles


@lru_cache(maxsize=4096)
def _order_stat_indices(n: int, q: float, confidence: float) -> tuple[int, int]:
    """0-based order statistics bounding the q-quantile; -1 / n mean unbounded.

    The same choice as ``scipy.stats.quantile_test(...).confidence_interval``.
    """
    # scipy.special is a third of scipy.stats' import time; the answers are those of
    # binom.ppf(p) - 1 and binom.isf(p), found by bisection on the exact CDF.
    from scipy.special import bdtr, bdtrc

    p = (1 - confidence) / 2

    def first(pred: Callable[[int], bool]) -> int:
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if pred(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    low = first(lambda k: float(bdtr(k, n, q)) >= p) - 1
    high = first(lambda k: float(bdtrc(k, n, q)) <= p)
    return max(low, -1), min(high, n)


def quantile_bounds(values: npt.ArrayLike, q: float, confidence: float = 0.95) -> Interval:
    """Distribution-free order-statistic interval of the ``q``-quantile.

    The estimate is ``np.quantile(values, q)`` (linear interpolation); the
    bounds are exactly those of ``scipy.stats.quantile_test(values, p=q)
    .confidence_interval(confidence)``, computed directly. A side with too few
    observations is unbounded (``-inf`` / ``inf``, never NaN); see
    :func:`min_n_for_quantile`. Method ``"quantile-order-statistic"``.

    From :func:`min_n_for_quantile` observations on, ``lower <= estimate <=
    upper``. Below it, the one finite bound can exclude the interpolated
    estimate (2 values, q = 0.99: the lower bound is the larger value), as
    scipy's does; such an interval is still valid, and never gates a PASS.

    Raises:
        ValueError: empty or non-finite ``values``, ``q`` or ``confidence``
            outside (0, 1).
    """
    qf = _check_q(q)
    c = _check_confidence(confidence)
    x = _as_values(values)
    n = x.size
    low, high = _order_stat_indices(n, qf, c)
    kth = [i for i in (low, high) if 0 <= i < n]
    part = np.partition(x, kth) if kth else x
    lower = float(part[low]) if low >= 0 else -math.inf
    upper = float(part[high]) if high < n else math.inf
    estimate = float(np.quantile(x, qf))
    return Interval(estimate, lower, upper, n, "quantile-order-statistic")


def min_n_for_quantile(q: float, confidence: float = 0.95) -> int:
    """Smallest n for which both order-statistic bounds of the q-quantile are finite.

    72 for q = 0.95 at 0.95 confidence: with 71 values the upper bound of the
    p95 is ``inf``. Returns at once for any q (3,688,879,453 for q = 1e-9).

    Raises:
        ValueError: ``q`` or ``confidence`` not a number in (0, 1), or ``q`` so
            close to 0 or 1 that more than 2**53 observations would be needed.
    """
    qf = _check_q(q)
    c = _check_confidence(confidence)
    p = (1 - c) / 2

    # Both sides of _order_stat_indices are finite exactly when P(X <= 0) = (1 - q)^n < p
    # and P(X > n - 1) = q^n <= p for X ~ Binomial(n, q): monotone in n, so bisect.
    log_p, log_lo, log_hi = math.log(p), math.log1p(-qf), math.log(qf)

    def finite(n: int) -> bool:
        return n * log_lo < log_p and n * log_hi <= log_p

    guess = max(math.log(p) / math.log1p(-qf), math.log(p) / math.log(qf))
    if not guess < _MAX_QUANTILE_N:
        raise ValueError(
            f"q={q!r} is too close to 0 or 1: a finite interval would need more than "
            f"2**53 observations"
        )
    lo, hi = 0, max(2, math.ceil(guess) * 2 + 2)
    while not finite(hi):
        hi *= 2
    while hi - lo > 1:  # finite(hi), not finite(lo) (lo = 0 is never finite)
        mid = (lo + hi) // 2
        if finite(mid):
            hi = mid
        else:
            lo = mid
    return hi


def z_two_sided(confidence: float = 0.95) -> float:
    """The standard normal quantile that leaves ``(1 - confidence) / 2`` in each tail."""
    return _ndtri(1.0 - (1.0 - _check_confidence(confidence)) / 2)


def z_one_sided(probability: float) -> float:
    """The standard normal quantile of ``probability`` (e.g. 0.8 -> 0.8416)."""
    p = float(probability)
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {probability!r}")
    return _ndtri(p)
