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

Rate limits (SPEC §11). An attempt that fails with a rate-limit signal (see
:func:`~pytest_prodgate.measure.ratelimit.rate_limit_signal`) is tried again
after the ``Retry-After`` it carries, else after exponential backoff with
jitter, and cuts the model's in-flight limit (:attr:`Model.limiter`, AIMD).
It does not use up ``retries``; a call still rate-limited after
``rate_limit_timeout_s`` of waiting fails with the last signal's exception.
Time spent on rate-limited attempts, waiting after them and waiting for a slot
under the limit is *throttled* time: recorded apart (``throttled_s``,
``rate_limited``), never part of the latency.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from pytest_prodgate.errors import ModelTimeout
from pytest_prodgate.measure import recording, replay
from pytest_prodgate.measure.attempts import Attempts, Misuse, Tally, check_options
from pytest_prodgate.measure.calling import (
    MAX_ERROR_MESSAGE,
    Expired,
    default_name,
    describe,
    is_async_callable,
    loop_running,
    run_coroutine,
)
from pytest_prodgate.measure.pricing import Pricing, cost_of, find_usage
from pytest_prodgate.measure.ratelimit import Limiter, backoff_s, rate_limit_signal
from pytest_prodgate.measure.recording import CallRecord, SpendCapReached

__all__ = ["MAX_ERROR_MESSAGE", "Model", "ModelTimeout", "Pricing", "find_usage"]


