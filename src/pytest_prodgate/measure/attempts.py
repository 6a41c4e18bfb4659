"""One attempt of a model call, and the tally of a call's attempts.

Pure Python, no pytest. :class:`Attempts` is the part of
:class:`~pytest_prodgate.Model` that runs a single attempt (sync or async, with
its deadline; see :mod:`pytest_prodgate.measure.calling` for how deadlines are
kept); :class:`Tally` adds a call's attempts up; :func:`check_options` validates
``Model``'s keyword arguments with one clear message each.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Callable
from typing import Any

from pytest_prodgate.measure.calling import (
    await_limited,
    close_awaitable,
    loop_running,
    run_coroutine,
    run_in_daemon_thread,
    safe_repr,
    start_in_daemon_thread,
)
from pytest_prodgate.measure.pricing import Pricing

__all__ = ["Attempts", "Misuse", "Tally", "check_options"]

# How long ``model(...)`` waits past the deadline for a private loop to finish
# cancelling a coroutine (a blocked one is abandoned after that).
CANCEL_GRACE_S = 0.1
#: Exact types whose instances are never awaitable (a subclass could define ``__await__``):
#: the common outputs skip ``inspect.isawaitable``'s ABC check.
NEVER_AWAITABLE = frozenset({str, bytes, int, float, bool, type(None), dict, list, tuple})


class Misuse(TypeError):
    """Internal: a usage error raised as is, never recorded nor retried."""


class Tally:
    """What the attempts of one logical call add up to."""

    __slots__ = (
        "attempts",
        "failures",
        "in_flight",
        "key",
        "last_exc",
        "overshoot_s",
        "rate_limited",
        "reserved",
        "retried",
        "retry_next",
        "start",
        "throttled_s",
        "timed_out",
    )

    def __init__(self, in_flight: int | None = None, key: str | None = None) -> None:
        self.start = time.perf_counter()
        #: The call's ``--prodgate-cache`` key (``None``: no cache), to journal a failure.
        self.key = key
        self.attempts = 0
        #: Failed attempts that were not rate-limited (these use up ``retries``).
        self.failures = 0
        #: Attempts made again after an ordinary failure (``CallRecord.retries``).
        self.retried = 0
        self.retry_next = False
        self.rate_limited = 0
        self.throttled_s = 0.0
        self.in_flight = in_flight
        self.last_exc: Exception | None = None
        self.timed_out = False
        self.overshoot_s = 0.0
        #: What the spend cap holds for this call while it runs (``_Spend.reserve``).
        self.reserved = 0.0

    def latency(self) -> float:
        """Seconds of the call that were the model's: not overshoot, not rate-limit waits."""
        elapsed = time.perf_counter() - self.start
        return max(0.0, elapsed - self.overshoot_s - self.throttled_s)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Model({what}=...) takes a number of seconds, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"Model({what}=...) takes a finite number of seconds > 0, got {value!r}")
    return float(value)


def check_options(
    fn: Any,
    name: Any,
    version: Any,
    pricing: Any,
    cost: Any,
    timeout_s: Any,
    retries: Any,
    rate_limit_errors: Any,
    rate_limit_timeout_s: Any,
) -> tuple[float | None, int, tuple[type[BaseException], ...], float]:
    """Validate ``Model``'s arguments; ``(timeout_s, retries, rate_limit_errors, rl_timeout)``."""
    if not callable(fn):
        raise TypeError(f"Model() takes a callable, got {safe_repr(fn)}")
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"Model(name=...) takes a non-empty string, got {name!r}")
    if version is not None and not isinstance(version, str):
        raise TypeError(f"Model(version=...) takes a string, got {version!r}")
    if pricing is not None and not isinstance(pricing, Pricing):
        raise TypeError(
            "Model(pricing=...) takes a pytest_prodgate.Pricing"
            f"(input_per_mtok=..., output_per_mtok=...), got {safe_repr(pricing)}"
        )
    if cost is not None and not callable(cost):
        raise TypeError(
            f"Model(cost=...) takes a callable cost(output) -> usd, got {safe_repr(cost)}"
        )
    timeout = None if timeout_s is None else _number(timeout_s, "timeout_s")
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise TypeError(f"Model(retries=...) takes an int >= 0, got {retries!r}")
    if retries < 0:
        raise ValueError(f"Model(retries=...) takes an int >= 0, got {retries!r}")
    classes = (
        (rate_limit_errors,) if isinstance(rate_limit_errors, type) else tuple(rate_limit_errors)
    )
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(
                "Model(rate_limit_errors=...) takes exception classes, got " + safe_repr(cls)
            )
    return timeout, int(retries), classes, _number(rate_limit_timeout_s, "rate_limit_timeout_s")


class Attempts:
    """Running one attempt of a call; mixed into :class:`~pytest_prodgate.Model`."""

    _fn: Callable[..., Any]
    _name: str
    _timeout_s: float | None
    _is_async: bool
    _thread_name: str

    def _remaining(self, t0: float) -> float | None:
        if self._timeout_s is None:
            return None
        return self._timeout_s - (time.perf_counter() - t0)

    def _attempt_sync(self, args: tuple[Any, ...], kwargs: dict[str, Any], t0: float) -> Any:
        if self._timeout_s is None:
            return self._complete(args, kwargs, t0, None, None)
        awaiting: list[bool] = []
        return run_in_daemon_thread(
            self._complete,
            (args, kwargs, t0, loop_running(), awaiting),
            {},
            self._timeout_s,
            self._thread_name,
            grace=lambda: CANCEL_GRACE_S if awaiting else 0.0,
        )

    def _complete(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        t0: float,
        in_loop: bool | None,
        awaiting: list[bool] | None,
    ) -> Any:
        """One attempt from sync code: the call, then any awaitable it returned, to the end.

        ``in_loop``: whether the caller's thread runs an event loop (``None``: this
        thread is the caller's, look when needed). ``awaiting`` (if given) is appended
        to once the awaitable runs on its private loop.
        """
        output = self._fn(*args, **kwargs)
        if type(output) in NEVER_AWAITABLE or not inspect.isawaitable(output):
            return output
        if loop_running() if in_loop is None else in_loop:
            close_awaitable(output)
            raise Misuse(
                f"model {self._name!r} returned an awaitable while an event loop is "
                "running in this thread; use `await model.acall(...)`, or wrap an "
                "`async def` function so the model is recognised as async"
            )
        if awaiting is not None:
            awaiting.append(True)
        return run_coroutine(await_limited(output, self._remaining(t0)))

    async def _attempt_async(self, args: tuple[Any, ...], kwargs: dict[str, Any], t0: float) -> Any:
        if self._is_async:
            output = self._fn(*args, **kwargs)
        else:
            loop = asyncio.get_running_loop()
            future = start_in_daemon_thread(loop, self._fn, args, kwargs, self._thread_name)
            output = await await_limited(future, self._timeout_s)
        if inspect.isawaitable(output):
            output = await await_limited(output, self._remaining(t0))
        return output
