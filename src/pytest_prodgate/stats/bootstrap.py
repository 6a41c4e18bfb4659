"""BCa bootstrap of a mean (plain or clustered) and of a paired difference.

Exact draws in bounded-memory blocks, multinomial draws for few distinct
values, and the Cornish–Fisher approximation beyond 10⁸ units × resamples
(see the :mod:`pytest_prodgate.stats` docstring for the method names).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pytest_prodgate.stats.intervals import (
    Floats,
    Interval,
    Ints,
    _as_values,
    _check_confidence,
    _check_int,
    _ndtr,
    _ndtri,
    wilson,
)
from pytest_prodgate.stats.seeds import SeedLike, _generator

__all__ = ["MIN_RESAMPLES", "bootstrap_mean", "cluster_codes", "distinct_count", "paired_delta"]

#: Fewer resamples cannot place a 2.5% quantile (the option's minimum is the same).
MIN_RESAMPLES = 100
# Values beyond this magnitude are bootstrapped scaled down (their sums would overflow).
_SCALE_ABOVE = 1e100

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


@dataclass(frozen=True)
class _Units:
    """Resampling units in canonical order: sum and size of each one."""

    s: Floats
    m: Floats
    n: int
    clustered: bool


def cluster_codes(labels: npt.NDArray[Any]) -> Ints:
    """Each label's rank among the distinct labels of a 1-d array (``np.unique``'s
    inverse); ``codes.max() + 1`` distinct labels.

    Labels that never decrease (a suite's case index, case order) are ranked by
    counting changes, without ``np.unique``'s sort or hash: 100,000 labels at a tenth
    of its cost, and the same codes.
    """
    arr = np.asarray(labels).reshape(-1)
    if arr.size and arr.dtype.kind in "biu" and bool(np.all(arr[1:] >= arr[:-1])):
        codes = np.empty(arr.size, dtype=np.int64)
        codes[0] = 0
        np.cumsum(arr[1:] != arr[:-1], out=codes[1:])
        return codes
    _, codes = np.unique(arr, return_inverse=True)
    return np.asarray(codes, dtype=np.int64).reshape(-1)


def distinct_count(labels: npt.NDArray[Any]) -> int:
    """How many distinct labels a 1-d array holds (:func:`cluster_codes`)."""
    codes = cluster_codes(labels)
    return int(codes.max()) + 1 if codes.size else 0


def _cluster_codes(clusters: Iterable[Hashable] | npt.ArrayLike, n: int) -> Ints:
    arr = clusters if isinstance(clusters, np.ndarray) else None
    if arr is not None and arr.ndim == 1 and arr.dtype.kind in "biuUS":
        if arr.size != n:
            raise ValueError(f"clusters has {arr.size} labels for {n} values")
        return cluster_codes(arr)
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
    scale = float(np.max(np.abs(x)))
    if scale > _SCALE_ABOVE:
        # Sums of values near the float maximum overflow; the bootstrap is
        # scale-equivariant, so resample x / scale and scale the bounds back.
        iv = _bootstrap_unscaled(x / scale, confidence, resamples, seed, clusters, False)
        return Interval(iv.estimate * scale, iv.lower * scale, iv.upper * scale, iv.n, iv.method)
    return _bootstrap_unscaled(x, confidence, resamples, seed, clusters, binary_fallback)


def _bootstrap_unscaled(
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
            (0, 1), numeric strings, ``resamples < 100``, or ``clusters`` of the
            wrong length. Values beyond 1e100 in magnitude are resampled scaled
            down (the sums would overflow): the bounds stay finite.
    """
    c = _check_confidence(confidence)
    b = _check_int(resamples, "resamples", MIN_RESAMPLES)
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
    b = _check_int(resamples, "resamples", MIN_RESAMPLES)
    cur = _as_values(current, "current")
    base = _as_values(baseline, "baseline")
    if cur.size != base.size:
        raise ValueError(
            f"current and baseline must be paired: {cur.size} values against {base.size}"
        )
    with np.errstate(over="ignore"):
        delta = cur - base
    if not np.all(np.isfinite(delta)):
        raise ValueError("current - baseline overflows: the differences must be finite floats")
    return _bootstrap(delta, c, b, seed, clusters, binary_fallback=False)
