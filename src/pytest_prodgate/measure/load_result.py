"""The result of one load run (:func:`pytest_prodgate.measure.load.run_load`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_prodgate.stats.windows import window_counts

__all__ = ["SATURATION_OCCUPANCY", "Call", "LoadResult", "mean_in_flight"]

#: One measured call: (start_s, end_s, ok, error class name or None).
Call = tuple[float, float, bool, "str | None"]

#: A run is runner-saturated when its mean number of calls in flight, while
#: requests were still being issued, is below this share of ``concurrency``.
SATURATION_OCCUPANCY = 0.9


@dataclass(frozen=True)
class LoadResult:
    """One load run as measured. Times are seconds from the first measured call's start."""

    concurrency: int
    """How many calls the runner kept in flight (workers)."""
    duration_s: float
    """The measured window: first measured start -> last measured end."""
    calls: list[Call]
    """``(start_s, end_s, ok, error)`` per measured call, sorted by start; warm-up excluded."""
    saturated: bool
    """The runner could not keep ``concurrency`` calls in flight (see the module docs)."""
    timed_out: bool
    """Duration mode: calls were still in flight when the grace period ran out."""
    requests: int = 0
    """Measured requests issued (``len(calls)``)."""
    warmup: int = 0
    """Warm-up requests made before the measured phase."""
    name: str | None = None
    """The run's name (the model's name by default)."""

    def successes(self) -> int:
        """Calls that returned."""
        return sum(1 for c in self.calls if c[2])

    def errors(self) -> int:
        """Calls that raised or timed out."""
        return sum(1 for c in self.calls if not c[2])

    def throughput_rps(self) -> float:
        """Successful requests per second over the measured window (0.0 for an empty window)."""
        return self.successes() / self.duration_s if self.duration_s > 0 else 0.0

    def window_rates(self, n_windows: int | None = None) -> list[float]:
        """Successes per second in equal time windows spanning ``[0, duration_s]``.

        A success counts in the window in which it ended. By default the run is
        cut into at most :data:`MAX_WINDOWS` windows, each at least
        :data:`WINDOW_LATENCIES` median call latencies long (so the calls that
        straddle a boundary matter little), and at least one; fewer than
        :data:`MIN_WINDOWS` means the run was too short for a throughput
        interval. Empty when ``duration_s`` is 0.
        """
        counts, width = window_counts(self.calls, self.duration_s, n_windows)
        return [k / width for k in counts] if width > 0 else []

    def latencies_ms(self) -> list[float]:
        """Each measured call's latency in milliseconds, in start order."""
        return [(c[1] - c[0]) * 1000.0 for c in self.calls]

    def mean_in_flight(self) -> float | None:
        """Mean calls in flight while requests were being issued (``None`` for one burst)."""
        return mean_in_flight(self.calls)

    def to_dict(self) -> dict[str, Any]:
        """Plain builtins only (crosses xdist); the shape the report keeps for a load run."""
        return {
            "concurrency": self.concurrency,
            "duration_s": self.duration_s,
            "calls": [[s, e, ok, err] for s, e, ok, err in self.calls],
            "saturated": self.saturated,
            "timed_out": self.timed_out,
            "requests": self.requests,
            "warmup": self.warmup,
            "name": self.name,
        }


def mean_in_flight(calls: Sequence[Sequence[Any]]) -> float | None:
    """Little's law over ``[0, last start]``: busy time / elapsed time."""
    if not calls:
        return None
    last_start = max(float(c[0]) for c in calls)
    if last_start <= 0:
        return None
    busy = sum(min(float(c[1]), last_start) - float(c[0]) for c in calls if c[0] < last_start)
    return busy / last_start
