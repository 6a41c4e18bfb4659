"""Throughput statistics: load runs cut into time windows, and the windows bootstrapped.

A run is ``(start_s, end_s, ok, error)`` rows with times in seconds from its
first start (tuples or lists), plus its measured ``duration_s``: a
:class:`pytest_prodgate.measure.load.LoadResult`, or the dict its ``to_dict()``
gives (the shape the report keeps).
"""

from __future__ import annotations

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
    median = latencies[len(latencies) // 2] if latencies else 0.0
    if median <= 0:
        return MAX_WINDOWS
    return max(1, min(MAX_WINDOWS, int(duration_s / (WINDOW_LATENCIES * median) + 1e-9)))


def throughput_interval(
    runs: Sequence[Mapping[str, Any] | RunLike],
    confidence: float = 0.95,
    resamples: int = 9999,
    seed: SeedLike = 0,
) -> tuple[float, float, float, int, str]:
    """``(estimate, lower, upper, n_windows, method)`` of successful requests per second.

    The estimate is total successes / total measured duration over ``runs``
    (``LoadResult.to_dict()`` dicts or ``LoadResult`` s). The interval is a BCa
    bootstrap (:func:`pytest_prodgate.stats.bootstrap_mean`) over the runs'
    time windows (each run cut as :func:`window_counts` does), method
    ``"window-" + the bootstrap's method``. Windows of one length contribute
    their rates ``k / w``; when runs with different window lengths are pooled,
    each window contributes the linearised ratio ``R + (k - R w) / w̄`` (``R`` the
    estimate, ``w̄`` the mean window length), which is its rate when lengths are
    equal and keeps the bootstrap centred on the time-weighted estimate.

    With fewer than :data:`MIN_WINDOWS` windows (no run, or runs shorter than
    about 25 median call latencies) the bounds are ``-inf``/``inf`` and the
    method is ``"too-few-windows"``: the gate is INCONCLUSIVE.
    """
    counts: list[int] = []
    widths: list[float] = []
    successes = 0
    duration = 0.0
    for run in runs:
        if isinstance(run, Mapping):
            dur, calls = float(run["duration_s"]), run["calls"]
        else:
            dur, calls = float(run.duration_s), run.calls
        if not dur > 0:
            continue
        k, w = window_counts(calls, dur)
        counts.extend(k)
        widths.extend([w] * len(k))
        successes += sum(k)
        duration += dur
    estimate = successes / duration if duration > 0 else 0.0
    n = len(counts)
    if n < MIN_WINDOWS:
        return estimate, -math.inf, math.inf, n, "too-few-windows"
    mean_w = sum(widths) / n
    z = [estimate + (k - estimate * w) / mean_w for k, w in zip(counts, widths, strict=True)]
    if min(z) == max(z):  # every window alike (e.g. no success at all): no spread
        return estimate, z[0], z[0], n, "window-constant"
    # bootstrap_mean reads values that are all 0 or 1 as proportions (Wilson): rescale
    # such rates (the bootstrap is scale-equivariant) so they stay rates.
    scale = 2.0 if all(v in (0.0, 1.0) for v in z) else 1.0
    iv = bootstrap_mean(
        [v * scale for v in z], confidence=confidence, resamples=resamples, seed=seed
    )
    return estimate, iv.lower / scale, iv.upper / scale, n, f"window-{iv.method}"