class Model(Attempts):
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
            timeouts included, rate limits not) is tried again, immediately.
        rate_limit_errors: exception classes that mean "rate-limited" besides
            an HTTP 429/503 status on the exception or its response.
        rate_limit_timeout_s: how long one call may wait out rate limits in
            all (default 300 s) before it fails as a model error.

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
        Before each attempt the cap is checked with the calls in flight counted
        at the mean cost so far (``recording.spend().reserve()``). Reached before
        the first attempt, :class:`~pytest_prodgate.recording.SpendCapReached`
        propagates, ``fn`` is not called and nothing is recorded. Reached
        before a retry, the call so far is recorded as failed (with the last
        attempt's error) and ``SpendCapReached`` is raised, not chained to that
        error, so the case counts as not run rather than as a model error.

    Thread safety: one ``Model`` may be called from many threads and tasks at once;
    its :attr:`limiter` bounds how many attempts run at once after a rate limit.
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
        rate_limit_errors: Iterable[type[BaseException]] = (),
        rate_limit_timeout_s: float = 300.0,
    ) -> None:
        checked = check_options(
            fn, name, version, pricing, cost, timeout_s, retries,
            rate_limit_errors, rate_limit_timeout_s,
        )  # fmt: skip
        self._fn = fn
        self._name = name if name is not None else default_name(fn)
        self._version = version
        self._pricing = pricing
        self._cost = cost
        self._timeout_s, self._retries, self._rl_errors, self._rl_timeout_s = checked
        self._is_async = is_async_callable(fn)
        self._thread_name = f"prodgate-model:{self._name}"
        self._rng = random.Random()
        #: The in-flight limit of this model's attempts (AIMD on rate limits).
        self.limiter = Limiter()

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
    def rate_limit_errors(self) -> tuple[type[BaseException], ...]:
        """Exception classes treated as rate-limit signals (besides HTTP 429/503)."""
        return self._rl_errors

    @property
    def rate_limit_timeout_s(self) -> float:
        """How long one call may wait out rate limits before it fails."""
        return self._rl_timeout_s

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
        # recording.call_in_flight() by hand: this is every sync call's path.
        tally = Tally(recording.enter_call(), key)
        try:
            while True:
                self._begin(tally)
                waited = time.perf_counter()
                generation = self.limiter.acquire()
                t0 = time.perf_counter()
                tally.throttled_s += t0 - waited
                try:
                    if self._timeout_s is None:  # _attempt_sync's first case, one call less
                        output = self._complete(args, kwargs, t0, None, None)
                    else:
                        output = self._attempt_sync(args, kwargs, t0)
                except Misuse as exc:
                    self.limiter.release(generation, limited=False)
                    raise TypeError(str(exc)) from None
                except Exception as exc:
                    wait = self._failed(tally, exc, t0, generation)
                    if wait is not None:
                        time.sleep(wait)
                        tally.throttled_s += wait
                else:
                    self.limiter.release(generation, limited=False)
                    return self._succeed(tally, output, key)
        finally:
            recording.spend().release(tally.reserved)
            recording.exit_call()

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        """Call the model from async code and return its output; see the class docs."""
        key, cached = replay.replay(self, args, kwargs)  # --prodgate-cache
        if cached is not replay.MISS:
            return cached
        with recording.call_in_flight() as in_flight:
            tally = Tally(in_flight, key)
            try:
                while True:
                    self._begin(tally)
                    waited = time.perf_counter()
                    generation = await self.limiter.acquire_async()
                    t0 = time.perf_counter()
                    tally.throttled_s += t0 - waited
                    try:
                        output = await self._attempt_async(args, kwargs, t0)
                    except Exception as exc:
                        wait = self._failed(tally, exc, t0, generation)
                        if wait is not None:
                            await asyncio.sleep(wait)
                            tally.throttled_s += wait
                    except BaseException:
                        self.limiter.release(generation, limited=False)
                        raise
                    else:
                        self.limiter.release(generation, limited=False)
                        return self._succeed(tally, output, key)
            finally:
                recording.spend().release(tally.reserved)

    # -- bookkeeping --------------------------------------------------------------

    def _begin(self, tally: Tally) -> None:
        """Start an attempt, checking the spend cap first.

        Reached before the first attempt, ``SpendCapReached`` propagates; before a
        retry, the call so far is recorded as failed and the cap is raised.
        """
        spend = recording.spend()
        try:
            spend.release(tally.reserved)
            tally.reserved = 0.0
            tally.reserved = spend.reserve()
        except SpendCapReached as cap:
            if tally.attempts == 0:
                raise
            self._fail(tally, cap)
        tally.attempts += 1
        if tally.retry_next:
            tally.retried, tally.retry_next = tally.retried + 1, False

    def _failed(self, tally: Tally, exc: Exception, t0: float, generation: int) -> float | None:
        """Note a failed attempt: how long to wait before the next one (``None``: no wait).

        Fails the call (records it, raises) when no attempt is left: ``retries`` used
        up, or rate-limited past ``rate_limit_timeout_s``.
        """
        limited, retry_after = (False, None)
        if not isinstance(exc, Expired):
            limited, retry_after = rate_limit_signal(exc, self._rl_errors)
        self.limiter.release(generation, limited=limited)
        if isinstance(exc, Expired):
            assert self._timeout_s is not None
            tally.overshoot_s += max(0.0, time.perf_counter() - t0 - self._timeout_s)
            tally.last_exc = ModelTimeout(self._name, self._timeout_s)
            tally.timed_out = True
        else:
            tally.last_exc, tally.timed_out = exc, False
        if not limited:
            tally.failures += 1
            if tally.failures > self._retries:
                self._fail(tally, None)
            tally.retry_next = True
            return None
        tally.rate_limited += 1
        tally.throttled_s += time.perf_counter() - t0
        wait = (
            retry_after if retry_after is not None else backoff_s(tally.rate_limited - 1, self._rng)
        )
        if tally.throttled_s + wait > self._rl_timeout_s:
            self._fail(tally, None)
        return wait

    def _record(self, tally: Tally, **fields: Any) -> CallRecord:
        return CallRecord(
            latency_s=tally.latency(),
            retries=tally.retried,
            model=self._name,
            model_version=self._version,
            rate_limited=tally.rate_limited,
            throttled_s=tally.throttled_s,
            in_flight=tally.in_flight,
            **fields,
        )

    def _succeed(self, tally: Tally, output: Any, key: str | None = None) -> Any:
        try:
            input_tokens, output_tokens = find_usage(output)
            cost_usd, cost_error = cost_of(
                output, self._cost, self._pricing, input_tokens, output_tokens
            )
        except Exception as exc:  # pragma: no cover - find_usage and cost_of never raise
            input_tokens = output_tokens = cost_usd = None
            cost_error = f"cost could not be computed: {type(exc).__name__}: {describe(exc)}"
        record = CallRecord(
            latency_s=tally.latency(),
            ok=True,
            retries=tally.retried,
            cost_usd=cost_usd,
            cost_error=cost_error,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model=self._name,
            model_version=self._version,
            rate_limited=tally.rate_limited,
            throttled_s=tally.throttled_s,
            in_flight=tally.in_flight,
        )
        if key is not None:  # --prodgate-cache journals it
            replay.store(self, key, output, record)
        recording.record_call(record, held_usd=tally.reserved)
        tally.reserved = 0.0
        return output

    def _fail(self, tally: Tally, cap: SpendCapReached | None) -> NoReturn:
        exc = tally.last_exc
        assert exc is not None
        record = self._record(
            tally,
            ok=False,
            error=type(exc).__name__,
            error_message=describe(exc),
            timed_out=tally.timed_out,
        )
        if cap is None and tally.key is not None:  # cut short by the cap: not journaled
            replay.store_failure(self, tally.key, record)
        recording.record_call(record, exc, held_usd=tally.reserved)
        tally.reserved = 0.0
        raise cap if cap is not None else exc
