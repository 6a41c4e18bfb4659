"""Throughput statistics: load runs cut into time windows, and the windows bootstrapped.

A run is ``(start_s, end_s, ok, error)`` rows with times in seconds from its
first start (tuples or lists), plus its measured ``duration_s``: a
:class:`pytest_prodgate.measure.load.LoadResult`, or the dict its ``to_dict()``
gives (the shape the report keeps).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pytest_prodgate.stats.bootstrap import bootstrap_mean
from pytest_prodgate.stats.seeds import SeedLike

__all__ = [
    "MAX_WINDOWS",
    "MIN_WINDOWS",
    "WINDOW_LATENCIES",
    "RunLike",
    "throughput_interval",
    "window_autocorrelation",
    "window_counts",
]

#: The default number of time windows a run is cut into (at most).
MAX_WINDOWS = 20
#: Fewer windows than this give no finite throughput interval.
MIN_WINDOWS = 5
#: A default window spans at least this many median call latencies.
WINDOW_LATENCIES = 5.0


class RunLike(Protocol):
    """A load run read by attribute (a ``LoadResult``)."""

    @property
    def duration_s(self) -> float: ...

    @property
    def calls(self) -> Sequence[Sequence[Any]]: ...


def window_counts(
    calls: Sequence[Sequence[Any]], duration_s: float, n_windows: int | None = None
) -> tuple[list[int], float]:
    """``(successes per window, window length)`` over equal windows spanning ``[0, duration_s]``.

    A success counts in the window in which it ended. By default the run is cut
    into at most :data:`MAX_WINDOWS` windows, each at least
    :data:`WINDOW_LATENCIES` median call latencies long (so the calls that
    straddle a boundary matter little), and at least one. With ``duration_s <=
    0`` there are no windows: ``([], 0.0)``.
    """
    if n_windows is not None and (
        isinstance(n_windows, bool) or not isinstance(n_windows, int) or n_windows < 1
    ):
        raise ValueError(f"n_windows must be an int >= 1 or None, got {n_windows!r}")
    if not duration_s > 0:
        return [], 0.0
    if not math.isfinite(duration_s):
        raise ValueError(f"duration_s must be finite, got {duration_s!r}")
    n = n_windows if n_windows is not None else _default_windows(calls, duration_s)
    width = duration_s / n
    counts = [0] * n
    last = n - 1
    for c in calls:
        if c[2]:
            k = int(c[1] / width)
            counts[min(max(k, 0), last)] += 1
    return counts, width


def _default_windows(calls: Sequence[Sequence[Any]], duration_s: float) -> int:
    latencies = sorted(float(c[1]) - float(c[0]) for c in calls)
    if not latencies:  # no call at all: nothing tells how long a window should be
        return 1
    median = latencies[len(latencies) // 2]
    if median <= 0:
        return MAX_WINDOWS
    return max(1, min(MAX_WINDOWS, int(duration_s / (WINDOW_LATENCIES * median) + 1e-9)))


def throughput_interval(
    runs: Sequence[Mapping[str, Any] | RunLike],
    confidence: float = 0.95,
    resamples: int = 9999,
    seed: SeedLike = 0,
    method: str = "auto",
) -> tuple[float, float, float, int, str]:
    """``(estimate, lower, upper, n_windows, method)`` of successful requests per second.

    The estimate is total successes / total measured duration over ``runs``
    (``LoadResult.to_dict()`` dicts or ``LoadResult`` s), each run cut into
    windows as :func:`window_counts` does. Windows of one length contribute
    their rates ``k / w``; when runs with different window lengths are pooled,
    each window contributes the linearised ratio ``R + (k - R w) / w̄`` (``R`` the
    estimate, ``w̄`` the mean window length).

    ``method="auto"``: the exact Poisson (Garwood) interval of the total count
    over the total duration, scaled by the windows' dispersion φ (long-run
    count variance / mean count, at least 1; the long-run variance allows for
    an AR(1) in the counts, factor ``(1 + ρ) / (1 - ρ)``, and for Poisson
    counts over an AR(1) rate), ρ the windows' lag-1 autocorrelation within
    runs (bias-corrected, clipped to [0, 0.9]): neighbouring windows are not
    independent (a slow spell spans two), and a rate from few requests is
    skewed. Method ``"window-poisson-ar1"``; never zero-width, not even with
    no success. :func:`window_autocorrelation` gives ρ.
    ``method="bootstrap"``: the BCa bootstrap of the window rates as if they
    were independent (:func:`pytest_prodgate.stats.bootstrap_mean`), method
    ``"window-" + the bootstrap's method``.

    With fewer than :data:`MIN_WINDOWS` windows (no run, or runs shorter than
    about 25 median call latencies) the bounds are ``-inf``/``inf`` and the
    method is ``"too-few-windows"``: the gate is INCONCLUSIVE.
    """
    series = _window_series(runs)
    counts = [k for ks, _ in series for k in ks]
    widths = [w for ks, w in series for _ in ks]
    successes = sum(counts)
    duration = sum(len(ks) * w for ks, w in series)
    estimate = successes / duration if duration > 0 else 0.0
    n = len(counts)
    if n < MIN_WINDOWS:
        return estimate, -math.inf, math.inf, n, "too-few-windows"
    mean_w = sum(widths) / n
    z = [estimate + (k - estimate * w) / mean_w for k, w in zip(counts, widths, strict=True)]
    if method != "bootstrap":
        rho = _rho(series, estimate, mean_w) if min(z) != max(z) else 0.0
        lo, hi = _poisson_ar1(z, mean_w, successes, duration, rho, confidence)
        return estimate, lo, hi, n, "window-poisson-ar1"
    if min(z) == max(z):  # every window alike (e.g. no success at all): no spread
        return estimate, z[0], z[0], n, "window-constant"
    # bootstrap_mean reads values that are all 0 or 1 as proportions (Wilson): rescale
    # such rates (the bootstrap is scale-equivariant) so they stay rates.
    scale = 2.0 if all(v in (0.0, 1.0) for v in z) else 1.0
    iv = bootstrap_mean(
        [v * scale for v in z], confidence=confidence, resamples=resamples, seed=seed
    )
    return estimate, iv.lower / scale, iv.upper / scale, n, f"window-{iv.method}"


def _window_series(runs: Sequence[Mapping[str, Any] | RunLike]) -> list[tuple[list[int], float]]:
    out = []
    for run in runs:
        if isinstance(run, Mapping):
            dur, calls = float(run["duration_s"]), run["calls"]
        else:
            dur, calls = float(run.duration_s), run.calls
        if dur > 0:
            out.append(window_counts(calls, dur))
    return out


def _rho(series: list[tuple[list[int], float]], estimate: float, mean_w: float) -> float:
    """Lag-1 autocorrelation of the window rates within runs (raw, not clipped)."""
    num = den = 0.0
    pairs = 0
    for ks, w in series:
        dev = [(k - estimate * w) / mean_w for k in ks]
        den += sum(d * d for d in dev)
        num += sum(a * b for a, b in itertools.pairwise(dev))
        pairs += max(len(dev) - 1, 0)
    if den <= 0.0 or pairs == 0:
        return 0.0
    return num / den


def window_autocorrelation(runs: Sequence[Mapping[str, Any] | RunLike]) -> float | None:
    """Lag-1 autocorrelation of the runs' window rates (``None`` with fewer than 5 windows)."""
    series = _window_series(runs)
    n = sum(len(ks) for ks, _ in series)
    duration = sum(len(ks) * w for ks, w in series)
    if n < MIN_WINDOWS or duration <= 0:
        return None
    estimate = sum(sum(ks) for ks, _ in series) / duration
    return _rho(series, estimate, duration / n)


