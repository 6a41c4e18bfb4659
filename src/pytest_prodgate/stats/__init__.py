"""Confidence intervals behind prodgate's gates (SPEC §6, §10).

Pure numpy (scipy only where a function needs it, imported lazily); nothing
here knows about pytest, so the module is usable alone: arrays in, an
:class:`Interval` out. Every ``confidence`` is two-sided (0.95 leaves 2.5% in
each tail). No function returns a NaN bound; an unbounded side is ``-inf`` /
``inf``.

Methods an :class:`Interval` can name (its ``method``):

``wilson`` / ``clopper-pearson``
    Binomial intervals (equal to statsmodels' ``proportion_confint`` with
    ``method="wilson"`` / ``"beta"``). ``bootstrap_mean`` falls back to
    ``wilson`` on (Σx, n) when every value is 0 or 1 and there are no clusters.
``wilson-empty`` / ``clopper-pearson-empty``
    ``n == 0``: no observation, the interval is [0, 1] and the estimate 0.5.
``wilson-clusters``
    Clustered values that are all 0 or all 1: Wilson on (clusters, clusters)
    or (0, clusters), counting each cluster as one observation.
``constant``
    Every value (or every paired delta) is the same number: both bounds equal it.
``cluster-unbounded``
    Clustered, not constant, but a single cluster: no between-cluster
    variability can be estimated, so the interval is (-inf, inf).
``bca`` / ``bca-cluster``
    BCa bootstrap, resampling values (or whole clusters) with replacement,
    drawn exactly in bounded-memory blocks.
``bca-multinomial`` / ``bca-cluster-multinomial``
    The same exact BCa bootstrap, drawn as counts: when the data hold few
    distinct values (graded scores, paired 0/1 deltas), a resample is fully
    described by how often each distinct value (or cluster shape) is drawn, a
    multinomial vector, at a cost of resamples × distinct values.
``bca-cf-approx`` / ``bca-cluster-cf-approx``
    Used only when units × resamples exceeds 10⁸ (and there are at least 10,000
    units) and the data are too varied for the multinomial draw. The bootstrap
    distribution is still sampled, but each resample's draw counts of the 64
    most extreme units are exact (multinomial) while the sum over the other
    units, given how many of them were drawn, is a normal variate with a
    Cornish–Fisher skewness correction (bivariate, for the ratio of sums, with
    clusters). The BCa machinery (bias correction from the resamples,
    acceleration from the exact jackknife) is unchanged. Its bounds agree with
    the exact bootstrap's within 0.1 standard error (tested).
``quantile-order-statistic``
    Distribution-free order-statistic interval of a quantile (the one
    ``scipy.stats.quantile_test(...).confidence_interval`` gives).

Results depend only on the data (as a multiset: reordering values or renaming
clusters changes nothing), the seed, the number of resamples and the
confidence, never on internal block sizes.
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Interval",
    "SeedLike",
    "bootstrap_mean",
    "clopper_pearson",
    "gate_seed",
    "min_n_for_quantile",
    "n_to_resolve_mean",
    "n_to_resolve_proportion",
    "n_to_resolve_quantile",
    "paired_delta",
    "quantile_bounds",
    "wilson",
    "wilson_graded",
    "z_one_sided",
    "z_two_sided",
]

#: What a ``seed`` parameter accepts. A :class:`numpy.random.Generator` is used
#: (and advanced) as given.
SeedLike = int | np.random.SeedSequence | np.random.Generator

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

# Largest number of elements one resampling block may hold (indices or counts).
_CHUNK_ELEMENTS = 1 << 21
# Units × resamples beyond which an exact draw of every unit gives way to the
# approximation (SPEC §10: "n × resamples beyond ~10^8").
_EXACT_BUDGET = 100_000_000
# The approximation needs a bulk large enough for its normal approximation.
_APPROX_MIN_UNITS = 10_000
# Units whose draw counts stay exact in the approximation.
_TAIL_UNITS = 64
# One multinomial category costs about this many uniform index draws.
_MULTINOMIAL_COST = 12
# Ties between a resampled mean and the estimate, relative to the data's scale.
_TIE_RTOL = 1e-12
# The search of n_to_resolve_* stops here.
_MAX_N = 1 << 50

_NORMAL = NormalDist()


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


def _check_confidence(confidence: float) -> float:
    try:
        c = float(confidence)
    except (TypeError, ValueError):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}") from None
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return c


def _check_q(q: float) -> float:
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
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers") from None
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty: no interval without observations")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return x


def _generator(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    s = _check_int(seed, "seed", 0)
    return np.random.default_rng(s)


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
    from scipy import stats as sps

    alpha = (1.0 - c) / 2.0
    lower = 0.0 if k == 0 else float(sps.beta.ppf(alpha, k, n - k + 1))
    upper = 1.0 if k == n else float(sps.beta.isf(alpha, k + 1, n - k))
    return Interval(k / n, lower, upper, n, "clopper-pearson")


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class _Units:
    """Resampling units in canonical order: sum and size of each one."""

    s: Floats
    m: Floats
    n: int
    clustered: bool


def _cluster_codes(clusters: Iterable[Hashable] | npt.ArrayLike, n: int) -> Ints:
    arr = clusters if isinstance(clusters, np.ndarray) else None
    if arr is not None and arr.ndim == 1 and arr.dtype.kind in "biuUS":
        if arr.size != n:
            raise ValueError(f"clusters has {arr.size} labels for {n} values")
        _, codes = np.unique(arr, return_inverse=True)
        return np.asarray(codes, dtype=np.int64).reshape(-1)
    labels: list[Any] = list(clusters)  # type: ignore[arg-type]
    if len(labels) != n:
        raise ValueError(f"clusters has {len(labels)} labels for {n} values")
    index: dict[Hashable, int] = {}
    try:
        out = [index.setdefault(label, len(index)) for label in labels]
    except TypeError:
        raise ValueError("cluster labels must be hashable") from None
    return np.asarray(out, dtype=np.int64)


def _make_units(x: Floats, clusters: Any) -> _Units:
    if clusters is None:
        return _Units(np.sort(x), np.ones(x.size), x.size, clustered=False)
    codes = _cluster_codes(clusters, x.size)
    # Sum each cluster in value order, so the sums do not depend on input order.
    order = np.lexsort((x, codes))
    s = np.asarray(np.bincount(codes[order], weights=x[order]), dtype=np.float64)
    m = np.asarray(np.bincount(codes[order]), dtype=np.float64)
    canon = np.lexsort((m, s))
    return _Units(s[canon], m[canon], x.size, clustered=True)


def _distinct(u: _Units) -> tuple[Floats, Floats, Ints]:
    """Distinct (sum, size) pairs of the canonically sorted units and their counts."""
    if u.s.size == 1:
        return u.s, u.m, np.ones(1, dtype=np.int64)
    new = np.empty(u.s.size, dtype=bool)
    new[0] = True
    new[1:] = (u.s[1:] != u.s[:-1]) | (u.m[1:] != u.m[:-1])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, u.s.size)).astype(np.int64)
    return u.s[starts], u.m[starts], counts


def _blocks(total: int, width: int) -> Iterable[int]:
    """Row counts of resampling blocks holding at most _CHUNK_ELEMENTS elements."""
    rows = max(1, _CHUNK_ELEMENTS // max(width, 1))
    done = 0
    while done < total:
        r = min(rows, total - done)
        yield r
        done += r


def _draw_exact(u: _Units, resamples: int, rng: np.random.Generator) -> Floats:
    c = u.s.size
    unit_sizes = bool(np.all(u.m == 1.0))
    out = np.empty(resamples, dtype=np.float64)
    pos = 0
    for r in _blocks(resamples, c):
        idx = rng.integers(0, c, size=(r, c))
        if unit_sizes:
            out[pos : pos + r] = u.s[idx].sum(axis=1) / c
        else:
            out[pos : pos + r] = u.s[idx].sum(axis=1) / u.m[idx].sum(axis=1)
        pos += r
    return out


def _draw_multinomial(
    vs: Floats, vm: Floats, freq: Ints, resamples: int, rng: np.random.Generator
) -> Floats:
    c = int(freq.sum())
    pvals = freq / c
    out = np.empty(resamples, dtype=np.float64)
    pos = 0
    for r in _blocks(resamples, vs.size):
        counts = rng.multinomial(c, pvals, size=r).astype(np.float64)
        out[pos : pos + r] = (counts @ vs) / (counts @ vm)
        pos += r
    return out


def _draw_cf_approx(
    u: _Units, theta: float, d: Floats, resamples: int, rng: np.random.Generator
) -> Floats:
    """Exact draw counts for the most extreme units, Cornish–Fisher normal for the rest."""
    c = u.s.size
    k = min(_TAIL_UNITS, c - 1)
    order = np.argsort(-np.abs(d), kind="stable")
    tail, bulk = order[:k], order[k:]
    d_t, m_t = d[tail], u.m[tail]
    d_b, m_b = d[bulk], u.m[bulk]
    mu_d, mu_m = float(d_b.mean()), float(m_b.mean())
    c_d, c_m = d_b - mu_d, m_b - mu_m
    v_d = float(np.mean(c_d * c_d))
    v_m = float(np.mean(c_m * c_m))
    cov = float(np.mean(c_d * c_m))
    gamma = float(np.mean(c_d**3)) / v_d**1.5 if v_d > 0.0 else 0.0
    beta = cov / v_d if v_d > 0.0 else 0.0
    v_resid = max(v_m - beta * cov, 0.0)
    pvals = np.full(k + 1, 1.0 / c)
    pvals[k] = (c - k) / c
    # Two independent streams, so block sizes cannot change which draw is which.
    seeds = rng.integers(0, 2**63, size=2)
    rng_counts = np.random.default_rng(int(seeds[0]))
    rng_normal = np.random.default_rng(int(seeds[1]))
    out = np.empty(resamples, dtype=np.float64)
    pos = 0
    for r in _blocks(resamples, k + 3):
        counts = rng_counts.multinomial(c, pvals, size=r).astype(np.float64)
        z = rng_normal.standard_normal((r, 2))
        nb = counts[:, k]
        z_d = z[:, 0] + gamma / (6.0 * np.sqrt(nb)) * (z[:, 0] ** 2 - 1.0)
        noise_d = np.sqrt(nb * v_d) * z_d
        d_bulk = nb * mu_d + noise_d
        m_bulk = nb * mu_m + beta * noise_d + np.sqrt(nb * v_resid) * z[:, 1]
        tail_counts = counts[:, :k]
        out[pos : pos + r] = theta + (tail_counts @ d_t + d_bulk) / (tail_counts @ m_t + m_bulk)
        pos += r
    return out


def _bca(u: _Units, confidence: float, resamples: int, rng: np.random.Generator) -> Interval:
    """BCa interval of the ratio of sums Σs/Σm over resampled units."""
    c = u.s.size
    total_m = float(u.m.sum())
    theta = float(u.s.sum()) / total_m
    d = u.s - theta * u.m
    suffix = "-cluster" if u.clustered else ""

    # Acceleration from the jackknife, O(units): leaving unit i out moves the
    # estimate by -d_i / (M - m_i).
    jack = -d / (total_m - u.m)
    dev = float(jack.mean()) - jack
    scale = float(np.max(np.abs(dev)))
    accel = 0.0
    if scale > 0.0:  # scale-free form: no underflow or overflow in the powers
        dev = dev / scale
        accel = float(np.sum(dev**3)) / (6.0 * float(np.sum(dev * dev)) ** 1.5)

    vs, vm, freq = _distinct(u)
    k = vs.size
    if k * _MULTINOMIAL_COST <= c:
        theta_b, method = _draw_multinomial(vs, vm, freq, resamples, rng), "multinomial"
    elif c * resamples <= _EXACT_BUDGET or c < _APPROX_MIN_UNITS:
        theta_b, method = _draw_exact(u, resamples, rng), ""
    elif k * _MULTINOMIAL_COST * resamples <= _EXACT_BUDGET:
        theta_b, method = _draw_multinomial(vs, vm, freq, resamples, rng), "multinomial"
    else:
        theta_b, method = _draw_cf_approx(u, theta, d, resamples, rng), "cf-approx"
    name = "bca" + suffix + (f"-{method}" if method else "")

    # Bias correction: share of resampled estimates below the estimate (ties
    # count half; a difference within rounding is a tie).
    tol = _TIE_RTOL * float(np.max(np.abs(u.s) / u.m))
    below = int(np.count_nonzero(theta_b < theta - tol))
    at_or_below = int(np.count_nonzero(theta_b <= theta + tol))
    share = (below + at_or_below) / (2.0 * resamples)
    share = min(max(share, 0.5 / resamples), 1.0 - 0.5 / resamples)
    z0 = _ndtri(share) if 0.0 < share < 1.0 else 0.0

    z_alpha = _ndtri((1.0 - confidence) / 2.0)
    levels = []
    for z in (z_alpha, -z_alpha):
        num = z0 + z
        denom = 1.0 - accel * num
        if denom <= 0.0:  # beyond BCa's singularity: take the conservative extreme
            levels.append(1.0 if num > 0 else 0.0)
        else:
            levels.append(_ndtr(z0 + num / denom))
    lower, upper = (float(v) for v in np.quantile(theta_b, levels))
    # An interval that excludes its own estimate only arises in degenerate
    # tiny samples; widen it to contain the estimate.
    lower = min(lower, theta)
    upper = max(upper, theta)
    return Interval(theta, lower, upper, u.n, name)


def _bootstrap(
    x: Floats,
    confidence: float,
    resamples: int,
    seed: SeedLike,
    clusters: Any,
    binary_fallback: bool,
) -> Interval:
    n = x.size
    lo, hi = float(x.min()), float(x.max())
    constant = lo == hi
    if clusters is None:
        if binary_fallback and bool(np.all((x == 0.0) | (x == 1.0))):
            return wilson(int(np.count_nonzero(x)), n, confidence)
        if constant:
            return Interval(lo, lo, lo, n, "constant")
        units = _make_units(x, None)
    else:
        units = _make_units(x, clusters)
        c = units.s.size
        if constant:
            if binary_fallback and lo in (0.0, 1.0):
                w = wilson(c if lo == 1.0 else 0, c, confidence)
                return Interval(lo, w.lower, w.upper, n, "wilson-clusters")
            return Interval(lo, lo, lo, n, "constant")
        if c < 2:
            est = float(units.s.sum() / units.m.sum())
            return Interval(est, -math.inf, math.inf, n, "cluster-unbounded")
    return _bca(units, confidence, resamples, _generator(seed))


def bootstrap_mean(
    values: npt.ArrayLike,
    confidence: float = 0.95,
    resamples: int = 9999,
    seed: SeedLike = 0,
    clusters: Iterable[Hashable] | npt.ArrayLike | None = None,
    *,
    binary_fallback: bool = True,
) -> Interval:
    """BCa bootstrap interval of the mean of ``values``.

    The bias correction comes from the resamples (ties count half), the
    acceleration from the jackknife (leaving out one value, or one whole
    cluster). With ``clusters`` (one hashable label per value) whole clusters
    are resampled with replacement and the estimate is the mean over all
    values (a ratio of sums over clusters).

    Fallbacks: values that are all 0 or 1 (without clusters) give
    :func:`wilson` on (Σx, n) unless ``binary_fallback=False`` (then they are
    bootstrapped like any others, except all-0 / all-1, which stay Wilson);
    clustered values that are all 0 or all 1 give Wilson with one observation
    per cluster (``"wilson-clusters"``); any other
    constant gives that constant as both bounds (``"constant"``); a single
    non-constant cluster gives (-inf, inf) (``"cluster-unbounded"``).

    The bootstrap is drawn exactly (``"bca"``, ``"bca-multinomial"``) unless
    units × resamples exceeds 10⁸ with at least 10,000 units and many distinct
    values, where ``"bca-cf-approx"`` is used (see the module docstring). Never
    builds a resamples × n matrix: blocks hold at most ~2M elements.

    Raises:
        ValueError: empty or non-finite ``values``, ``confidence`` outside
            (0, 1), ``resamples < 1``, or ``clusters`` of the wrong length.
    """
    c = _check_confidence(confidence)
    b = _check_int(resamples, "resamples", 1)
    x = _as_values(values)
    if not binary_fallback and clusters is None and x.size and x.min() == x.max():
        binary_fallback = True  # 0% / 100%: never a zero-width interval
    return _bootstrap(x, c, b, seed, clusters, binary_fallback=binary_fallback)


def paired_delta(
    current: npt.ArrayLike,
    baseline: npt.ArrayLike,
    confidence: float = 0.95,
    resamples: int = 9999,
    seed: SeedLike = 0,
    clusters: Iterable[Hashable] | npt.ArrayLike | None = None,
) -> Interval:
    """BCa bootstrap interval of mean(current − baseline) over paired entries.

    ``current[i]`` and ``baseline[i]`` belong to the same case; pairs are
    resampled together (whole clusters of pairs with ``clusters``). Identical
    deltas give ``"constant"``; there is no Wilson fallback (0/1 deltas are
    resampled exactly through the multinomial draw instead). Otherwise as
    :func:`bootstrap_mean`.

    Raises:
        ValueError: arrays of different lengths, empty or non-finite input, or
            invalid ``confidence`` / ``resamples``.
    """
    c = _check_confidence(confidence)
    b = _check_int(resamples, "resamples", 1)
    cur = _as_values(current, "current")
    base = _as_values(baseline, "baseline")
    if cur.size != base.size:
        raise ValueError(
            f"current and baseline must be paired: {cur.size} values against {base.size}"
        )
    return _bootstrap(cur - base, c, b, seed, clusters, binary_fallback=False)


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
    p95 is ``inf``.
    """
    qf = _check_q(q)
    c = _check_confidence(confidence)
    p = (1 - c) / 2

    def finite(n: int) -> bool:
        low, high = _order_stat_indices(n, qf, c)
        return low >= 0 and high < n

    # Both sides are finite once (1 - q)^n < p and q^n <= p.
    n = max(1, math.ceil(max(math.log(p) / math.log1p(-qf), math.log(p) / math.log(qf))))
    while not finite(n):
        n += 1
    while n > 1 and finite(n - 1):
        n -= 1
    return n


