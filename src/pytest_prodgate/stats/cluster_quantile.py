"""Bounds of a quantile of values that come in clusters (the calls of one case).

The order-statistic interval of :func:`~pytest_prodgate.stats.quantile_bounds`
assumes independent values. The calls of one case (its trials, or an agent's
several calls) share an input and are alike, so pooled they look like more
evidence than they are. Here a cluster is the unit: for a threshold ``t`` the share
of values ``<= t`` is a ratio of the clusters' counts to their sizes, tested with
the betting test of a ratio (:func:`~pytest_prodgate.stats.betting_ratio`), and the
bounds are the thresholds at which that share is shown above or below ``q``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from pytest_prodgate.stats.bootstrap import cluster_codes
from pytest_prodgate.stats.bounded import ratio_rejects_above, ratio_rejects_below
from pytest_prodgate.stats.intervals import Interval, _as_values, _check_confidence, _check_q
from pytest_prodgate.stats.seeds import SeedLike, _generator

__all__ = ["quantile_bounds_clustered"]


def quantile_bounds_clustered(
    values: npt.ArrayLike,
    clusters: npt.ArrayLike,
    q: float,
    confidence: float = 0.95,
    seed: SeedLike = 0,
) -> Interval:
    """Interval of the ``q``-quantile of one value drawn from all (a call of any case),
    when the values of a cluster may be alike and clusters are independent.

    The upper bound is the smallest value ``t`` at which the clusters show that more
    than ``q`` of the values are ``<= t``; the lower bound the largest at which they
    show fewer. Each side errs at most ``(1 - confidence) / 2`` for every n of
    clusters (no cluster larger than the largest seen), measured by simulation
    (``benchmarks/sim_latency_clusters.py``): the argument needs the test to be
    monotone in the data, which the plug-in bets are not exactly. A side the data
    cannot bound is infinite. The estimate is ``np.quantile(values, q)``. Method
    ``"quantile-cluster-betting"``.

    Raises:
        ValueError: empty or non-finite ``values``, lengths differ, ``q`` or
            ``confidence`` outside (0, 1).
    """
    qf = _check_q(q)
    c = _check_confidence(confidence)
    x = _as_values(values)
    labels = np.asarray(clusters)
    if labels.shape != x.shape:
        raise ValueError(f"values and clusters differ in length: {x.size} != {labels.size}")
    codes = cluster_codes(labels)
    m = int(codes.max()) + 1
    # Cases in an order of the seed's: the bets depend on the order, not the verdict's seed.
    codes = _generator(seed).permutation(m)[codes]
    sizes = np.bincount(codes, minlength=m).astype(np.float64)
    most = float(sizes.max())
    alpha = (1.0 - c) / 2.0
    order = np.argsort(x, kind="stable")
    xs, cs = x[order], codes[order]
    distinct, last = _last_of_each(xs)

    def below(j: int) -> np.ndarray[Any, Any]:  # per cluster: its values <= distinct[j]
        return np.bincount(cs[: last[j] + 1], minlength=m).astype(np.float64)

    def shows_more(j: int) -> bool:  # the share <= distinct[j] is shown above q
        return ratio_rejects_above(below(j), sizes, qf, alpha, 1.0, most=most)

    def shows_fewer(j: int) -> bool:  # the share <= distinct[j] is shown below q
        return ratio_rejects_below(below(j), sizes, qf, alpha, 1.0, most=most)

    top = distinct.size - 1
    upper = math.inf
    if shows_more(top):
        lo, hi = -1, top  # shows_more(hi) holds; find the smallest such index
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if shows_more(mid) else (mid, hi)
        upper = float(distinct[hi])
    lower = -math.inf
    if shows_fewer(0):
        lo, hi = 0, top + 1  # shows_fewer(lo) holds; find the largest such index
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if shows_fewer(mid) else (lo, mid)
        lower = float(distinct[lo])  # the share <= it is below q: the quantile is above
    estimate = float(np.quantile(x, qf))
    return Interval(estimate, lower, upper, int(x.size), "quantile-cluster-betting")


def _last_of_each(xs: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The distinct values of sorted ``xs`` and the index of each one's last copy."""
    ends = np.flatnonzero(np.append(xs[1:] != xs[:-1], True))
    return xs[ends], ends