def _poisson_ar1(
    z: list[float],
    mean_w: float,
    successes: int,
    duration: float,
    rho_raw: float,
    confidence: float,
) -> tuple[float, float]:
    """Exact Poisson (Garwood) bounds of the rate, scaled for over-dispersion and AR(1).

    The dispersion is the windows' long-run count variance over their mean
    count, and at least 1 (Poisson): the larger of the count variance times the
    AR(1) factor ``(1 + ρ) / (1 - ρ)``, and the mean plus the variance beyond
    Poisson times the AR(1) factor of that signal (whose lag-1 autocorrelation
    is ``ρ · var / (var - mean)``: Poisson noise is white). The total count
    divided by it is read as a Poisson count.
    """
    # chi2.ppf(a, 2k) / 2 is gammaincinv(k, a): scipy.special imports in a third of the time.
    from scipy.special import gammainccinv, gammaincinv, ndtri, stdtrit

    alpha = (1.0 - confidence) / 2.0
    n = len(z)
    # The lag-1 estimate is biased low by about (1 + 4 rho) / n (Marriott & Pope).
    rho = min(max(rho_raw + (1.0 + 4.0 * rho_raw) / n, 0.0), 0.9)
    counts = [v * mean_w for v in z]
    mean_count = sum(counts) / n
    var = sum((c - mean_count) ** 2 for c in counts) / (n - 1)
    if mean_count > 0:
        # AR(1) on the counts themselves, and AR(1) on the rate beneath Poisson counts
        # (white noise of variance mean plus an AR(1) signal: its autocorrelation is
        # the counts' lag-1 covariance over the signal's variance); the larger of the
        # two long-run variances, so that either model is allowed for.
        long_run = var * (1.0 + rho) / (1.0 - rho)
        signal = var - mean_count
        if signal > 0.0:
            rho_s = min(max(rho * var / signal, 0.0), 0.9)
            long_run = max(long_run, mean_count + signal * (1.0 + rho_s) / (1.0 - rho_s))
        # The dispersion is estimated from n windows: widen as Student's t widens a
        # normal interval, (t_{n-1} / z)^2 on the variance (1.14 at 20 windows, 1.005
        # at 1,000), so that few windows keep the promised error (docs/statistics.md).
        t_over_z = float(stdtrit(n - 1, 1.0 - alpha) / ndtri(1.0 - alpha))
        phi = max(1.0, long_run / mean_count * t_over_z**2)
    else:
        phi = 1.0
    k = successes / phi
    lower = float(gammaincinv(k, alpha)) if k > 0 else 0.0
    upper = float(gammainccinv(k + 1.0, alpha))
    return lower * phi / duration, upper * phi / duration