# --------------------------------------------------------------------------- sample sizes


def _smallest_n(resolved: Callable[[int], bool]) -> int | None:
    """Smallest n with resolved(n) (and not resolved(n - 1)): doubling, then bisection."""
    hi = 1
    while not resolved(hi):
        hi *= 2
        if hi > _MAX_N:
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
    from scipy.stats import binom

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
        if above:
            chance = float(binom.sf(edge - 1, n, p)) if edge <= n else 0.0
        else:
            chance = float(binom.cdf(edge, n, p)) if edge >= 0 else 0.0
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
    on the budget, no n helps) or when more than 2**50 would be needed.

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
        return _smallest_n(resolved)
    pw = _check_power(power)
    from scipy.stats import binom

    def likely(n: int) -> bool:
        low, high = _order_stat_indices(n, qf, c)
        if under:
            return high < n and float(binom.sf(high, n, share)) >= pw
        return low >= 0 and float(binom.cdf(low, n, share)) >= pw

    return _smallest_n(likely)


# --------------------------------------------------------------------------- seeds


def gate_seed(seed: int, suite: str, gate: str) -> np.random.SeedSequence:
    """The random stream of one gate: ``SeedSequence([seed, h])``.

    ``h`` is the first 16 bytes (big-endian) of SHA-256 of ``suite + "\\0" +
    gate``, so every gate has its own stream, identical across runs and
    processes, and adding a gate moves no other.
    """
    s = _check_int(seed, "seed", 0)
    digest = hashlib.sha256((suite + "\0" + gate).encode()).digest()
    return np.random.SeedSequence([s, int.from_bytes(digest[:16], "big")])


def z_two_sided(confidence: float = 0.95) -> float:
    """The standard normal quantile that leaves ``(1 - confidence) / 2`` in each tail."""
    return _ndtri(1.0 - (1.0 - _check_confidence(confidence)) / 2)


def z_one_sided(probability: float) -> float:
    """The standard normal quantile of ``probability`` (e.g. 0.8 -> 0.8416)."""
    p = float(probability)
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {probability!r}")
    return _ndtri(p)
