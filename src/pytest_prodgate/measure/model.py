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
coroutine that ignores cancellation cannot hang the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import math
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, NoReturn, TypeVar

from pytest_prodgate.errors import ModelTimeout
from pytest_prodgate.measure import recording
from pytest_prodgate.measure.recording import CallRecord, SpendCapReached

__all__ = ["Model", "ModelTimeout", "Pricing", "find_usage"]

#: Longest error message kept on a call record.
MAX_ERROR_MESSAGE = 500

_NO_USAGE = "no token usage in the response"

T = TypeVar("T")


@dataclass(frozen=True)
class Pricing:
    """Token prices of a model, in USD per million tokens.

    ``Pricing(input_per_mtok=3.0, output_per_mtok=15.0)`` prices 1,000 input and
    200 output tokens at ``(1000 * 3 + 200 * 15) / 1e6 = $0.006``.
    """

    input_per_mtok: float
    """USD per million input (prompt) tokens, a finite number >= 0."""
    output_per_mtok: float
    """USD per million output (completion) tokens, a finite number >= 0."""

    def __post_init__(self) -> None:
        for field_name in ("input_per_mtok", "output_per_mtok"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise TypeError(
                    f"Pricing({field_name}=...) takes a number of USD per million tokens, "
                    f"got {value!r}"
                )
            x = float(value)
            if not math.isfinite(x) or x < 0:
                raise ValueError(
                    f"Pricing({field_name}=...) takes a finite price >= 0, got {value!r}"
                )
            object.__setattr__(self, field_name, x)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The USD cost of ``input_tokens`` prompt and ``output_tokens`` completion tokens."""
        for arg_name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Pricing.cost({arg_name}=...) takes an int, got {value!r}")
            if value < 0:
                raise ValueError(f"Pricing.cost({arg_name}=...) takes an int >= 0, got {value!r}")
        return (
            int(input_tokens) * self.input_per_mtok + int(output_tokens) * self.output_per_mtok
        ) / 1e6


class _Expired(Exception):
    """Internal: an attempt hit the deadline (turned into :class:`ModelTimeout`)."""


class _Misuse(TypeError):
    """Internal: a usage error raised as is, never recorded nor retried."""


def _safe_get(obj: Any, key: str) -> Any:
    """``obj[key]`` for a mapping, else ``obj.key``; ``None`` when absent or when access fails."""
    try:
        if isinstance(obj, Mapping):
            return obj.get(key)
        return getattr(obj, key, None)
    except Exception:
        return None


def _token_count(usage: Any, *keys: str) -> int | None:
    for key in keys:
        value = _safe_get(usage, key)
        if isinstance(value, Integral) and not isinstance(value, bool) and int(value) >= 0:
            return int(value)
    return None


def find_usage(output: Any) -> tuple[int | None, int | None]:
    """The ``(input_tokens, output_tokens)`` a model response reports, ``None`` where absent.

    Looks at ``output.usage`` (or ``output["usage"]`` when the output is a
    mapping) for ``prompt_tokens``/``completion_tokens`` (OpenAI style) or
    ``input_tokens``/``output_tokens`` (Anthropic style), by attribute or by
    key. A count that is not an int >= 0 counts as absent. Never raises.
    """
    if output is None:
        return None, None
    usage = _safe_get(output, "usage")
    if usage is None:
        return None, None
    return (
        _token_count(usage, "prompt_tokens", "input_tokens"),
        _token_count(usage, "completion_tokens", "output_tokens"),
    )


def _short(text: str, limit: int = MAX_ERROR_MESSAGE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(exc: BaseException) -> str:
    try:
        return _short(str(exc))
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


def _safe_repr(value: Any) -> str:
    try:
        return _short(repr(value), 100)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def _is_async_callable(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` returns a coroutine, as far as can be told without calling it."""
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.iscoroutinefunction(target):
        return True
    try:
        if inspect.iscoroutinefunction(inspect.unwrap(target)):
            return True
    except ValueError:  # a __wrapped__ cycle
        pass
    if not inspect.isfunction(target) and not inspect.ismethod(target):
        dunder_call = inspect.getattr_static(type(target), "__call__", None)
        if dunder_call is not None and inspect.iscoroutinefunction(dunder_call):
            return True
    return False


def _default_name(fn: Callable[..., Any]) -> str:
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    qualname = getattr(target, "__qualname__", None)
    if (
        isinstance(qualname, str)
        and qualname
        and (inspect.isroutine(target) or inspect.isclass(target))
    ):
        return qualname
    type_name = getattr(type(target), "__qualname__", None)
    if isinstance(type_name, str) and type_name:
        return type_name
    return repr(target)


def _run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop, as ``asyncio.run`` does.

    On Python 3.11+ the calling thread's current event loop is left alone (``asyncio.run``
    would reset it to ``None``, which upsets e.g. pytest-asyncio's loop).
    """
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)  # pragma: no cover - Python 3.10


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _close(awaitable: Any) -> None:
    """Close an awaitable that will never be awaited, so Python does not warn about it."""
    close = getattr(awaitable, "close", None) if inspect.iscoroutine(awaitable) else None
    if close is not None:
        close()
    elif isinstance(awaitable, asyncio.Future):
        awaitable.cancel()


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Done-callback of an abandoned task: fetch its exception so asyncio does not log it."""
    if not task.cancelled():
        task.exception()


async def _await_limited(awaitable: Awaitable[Any], timeout: float | None) -> Any:
    """Await ``awaitable``; past ``timeout`` seconds cancel and abandon it, raise ``_Expired``."""
    if timeout is None:
        return await awaitable
    if timeout <= 0:
        _close(awaitable)
        raise _Expired
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except BaseException:  # the caller was cancelled: take the model call down with it
        task.cancel()
        task.add_done_callback(_retrieve)
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise _Expired
    return task.result()


def _run_in_daemon_thread(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float, name: str
) -> Any:
    """Call ``fn`` in a fresh daemon thread; abandon it past ``timeout`` s (``_Expired``)."""
    done = threading.Event()
    box: list[Any] = []
    context = contextvars.copy_context()

    def target() -> None:
        try:
            box.append((True, context.run(fn, *args, **kwargs)))
        except BaseException as exc:
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    if not done.wait(timeout):
        raise _Expired
    ok, value = box[0]
    if ok:
        return value
    raise value


def _start_in_daemon_thread(
    loop: asyncio.AbstractEventLoop,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str,
) -> asyncio.Future[Any]:
    """Call ``fn`` in a fresh daemon thread; a future on ``loop`` gets its result."""
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if future.done():  # abandoned after a timeout, or cancelled
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        try:
            outcome: tuple[bool, Any] = (True, context.run(fn, *args, **kwargs))
        except BaseException as exc:
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


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
            raise TypeError(f"Model() takes a callable, got {_safe_repr(fn)}")
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"Model(name=...) takes a non-empty string, got {name!r}")
        if version is not None and not isinstance(version, str):
            raise TypeError(f"Model(version=...) takes a string, got {version!r}")
        if pricing is not None and not isinstance(pricing, Pricing):
            raise TypeError(
                "Model(pricing=...) takes a pytest_prodgate.Pricing"
                f"(input_per_mtok=..., output_per_mtok=...), got {_safe_repr(pricing)}"
            )
        if cost is not None and not callable(cost):
            raise TypeError(
                f"Model(cost=...) takes a callable cost(output) -> usd, got {_safe_repr(cost)}"
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
        self._name = name if name is not None else _default_name(fn)
        self._version = version
        self._pricing = pricing
        self._cost = cost
        self._timeout_s = None if timeout_s is None else float(timeout_s)
        self._retries = int(retries)
        self._is_async = _is_async_callable(fn)
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
            if _loop_running():
                return self.acall(*args, **kwargs)
            return _run_coroutine(self.acall(*args, **kwargs))
        tally = _Tally()
        while True:
            cap = self._check_spend(tally)
            if cap is not None:
                return self._fail(tally, cap)
            t0 = time.perf_counter()
            try:
                output = self._attempt_sync(args, kwargs, t0)
            except _Misuse as exc:
                raise TypeError(str(exc)) from None
            except _Expired:
                self._timed_out(tally, t0)
            except Exception as exc:
                tally.last_exc, tally.timed_out = exc, False
            else:
                return self._succeed(tally, output)
            if tally.attempts > self._retries:
                return self._fail(tally, None)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        """Call the model from async code and return its output; see the class docs."""
        tally = _Tally()
        while True:
            cap = self._check_spend(tally)
            if cap is not None:
                return self._fail(tally, cap)
            t0 = time.perf_counter()
            try:
                output = await self._attempt_async(args, kwargs, t0)
            except _Expired:
                self._timed_out(tally, t0)
            except Exception as exc:
                tally.last_exc, tally.timed_out = exc, False
            else:
                return self._succeed(tally, output)
            if tally.attempts > self._retries:
                return self._fail(tally, None)

    def _remaining(self, t0: float) -> float | None:
        if self._timeout_s is None:
            return None
        return self._timeout_s - (time.perf_counter() - t0)

    def _attempt_sync(self, args: tuple[Any, ...], kwargs: dict[str, Any], t0: float) -> Any:
        if self._timeout_s is None:
            output = self._fn(*args, **kwargs)
        else:
            output = _run_in_daemon_thread(
                self._fn, args, kwargs, self._timeout_s, self._thread_name
            )
        if inspect.isawaitable(output):
            if _loop_running():
                _close(output)
                raise _Misuse(
                    f"model {self._name!r} returned an awaitable while an event loop is "
                    "running in this thread; use `await model.acall(...)`, or wrap an "
                    "`async def` function so the model is recognised as async"
                )
            output = _run_coroutine(_await_limited(output, self._remaining(t0)))
        return output

    async def _attempt_async(self, args: tuple[Any, ...], kwargs: dict[str, Any], t0: float) -> Any:
        if self._is_async:
            output = self._fn(*args, **kwargs)
        else:
            loop = asyncio.get_running_loop()
            future = _start_in_daemon_thread(loop, self._fn, args, kwargs, self._thread_name)
            output = await _await_limited(future, self._timeout_s)
        if inspect.isawaitable(output):
            output = await _await_limited(output, self._remaining(t0))
        return output

    # -- bookkeeping --------------------------------------------------------------

    def _check_spend(self, tally: _Tally) -> SpendCapReached | None:
        """Check the spend cap before an attempt: raise before the first, return before a retry."""
        try:
            recording.spend().check()
        except SpendCapReached as cap:
            if tally.attempts == 0:
                raise
            return cap
        tally.attempts += 1
        return None

    def _timed_out(self, tally: _Tally, t0: float) -> None:
        assert self._timeout_s is not None
        tally.overshoot_s += max(0.0, time.perf_counter() - t0 - self._timeout_s)
        tally.last_exc = ModelTimeout(self._name, self._timeout_s)
        tally.timed_out = True

    def _succeed(self, tally: _Tally, output: Any) -> Any:
        latency = tally.latency()
        try:
            input_tokens, output_tokens = find_usage(output)
            cost_usd, cost_error = self._cost_of(output, input_tokens, output_tokens)
        except Exception as exc:  # pragma: no cover - find_usage and _cost_of never raise
            input_tokens = output_tokens = cost_usd = None
            cost_error = f"cost could not be computed: {type(exc).__name__}: {_describe(exc)}"
        recording.record_call(
            CallRecord(
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
        )
        return output

    def _fail(self, tally: _Tally, cap: SpendCapReached | None) -> NoReturn:
        exc = tally.last_exc
        assert exc is not None
        recording.record_call(
            CallRecord(
                latency_s=tally.latency(),
                ok=False,
                error=type(exc).__name__,
                error_message=_describe(exc),
                timed_out=tally.timed_out,
                retries=tally.attempts - 1,
                model=self._name,
                model_version=self._version,
            ),
            exc,
        )
        raise cap if cap is not None else exc

    def _cost_of(
        self, output: Any, input_tokens: int | None, output_tokens: int | None
    ) -> tuple[float | None, str | None]:
        """``(cost_usd, cost_error)`` of one successful call. Never raises."""
        if self._cost is not None:
            try:
                value = self._cost(output)
            except Exception as exc:
                return None, f"cost callable raised {type(exc).__name__}: {_describe(exc)}"
            if isinstance(value, Real) and not isinstance(value, bool):
                try:
                    usd = float(value)
                except Exception:
                    usd = math.nan
                if math.isfinite(usd) and usd >= 0:
                    return usd, None
            return None, f"cost callable returned {_safe_repr(value)}, not a finite number >= 0"
        if self._pricing is not None:
            if input_tokens is None and output_tokens is None:
                return None, _NO_USAGE
            if input_tokens is None or output_tokens is None:
                missing = "input (prompt)" if input_tokens is None else "output (completion)"
                return None, f"{_NO_USAGE}: the {missing} token count is missing"
            return self._pricing.cost(input_tokens, output_tokens), None
        return None, None
