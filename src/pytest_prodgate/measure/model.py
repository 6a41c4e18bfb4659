"""The model under test: a sync or async callable, timed and recorded.

Pure Python, no pytest, numpy or scipy. :class:`Model` wraps a callable; every
*logical* call (all its attempts together) becomes exactly one
:class:`~pytest_prodgate.recording.CallRecord` on the eval case that is running
(or counts as warm-up when none is), through :func:`recording.record_call`.

What a call records:

* **latency** -- ``time.perf_counter()`` around the whole call, retries
  included, except that a timed-out attempt counts exactly ``timeout_s`` (the
  few milliseconds the clock overshoots a deadline are not charged).
* **outcome** -- ``ok``; on failure the class name and message (truncated to
  500 characters) of the *last* attempt's exception, and ``timed_out`` when
  that last attempt hit the timeout.
* **retries** -- how many re-attempts were actually made.
* **tokens** -- from the usage the response reports (see :func:`find_usage`).
* **cost** -- from ``cost=callable(output) -> usd`` if given (it wins over
  ``pricing``), else from ``pricing`` applied to the reported usage, else
  unknown. A failed attempt returns no response, so its cost is unknown and
  not counted. Cost problems never break a call: they leave ``cost_usd`` as
  ``None`` and say why in ``cost_error``.

Timeouts (``timeout_s``) apply to each attempt. A sync callable with a timeout
runs in a fresh *daemon* thread; when the deadline passes the thread cannot be
killed, so it is abandoned (its eventual result is discarded) and, being a
daemon, never keeps the interpreter from exiting. An async callable is run as
a task that is cancelled at the deadline; it is not awaited further, so a
coroutine that ignores cancellation cannot hang the caller. Called from sync
code (``model(...)`` with no loop running), an async callable with a timeout
runs on a private event loop in such a daemon thread, so even a coroutine that
blocks its loop (``time.sleep`` inside ``async def``) releases the caller at the
deadline. On the caller's loop (``acall``) a blocking coroutine holds the loop,
and the caller, until it returns; its late result is discarded and the attempt
is a timeout all the same (see :mod:`pytest_prodgate.measure.calling`).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Callable
from typing import Any, NoReturn

from pytest_prodgate.errors import ModelTimeout
from pytest_prodgate.measure import recording, replay
from pytest_prodgate.measure.calling import (
    MAX_ERROR_MESSAGE,
    Expired,
    await_limited,
    close_awaitable,
    default_name,
    describe,
    is_async_callable,
    loop_running,
    run_coroutine,
    run_in_daemon_thread,
    safe_repr,
    start_in_daemon_thread,
)
from pytest_prodgate.measure.pricing import Pricing, cost_of, find_usage
from pytest_prodgate.measure.recording import CallRecord, SpendCapReached

__all__ = ["MAX_ERROR_MESSAGE", "Model", "ModelTimeout", "Pricing", "find_usage"]

# How long ``model(...)`` waits past the deadline for a private loop to finish
# cancelling a coroutine (a blocked one is abandoned after that).
_CANCEL_GRACE_S = 0.1


class _Misuse(TypeError):
    """Internal: a usage error raised as is, never recorded nor retried."""


class _Tally:
    """What the attempts of one logical call add up to."""

    __slots__ = ("attempts", "last_exc", "overshoot_s", "start", "timed_out")

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.attempts = 0
        self.last_exc: Exception | None = None
        self.timed_out = False
        self.overshoot_s = 0.0

    def latency(self) -> float:
        return max(0.0, time.perf_counter() - self.start - self.overshoot_s)


class Model:
    """A model under test: a sync or async callable whose every call is timed and recorded.

    Args:
        fn: the callable. ``async def`` functions, callable objects with an
            ``async def __call__`` and ``functools.partial`` of either are
            recognised as async.
        name: the name shown in reports; defaults to ``fn.__qualname__`` (the
            class name for a callable object).
        version: an optional version string, shown in reports.
        pricing: a :class:`Pricing` applied to the token usage each response
            reports.
        cost: ``cost(output) -> usd``, the cost of one successful call. When
            both ``cost`` and ``pricing`` are given, ``cost`` decides the cost
            (tokens are still read from the usage).
        timeout_s: seconds each attempt may take (a finite number > 0), or
            ``None`` for no limit. A timed-out attempt raises :class:`ModelTimeout`.
        retries: how many times a failed attempt (any ``Exception``,
            timeouts included) is tried again, immediately, without back-off.

    Calling:
        ``model(*args, **kwargs)`` calls ``fn`` and returns its output.
        ``await model.acall(*args, **kwargs)`` does the same from async code.

        * A sync ``fn`` via ``model(...)`` runs in the calling thread, or in a
          daemon worker thread when ``timeout_s`` is set.
        * A sync ``fn`` via ``acall`` always runs in a daemon worker thread, so
          it never blocks the event loop and its timeout works.
        * An async ``fn`` via ``acall`` is awaited (as a task when
          ``timeout_s`` is set). Via ``model(...)`` it returns a coroutine to
          await when an event loop is running in this thread, and otherwise
          runs to completion on a fresh event loop, as with ``asyncio.run``
          (one loop per call: the callable must not rely on objects bound to
          a loop created elsewhere).
        * A callable that is not recognisably async but returns an awaitable
          (``lambda q: client.acomplete(q)``) has the awaitable awaited as part
          of the same attempt, within the same timeout, by ``acall`` and by
          ``model(...)`` outside a running loop. ``model(...)`` inside a
          running loop cannot await it without blocking the loop and raises
          ``TypeError`` (use ``acall``).

    Errors:
        The call fails only when its last attempt fails; then the call is
        recorded and that attempt's exception is re-raised unchanged (the same
        object). ``BaseException`` s that are not ``Exception`` s
        (``KeyboardInterrupt``, ``asyncio.CancelledError``, pytest outcomes)
        propagate at once and the call is not recorded.

    Spend cap:
        Before each attempt ``recording.spend().check()`` runs. Reached before
        the first attempt, :class:`~pytest_prodgate.recording.SpendCapReached`
        propagates, ``fn`` is not called and nothing is recorded. Reached
        before a retry, the call so far is recorded as failed (with the last
        attempt's error) and ``SpendCapReached`` is raised, not chained to that
        error, so the case counts as not run rather than as a model error.

    Thread safety: one ``Model`` may be called from many threads and tasks at once.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        version: str | None = None,
        pricing: Pricing | None = None,
        cost: Callable[[Any], float] | None = None,
        timeout_s: float | None = None,
        retries: int = 0,
    ) -> None:
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
        if timeout_s is not None:
            if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)):
                raise TypeError(
                    f"Model(timeout_s=...) takes a number of seconds or None, got {timeout_s!r}"
                )
            if not math.isfinite(timeout_s) or timeout_s <= 0:
                raise ValueError(
                    f"Model(timeout_s=...) takes a finite number of seconds > 0, got {timeout_s!r}"
                )
        if isinstance(retries, bool) or not isinstance(retries, int):
            raise TypeError(f"Model(retries=...) takes an int >= 0, got {retries!r}")
        if retries < 0:
            raise ValueError(f"Model(retries=...) takes an int >= 0, got {retries!r}")

        self._fn = fn
        self._name = name if name is not None else default_name(fn)
        self._version = version
        self._pricing = pricing
        self._cost = cost
        self._timeout_s = None if timeout_s is None else float(timeout_s)
        self._retries = int(retries)
        self._is_async = is_async_callable(fn)
        self._thread_name = f"prodgate-model:{self._name}"

    # -- read-only configuration -------------------------------------------------

    @property
    def fn(self) -> Callable[..., Any]:
        """The wrapped callable."""
        return self._fn

    @property
    def name(self) -> str:
        """The model's name, as recorded on every call."""
        return self._name

    @property
    def version(self) -> str | None:
        """The model's version, if given."""
        return self._version

    @property
    def pricing(self) -> Pricing | None:
        """The token prices, if given."""
        return self._pricing

    @property
    def cost(self) -> Callable[[Any], float] | None:
        """The ``cost(output) -> usd`` callable, if given."""
        return self._cost

    @property
    def timeout_s(self) -> float | None:
        """Seconds each attempt may take, or ``None``."""
        return self._timeout_s

    @property
    def retries(self) -> int:
        """How many times a failed attempt is tried again."""
        return self._retries

    @property
    def is_async(self) -> bool:
        """Whether the wrapped callable was recognised as async."""
        return self._is_async

    def __repr__(self) -> str:
        parts = [repr(self._name)]
        if self._version is not None:
            parts.append(f"version={self._version!r}")
        if self._timeout_s is not None:
            parts.append(f"timeout_s={self._timeout_s:g}")
        if self._retries:
            parts.append(f"retries={self._retries}")
        return f"Model({', '.join(parts)})"

    # -- calling ------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the model and return its output; see the class docs for async models."""
        if self._is_async:
            if loop_running():
                return self.acall(*args, **kwargs)
            if self._timeout_s is None:
                return run_coroutine(self.acall(*args, **kwargs))
        key, cached = replay.replay(self, args, kwargs)  # --prodgate-cache
        if cached is not replay.MISS:
            return cached
        tally = _Tally()
        while True:
            t0 = self._begin(tally)
            try:
                output = self._attempt_sync(args, kwargs, t0)
            except _Misuse as exc:
                raise TypeError(str(exc)) from None
            except Exception as exc:
                self._failed(tally, exc, t0)
            else:
                return self._succeed(tally, output, key)
            if tally.attempts > self._retries:
                self._fail(tally, None)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        """Call the model from async code and return its output; see the class docs."""
        key, cached = replay.replay(self, args, kwargs)  # --prodgate-cache
        if cached is not replay.MISS:
            return cached
        tally = _Tally()
        while True:
            t0 = self._begin(tally)
            try:
                output = await self._attempt_async(args, kwargs, t0)
            except Exception as exc:
                self._failed(tally, exc, t0)
            else:
                return self._succeed(tally, output, key)
            if tally.attempts > self._retries:
                self._fail(tally, None)

    def _remaining(self, t0: float) -> float | None:
        if self._timeout_s is None:
            return None
        return self._timeout_s - (time.perf_counter() - t0)

    def _attempt_sync(self, args: tuple[Any, ...], kwargs: dict[str, Any], t0: float) -> Any:
        if self._timeout_s is None:
            return self._complete(args, kwargs, t0, None, [])
        awaiting: list[bool] = []
        return run_in_daemon_thread(
            self._complete,
            (args, kwargs, t0, loop_running(), awaiting),
            {},
            self._timeout_s,
            self._thread_name,
            grace=lambda: _CANCEL_GRACE_S if awaiting else 0.0,
        )

    def _complete(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        t0: float,
        in_loop: bool | None,
        awaiting: list[bool],
    ) -> Any:
        """One attempt from sync code: the call, then any awaitable it returned, to the end.

        ``in_loop``: whether the caller's thread runs an event loop (``None``: this
        thread is the caller's, look when needed). ``awaiting`` is appended to once
        the awaitable runs on its private loop.
        """
        output = self._fn(*args, **kwargs)
        if not inspect.isawaitable(output):
            return output
        if loop_running() if in_loop is None else in_loop:
            close_awaitable(output)
            raise _Misuse(
                f"model {self._name!r} returned an awaitable while an event loop is "
                "running in this thread; use `await model.acall(...)`, or wrap an "
                "`async def` function so the model is recognised as async"
            )
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

    # -- bookkeeping --------------------------------------------------------------

    def _begin(self, tally: _Tally) -> float:
        """Start an attempt (its start time), checking the spend cap first.

        Reached before the first attempt, ``SpendCapReached`` propagates; before a
        retry, the call so far is recorded as failed and the cap is raised.
        """
        try:
            recording.spend().check()
        except SpendCapReached as cap:
            if tally.attempts == 0:
                raise
            self._fail(tally, cap)
        tally.attempts += 1
        return time.perf_counter()

    def _failed(self, tally: _Tally, exc: Exception, t0: float) -> None:
        """Note a failed attempt (a deadline becomes :class:`ModelTimeout`)."""
        if isinstance(exc, Expired):
            assert self._timeout_s is not None
            tally.overshoot_s += max(0.0, time.perf_counter() - t0 - self._timeout_s)
            tally.last_exc = ModelTimeout(self._name, self._timeout_s)
            tally.timed_out = True
        else:
            tally.last_exc, tally.timed_out = exc, False

    def _succeed(self, tally: _Tally, output: Any, key: str | None = None) -> Any:
        latency = tally.latency()
        try:
            input_tokens, output_tokens = find_usage(output)
            cost_usd, cost_error = cost_of(
                output, self._cost, self._pricing, input_tokens, output_tokens
            )
        except Exception as exc:  # pragma: no cover - find_usage and cost_of never raise
            input_tokens = output_tokens = cost_usd = None
            cost_error = f"cost could not be computed: {type(exc).__name__}: {describe(exc)}"
        record = CallRecord(
            latency_s=latency,
            ok=True,
            retries=tally.attempts - 1,
            cost_usd=cost_usd,
            cost_error=cost_error,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model=self._name,
            model_version=self._version,
        )
        replay.store(self, key, output, record)  # --prodgate-cache journals it
        recording.record_call(record)
        return output

    def _fail(self, tally: _Tally, cap: SpendCapReached | None) -> NoReturn:
        exc = tally.last_exc
        assert exc is not None
        recording.record_call(
            CallRecord(
                latency_s=tally.latency(),
                ok=False,
                error=type(exc).__name__,
                error_message=describe(exc),
                timed_out=tally.timed_out,
                retries=tally.attempts - 1,
                model=self._name,
                model_version=self._version,
            ),
            exc,
        )
        raise cap if cap is not None else exc
