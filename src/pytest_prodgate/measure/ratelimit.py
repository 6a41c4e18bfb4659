"""Rate limits: telling a 429/503 from other failures, how long to wait, and an AIMD limit.

Pure Python, no pytest. Used by :class:`~pytest_prodgate.Model`:

* :func:`rate_limit_signal` says whether an exception is a rate-limit signal
  (HTTP 429 or 503 on the exception's ``status_code`` / ``status``, or on its
  ``response``'s; or an instance of one of the classes given as
  ``Model(rate_limit_errors=...)``) and what ``Retry-After`` it carries.
* :func:`parse_retry_after` reads ``Retry-After`` in seconds or as an HTTP date
  (and ``retry-after-ms``, which OpenAI sends).
* :func:`backoff_s` is exponential backoff with full jitter when no
  ``Retry-After`` is given.
* :class:`Limiter` bounds the attempts of one model in flight at once, with
  additive increase / multiplicative decrease: a rate-limit signal cuts the
  limit to 0.8 x the attempts in flight (at most one cut per generation of
  attempts: those that started before a cut do not cut again, as in TCP), and
  every ``limit`` successes in a row raise it by one, never above ``ceiling``.
  Inspect AI uses the same 0.8 factor.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "RATE_LIMIT_STATUSES",
    "Limiter",
    "backoff_s",
    "parse_retry_after",
    "rate_limit_signal",
]

#: HTTP statuses that mean "slow down": too many requests, service unavailable.
RATE_LIMIT_STATUSES = frozenset({429, 503})
#: Multiplicative decrease of the in-flight limit on a rate-limit signal.
DECREASE = 0.8
#: First backoff step (seconds) and the most one step may wait.
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 30.0


def _status(obj: Any) -> int | None:
    for attr in ("status_code", "status"):
        try:
            value = getattr(obj, attr, None)
        except Exception:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _headers(obj: Any) -> Mapping[str, Any] | None:
    try:
        headers = getattr(obj, "headers", None)
    except Exception:
        return None
    return headers if hasattr(headers, "get") else None


def parse_retry_after(headers: Mapping[str, Any] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        raw = headers.get("retry-after")
        if raw is None:
            raw = headers.get("Retry-After")
    except Exception:
        return None
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            if math.isfinite(value) and value >= 0:
                return value
        except (TypeError, ValueError):
            pass
    if raw is None:
        return None
    text = str(raw).strip()
    try:
        value = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:  # pragma: no cover - older Pythons
            return None
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    return value if math.isfinite(value) and value >= 0 else None


def rate_limit_signal(
    exc: BaseException, classes: tuple[type[BaseException], ...] = ()
) -> tuple[bool, float | None]:
    """``(is a rate-limit signal, Retry-After seconds or None)`` for an attempt's exception."""
    response = None
    try:
        response = getattr(exc, "response", None)
    except Exception:
        response = None
    limited = bool(classes) and isinstance(exc, classes)
    if not limited:
        status = _status(exc)
        if status is None and response is not None:
            status = _status(response)
        limited = status in RATE_LIMIT_STATUSES
    if not limited:
        return False, None
    wait = parse_retry_after(_headers(response)) if response is not None else None
    if wait is None:
        wait = parse_retry_after(_headers(exc))
    if wait is None:
        hint = getattr(exc, "retry_after", None)
        if isinstance(hint, (int, float)) and not isinstance(hint, bool) and hint >= 0:
            wait = float(hint)
    return True, wait


def backoff_s(step: int, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**step)] (at least 1 ms)."""
    top = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2.0 ** min(step, 30)))
    return max(0.001, (rng or random).uniform(0.0, top))


class Limiter:
    """How many attempts of one model may be in flight; AIMD (see the module docs).

    ``ceiling`` (``None``: unbounded until the first cut) is the most ever allowed;
    the plugin sets it to ``--prodgate-concurrency``. Thread-safe; async callers
    use :meth:`acquire_async`, which never blocks their loop.
    """

    def __init__(self, ceiling: int | None = None) -> None:
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        #: Threads waiting in :meth:`acquire` (a release notifies only when there are any).
        self._waiting = 0
        self.ceiling = ceiling
        self.limit: float = math.inf if ceiling is None else float(ceiling)
        self.active = 0
        self.generation = 0
        self.cuts = 0
        self._run = 0

    def set_ceiling(self, ceiling: int) -> None:
        """Allow at most ``ceiling`` attempts in flight from now on (the limit starts there)."""
        with self._cond:
            self.ceiling = ceiling
            self.limit = float(ceiling) if self.cuts == 0 else min(self.limit, float(ceiling))
            self._cond.notify_all()

    def _free(self) -> bool:
        if math.isinf(self.limit):
            return True
        return self.active < max(1, math.floor(self.limit))

    def try_acquire(self) -> int | None:
        """Take a slot if one is free: the generation the attempt starts in, else ``None``."""
        with self._mutex:
            if not self._free():
                return None
            self.active += 1
            return self.generation

    def acquire(self) -> int:
        """Wait for a slot (blocking this thread); the generation the attempt starts in."""
        with self._mutex:  # the condition's lock: no Python-level __enter__
            if self.limit == math.inf or self._free():
                self.active += 1
                return self.generation
            self._waiting += 1
            try:
                while not self._free():
                    self._cond.wait(0.05)
            finally:
                self._waiting -= 1
            self.active += 1
            return self.generation

    async def acquire_async(self) -> int:
        """Wait for a slot without blocking the event loop."""
        while True:
            generation = self.try_acquire()
            if generation is not None:
                return generation
            await asyncio.sleep(0.005)

    def release(self, generation: int, *, limited: bool) -> None:
        """End an attempt: a rate-limited one cuts the limit (once per generation)."""
        with self._mutex:
            in_flight = self.active
            self.active -= 1
            if limited:
                self._run = 0
                if generation == self.generation:
                    base = min(self.limit, float(in_flight))
                    self.limit = max(1.0, math.floor(base * DECREASE))
                    self.generation += 1
                    self.cuts += 1
            elif math.isfinite(self.limit):
                self._run += 1
                if self._run >= self.limit:
                    self._run = 0
                    top = math.inf if self.ceiling is None else float(self.ceiling)
                    self.limit = min(top, self.limit + 1.0)
            if self._waiting:
                self._cond.notify_all()
