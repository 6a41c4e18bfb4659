"""The load runner behind ``prodgate_load`` and the throughput gate (SPEC §3, §6).

Pure Python, no pytest; numpy (through :mod:`pytest_prodgate.stats`) only in
:func:`throughput_interval`, imported when it is called.

:func:`run_load` calls a model concurrently over a list of inputs and records
every call's start, end and outcome in a :class:`LoadResult`:

* **Sync callables** run on a pool of ``concurrency`` daemon threads. Each
  thread loops: take the next request index from a shared
  :func:`itertools.count` (atomic, no lock), call ``fn(inputs[i % len])``, time
  it with :func:`time.perf_counter`, append ``(start, end, ok, error)`` to its
  own list. Lists are merged when the run ends, so the hot path takes no shared
  lock (only the thread's own, uncontended one, which makes the hand-over of a
  call to the supervisor exact; see *Timeouts*).
* **Async callables** run as ``concurrency`` worker coroutines on **one** event
  loop. :func:`run_load` creates a fresh loop in a dedicated thread and blocks
  until it is done, so it works from plain code and from inside a running loop
  (whose thread it blocks: the caller's loop and its objects are never touched).
  :func:`arun_load` runs the workers on the caller's loop instead: use it in an
  async test whose model uses loop-bound objects (an ``httpx.AsyncClient``
  created in the test) or talks to a server running on that same loop.
  :func:`arun_load` with a sync callable runs the thread pool without blocking
  the caller's loop.

A :class:`~pytest_prodgate.Model` is unwrapped: its ``fn`` is called directly
(with its ``timeout_s`` unless ``timeout_s`` is given), so thousands of calls
land in the load run, not in the case's single-call latency list. Retries,
pricing and cost are not applied under load (a retry would hide the failure
rate the load produces); the spend cap is checked once, before the run.

**Requests.** ``requests=N`` makes exactly N measured calls; ``duration_s=T``
issues calls until T seconds after the measured phase began (calls in flight
then are waited for, see *Timeouts*). The first ``warmup`` requests are a
separate phase that runs (at the same concurrency, on the same threads, so
thread-local connections are warm) before the measured one and is never
recorded; the measured phase starts once every worker is done warming up, with
all workers at once.
Inputs are cycled in order across both phases: measured request ``j`` gets
``inputs[(warmup + j) % len(inputs)]``.

**Errors.** A call that raises an :class:`Exception` is recorded as failed with
the exception's class name, and the run goes on. A ``BaseException`` that is
not an ``Exception`` (``KeyboardInterrupt``, a pytest outcome) stops the run and
is re-raised by :func:`run_load`. A sync callable returning an awaitable is a
``TypeError`` (wrap it in an ``async def`` function so it is recognised as async).

**Timeouts.** With ``timeout_s`` a call that takes longer fails with error
``"TimeoutError"`` and is recorded with a latency of exactly ``timeout_s``. An
async call is cancelled at its deadline (and abandoned if it ignores the
cancellation). A sync call cannot be interrupted: once it has run past
``timeout_s`` (noticed within a quarter of ``timeout_s``, at most 0.1 s) its
thread is abandoned (the call's eventual result is discarded) and a fresh
thread takes its place, so a hung call neither stalls the run nor lowers its
concurrency. In duration mode, calls still in flight ``grace_s`` after the
deadline (default: ``timeout_s`` + 1 s when a timeout is set, else
``max(5, duration_s)``) are abandoned, recorded as failed ``"TimeoutError"``
calls ending at the moment they were given up on, and the result says
``timed_out``. In requests mode without ``timeout_s`` there is no limit: a call
that never returns hangs the run (set ``timeout_s``).

**Saturation.** ``LoadResult.saturated`` says the *runner* could not keep
``concurrency`` calls in flight, so the figure measures the runner (or the
Python process) rather than the model: over the part of the run in which
requests were still being issued (first start to last start), the mean number
of calls in flight (Little's law: total busy time / elapsed time) is below
:data:`SATURATION_OCCUPANCY` (90%) of ``concurrency``. The model's own limits
(a server queueing requests beyond its capacity) do not count: the runner
still has its calls in flight. A run that issued all its requests in one
burst (last start at 0) cannot show it and is not flagged.

**Throughput statistics.** :meth:`LoadResult.window_rates` cuts a run into
equal time windows (at most 20, each at least 5 median call latencies long)
and counts each success in the window where it ended. :func:`throughput_interval`
bootstraps those window rates (BCa, :func:`pytest_prodgate.stats.bootstrap_mean`)
over all runs of a suite; fewer than 5 windows give an unbounded interval
(INCONCLUSIVE): a run should last at least ~25 median call latencies, and
100 for the full 20 windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import itertools
import math
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_prodgate.measure import recording
from pytest_prodgate.measure.model import (
    Model,
    _await_limited,
    _close,
    _default_name,
    _Expired,
    _is_async_callable,
    _retrieve,
    _safe_repr,
)

if TYPE_CHECKING:
    from pytest_prodgate.stats import SeedLike

__all__ = [
    "MAX_WINDOWS",
    "MIN_WINDOWS",
    "SATURATION_OCCUPANCY",
    "WINDOW_LATENCIES",
    "LoadResult",
    "arun_load",
    "run_load",
    "throughput_interval",
    "window_counts",
]

#: One measured call: (start_s, end_s, ok, error class name or None).
Call = tuple[float, float, bool, "str | None"]

#: A run is runner-saturated when its mean number of calls in flight, while
#: requests were still being issued, is below this share of ``concurrency``.
SATURATION_OCCUPANCY = 0.9
#: The default number of time windows a run is cut into (at most).
MAX_WINDOWS = 20
#: Fewer windows than this give no finite throughput interval.
MIN_WINDOWS = 5
#: A default window spans at least this many median call latencies.
WINDOW_LATENCIES = 5.0

_TIMEOUT = "TimeoutError"
_NO_END = sys.maxsize


# --------------------------------------------------------------------------- result


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
        return _mean_in_flight(self.calls)

    def to_dict(self) -> dict[str, Any]:
        """Plain builtins only (crosses xdist): see :meth:`from_dict`."""
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadResult:
        """The :class:`LoadResult` a :meth:`to_dict` dict describes."""
        calls: list[Call] = [
            (float(c[0]), float(c[1]), bool(c[2]), None if c[3] is None else str(c[3]))
            for c in data["calls"]
        ]
        return cls(
            concurrency=int(data["concurrency"]),
            duration_s=float(data["duration_s"]),
            calls=calls,
            saturated=bool(data.get("saturated", False)),
            timed_out=bool(data.get("timed_out", False)),
            requests=int(data.get("requests", len(calls))),
            warmup=int(data.get("warmup", 0)),
            name=data.get("name"),
        )


def _mean_in_flight(calls: Sequence[Sequence[Any]]) -> float | None:
    """Little's law over ``[0, last start]``: busy time / elapsed time."""
    if not calls:
        return None
    last_start = max(float(c[0]) for c in calls)
    if last_start <= 0:
        return None
    busy = sum(min(float(c[1]), last_start) - float(c[0]) for c in calls if c[0] < last_start)
    return busy / last_start


def window_counts(
    calls: Sequence[Sequence[Any]], duration_s: float, n_windows: int | None = None
) -> tuple[list[int], float]:
    """``(successes per window, window length)`` over equal windows spanning ``[0, duration_s]``.

    ``calls`` holds ``(start, end, ok, error)`` rows (tuples or lists). See
    :meth:`LoadResult.window_rates` for the default number of windows. With
    ``duration_s <= 0`` there are no windows: ``([], 0.0)``.
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


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Plan:
    """A validated load run."""

    fn: Callable[..., Any]
    is_async: bool
    inputs: list[Any]
    concurrency: int
    requests: int | None
    duration_s: float | None
    warmup: int
    timeout_s: float | None
    grace_s: float
    name: str
    record: bool


def _check_int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"run_load({what}=...) takes an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"run_load({what}=...) takes an int >= {minimum}, got {value!r}")
    return int(value)


def _check_seconds(value: Any, what: str, *, allow_zero: bool = False) -> float:
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"run_load({what}=...) takes a number of seconds {bound}, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise ValueError(
            f"run_load({what}=...) takes a finite number of seconds {bound}, got {value!r}"
        )
    return x


def _plan(
    fn: Any,
    inputs: Any,
    concurrency: Any,
    requests: Any,
    duration_s: Any,
    warmup: Any,
    timeout_s: Any,
    grace_s: Any,
    name: Any,
    record: Any,
) -> _Plan:
    if isinstance(fn, Model):
        target, is_async = fn.fn, fn.is_async
        default_timeout, default_name = fn.timeout_s, fn.name
    elif callable(fn):
        target, is_async = fn, _is_async_callable(fn)
        default_timeout, default_name = None, _default_name(fn)
    else:
        raise TypeError(f"run_load() takes a callable or a Model, got {_safe_repr(fn)}")
    if isinstance(inputs, (str, bytes, bytearray, Mapping)) or not isinstance(inputs, Iterable):
        raise TypeError(
            "run_load(inputs=...) takes a list of inputs (each passed as the one argument "
            f"of a call), got {_safe_repr(inputs)}"
        )
    items = list(inputs)
    if not items:
        raise ValueError("run_load(inputs=...) is empty: give at least one input")
    c = _check_int(concurrency, "concurrency", 1)
    if (requests is None) == (duration_s is None):
        raise ValueError("run_load() takes exactly one of requests=... or duration_s=...")
    n_req = None if requests is None else _check_int(requests, "requests", 1)
    dur = None if duration_s is None else _check_seconds(duration_s, "duration_s")
    w = _check_int(warmup, "warmup", 0)
    t = _check_seconds(timeout_s, "timeout_s") if timeout_s is not None else default_timeout
    if grace_s is not None:
        g = _check_seconds(grace_s, "grace_s", allow_zero=True)
    elif t is not None:
        g = t + 1.0
    else:
        g = max(5.0, dur or 0.0)
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"run_load(name=...) takes a non-empty string or None, got {name!r}")
    if not isinstance(record, bool):
        raise TypeError(f"run_load(record=...) takes a bool, got {record!r}")
    return _Plan(
        fn=target,
        is_async=is_async,
        inputs=items,
        concurrency=c,
        requests=n_req,
        duration_s=dur,
        warmup=w,
        timeout_s=t,
        grace_s=g,
        name=name if name is not None else default_name,
        record=record,
    )


# --------------------------------------------------------------------------- sync runner


class _Worker:
    """One sync worker thread's state; ``lock`` guards the hand-over of a call in flight."""

    __slots__ = ("abandoned", "calls", "current", "lock")

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.current: float | None = None  # start of the call in flight
        self.lock = threading.Lock()
        self.abandoned = False


class _Phase:
    """Warm-up or measurement: which request indices, until when, whether recorded."""

    __slots__ = ("arrived", "counter", "deadline", "end", "gate", "record")

    def __init__(self, first: int, count: int | None, record: bool) -> None:
        self.counter = itertools.count(first)
        self.end = first + count if count is not None else _NO_END
        self.deadline = math.inf
        self.gate = threading.Event()  # set when workers may start the phase
        self.arrived = 0  # workers done with the phase
        self.record = record


class _SyncRun:
    """A pool of worker threads running the warm-up phase, then the measured one.

    The same threads run both phases, so thread-local state a warm-up call sets
    up (a keep-alive connection, a per-thread client) serves the measured calls.
    The calling thread supervises: it starts the measurement once every worker
    is done warming up, gives up on timed-out calls and ends the run.
    """

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.warm = _Phase(0, plan.warmup, record=False)
        self.measured = _Phase(plan.warmup, plan.requests, record=True)
        self.wake = threading.Event()
        self.live = 0  # workers neither finished nor abandoned
        self.live_lock = threading.Lock()
        self.stop = False
        self.fatal: BaseException | None = None
        self.workers: list[_Worker] = []
        self.given_up: list[Call] = []  # measured calls the supervisor gave up on
        self.measuring = False
        self.timed_out = False

    def run(self) -> tuple[list[Call], bool]:
        plan = self.plan
        warm, measured = self.warm, self.measured
        try:
            for _ in range(plan.concurrency):
                self._spawn()
            warm.gate.set()
            if plan.warmup:
                self._supervise(None, lambda: warm.arrived >= self.live)
            if self.fatal is None:
                self.measuring = True
                hard = None
                if plan.duration_s is not None:
                    measured.deadline = time.perf_counter() + plan.duration_s
                    hard = measured.deadline + plan.grace_s
                measured.gate.set()
                self._supervise(hard, lambda: self.live == 0)
        finally:
            self.stop = True
            warm.gate.set()
            measured.gate.set()
        if self.fatal is not None:
            raise self.fatal
        calls = list(self.given_up)
        for w in self.workers:
            with w.lock:
                calls.extend(w.calls)
        return calls, self.timed_out

    def _supervise(self, hard: float | None, done: Callable[[], bool]) -> None:
        """Wait until ``done()`` (or a fatal error, or ``hard``), reaping timed-out calls."""
        timeout = self.plan.timeout_s
        poll = None if timeout is None else min(max(timeout / 4.0, 0.001), 0.1)
        while True:
            with self.live_lock:  # workers change what done() reads under this lock
                if self.fatal is not None or done():
                    return
                self.wake.clear()
            wait = poll
            if hard is not None:
                left = max(0.0, hard - time.perf_counter())
                wait = left if wait is None else min(wait, left)
            self.wake.wait(wait)
            now = time.perf_counter()
            if timeout is not None:
                self._reap(now, timeout)
            if hard is not None and now >= hard:
                self._abandon_all(now)
                return

    def _spawn(self) -> None:
        w = _Worker()
        self.workers.append(w)
        with self.live_lock:
            self.live += 1
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run,
            args=(self._work, w),
            name=f"prodgate-load:{self.plan.name}:{len(self.workers)}",
            daemon=True,
        ).start()

    def _exit(self) -> None:
        with self.live_lock:
            self.live -= 1
            self.wake.set()

    def _reap(self, now: float, timeout: float) -> None:
        """Give up on sync calls past their timeout; a fresh thread replaces each."""
        for w in list(self.workers):
            with w.lock:
                start = w.current
                if w.abandoned or start is None or now - start <= timeout:
                    continue
                w.abandoned = True
                if self.measuring:
                    self.given_up.append((start, start + timeout, False, _TIMEOUT))
            self._spawn()
            self._exit()

    def _abandon_all(self, now: float) -> None:
        """The grace period is over: give up on every call still in flight."""
        for w in self.workers:
            with w.lock:
                if w.abandoned or w.current is None:
                    continue
                w.abandoned = True
                self.given_up.append((w.current, now, False, _TIMEOUT))
                self.timed_out = True

    def _work(self, w: _Worker) -> None:
        try:
            for phase in (self.warm, self.measured):
                phase.gate.wait()
                if self.stop or self._loop(w, phase):
                    return
                with self.live_lock:
                    phase.arrived += 1
                    self.wake.set()
        except BaseException as exc:
            with w.lock:
                if w.abandoned:
                    return
                w.current = None
            if self.fatal is None:
                self.fatal = exc
            self.stop = True
            self.wake.set()
        finally:
            if not w.abandoned:
                self._exit()

    def _loop(self, w: _Worker, phase: _Phase) -> bool:
        """Make calls until the phase runs out; ``True`` when this thread was abandoned."""
        plan = self.plan
        fn = plan.fn
        inputs = plan.inputs
        n = len(inputs)
        counter = phase.counter
        end = phase.end
        deadline = phase.deadline
        timeout = plan.timeout_s
        perf = time.perf_counter
        calls = w.calls if phase.record else []
        lock = w.lock
        plain_types: set[type] = {type(None)}  # result types known not to be awaitable
        while not self.stop:
            i = next(counter)
            if i >= end:
                break
            t0 = perf()
            if t0 >= deadline:
                break
            w.current = t0
            err: str | None
            try:
                out = fn(inputs[i % n])
            except Exception as exc:
                t1 = perf()
                ok, err, out = False, type(exc).__name__, None
            else:
                t1 = perf()
                ok, err = True, None
            if timeout is not None and t1 - t0 > timeout:
                t1, ok, err = t0 + timeout, False, _TIMEOUT
            with lock:
                if w.abandoned:  # the supervisor gave up on this call (and recorded it)
                    return True
                w.current = None
                calls.append((t0, t1, ok, err))
            if type(out) not in plain_types:
                if inspect.isawaitable(out):
                    _close(out)
                    raise TypeError(
                        f"load run {plan.name!r}: the callable returned an awaitable but is "
                        "not recognised as async; wrap it in an `async def` function"
                    )
                if not isinstance(out, types.GeneratorType):  # may be a coroutine: check each
                    plain_types.add(type(out))
        return False


def _run_sync(plan: _Plan) -> tuple[list[Call], bool]:
    return _SyncRun(plan).run()


# --------------------------------------------------------------------------- async runner


def _cancelled_from_inside() -> bool:
    """Whether a ``CancelledError`` came from the model rather than from cancelling the worker."""
    if sys.version_info >= (3, 11):
        task = asyncio.current_task()
        return task is not None and task.cancelling() == 0
    return False  # pragma: no cover - Python 3.10 cannot tell


async def _async_phase(
    plan: _Plan, first: int, count: int | None, duration_s: float | None
) -> tuple[list[Call], bool]:
    fn = plan.fn
    inputs = plan.inputs
    n = len(inputs)
    counter = itertools.count(first)
    end = first + count if count is not None else _NO_END
    timeout = plan.timeout_s
    perf = time.perf_counter
    c = plan.concurrency
    in_flight: list[float | None] = [None] * c
    lists: list[list[Call]] = [[] for _ in range(c)]
    deadline = perf() + duration_s if duration_s is not None else math.inf

    async def worker(k: int) -> None:
        calls = lists[k]
        while True:
            i = next(counter)
            if i >= end:
                return
            t0 = perf()
            if t0 >= deadline:
                return
            in_flight[k] = t0
            err: str | None
            try:
                if timeout is None:
                    await fn(inputs[i % n])
                else:
                    await _await_limited(fn(inputs[i % n]), timeout)
            except _Expired:
                t1, ok, err = t0 + (timeout or 0.0), False, _TIMEOUT
            except Exception as exc:
                t1, ok, err = perf(), False, type(exc).__name__
            except asyncio.CancelledError:
                if not _cancelled_from_inside():
                    raise
                t1, ok, err = perf(), False, "CancelledError"
            else:
                t1, ok, err = perf(), True, None
            in_flight[k] = None
            calls.append((t0, t1, ok, err))

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(worker(k)) for k in range(c)]
    hard = deadline + plan.grace_s if duration_s is not None else None
    given_up: list[Call] = []
    timed_out = False
    try:
        pending: set[asyncio.Task[None]] = set(tasks)
        while pending:
            wait = None if hard is None else max(0.0, hard - perf())
            done, pending = await asyncio.wait(
                pending, timeout=wait, return_when=asyncio.FIRST_EXCEPTION
            )
            for t in done:
                if not t.cancelled() and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
            if not done:  # the grace period is over
                now = perf()
                for start in in_flight:
                    if start is not None:
                        given_up.append((start, now, False, _TIMEOUT))
                        timed_out = True
                break
        calls = given_up + [call for lst in lists for call in lst]
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
                t.add_done_callback(_retrieve)
    return calls, timed_out


async def _run_async(plan: _Plan) -> tuple[list[Call], bool]:
    if plan.warmup:
        await _async_phase(plan, 0, plan.warmup, None)
    return await _async_phase(plan, plan.warmup, plan.requests, plan.duration_s)


def _run_in_loop_thread(plan: _Plan) -> tuple[list[Call], bool]:
    """Run the async workers on a fresh event loop in a dedicated thread; block until done."""
    box: list[tuple[bool, Any]] = []

    def target() -> None:
        loop = asyncio.new_event_loop()
        try:
            asyncio.set_event_loop(loop)
            box.append((True, loop.run_until_complete(_run_async(plan))))
        except BaseException as exc:
            box.append((False, exc))
        finally:
            _close_loop(loop)

    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(target,), name=f"prodgate-load-loop:{plan.name}", daemon=True
    )
    thread.start()
    thread.join()
    ok, value = box[0]
    if ok:
        result: tuple[list[Call], bool] = value
        return result
    raise value


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Close a private loop without waiting long for tasks that ignore cancellation."""
    try:
        leftover = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in leftover:
            t.cancel()
        if leftover:
            loop.run_until_complete(asyncio.wait(leftover, timeout=1.0))
        loop.run_until_complete(loop.shutdown_asyncgens())
        with contextlib.suppress(asyncio.TimeoutError):
            loop.run_until_complete(asyncio.wait_for(loop.shutdown_default_executor(), 1.0))
    finally:
        asyncio.set_event_loop(None)
        loop.close()


# --------------------------------------------------------------------------- entry points


def _finish(plan: _Plan, raw: list[Call], timed_out: bool, case: Any) -> LoadResult:
    raw.sort(key=lambda c: c[0])
    origin = raw[0][0] if raw else 0.0
    calls: list[Call] = [(s - origin, e - origin, ok, err) for s, e, ok, err in raw]
    duration = max((c[1] for c in calls), default=0.0)
    occupancy = _mean_in_flight(calls)
    result = LoadResult(
        concurrency=plan.concurrency,
        duration_s=duration,
        calls=calls,
        saturated=occupancy is not None and occupancy < SATURATION_OCCUPANCY * plan.concurrency,
        timed_out=timed_out,
        requests=len(calls),
        warmup=plan.warmup,
        name=plan.name,
    )
    if case is not None:
        data = result.to_dict()
        with case.lock:
            case.load_runs.append(data)
    return result


def _start(fn: Any, plan: _Plan) -> Any:
    if isinstance(fn, Model):
        recording.spend().check()
    return recording.current_case() if plan.record else None


def run_load(
    fn: Callable[..., Any] | Model,
    inputs: Iterable[Any],
    *,
    concurrency: int,
    requests: int | None = None,
    duration_s: float | None = None,
    warmup: int = 0,
    timeout_s: float | None = None,
    grace_s: float | None = None,
    name: str | None = None,
    record: bool = True,
) -> LoadResult:
    """Call ``fn`` concurrently over ``inputs`` and measure every call.

    Args:
        fn: a sync or async callable taking one input, or a
            :class:`~pytest_prodgate.Model` (its ``fn`` is called directly).
        inputs: a finite, non-empty list of inputs, cycled in order.
        concurrency: calls kept in flight (threads, or coroutines for async).
        requests: measured calls to make; exactly one of ``requests`` and
            ``duration_s``.
        duration_s: issue calls for this many seconds.
        warmup: calls made (unmeasured) before the measured phase.
        timeout_s: a call taking longer fails with ``"TimeoutError"``
            (default: the Model's ``timeout_s``, else none).
        grace_s: duration mode: how long calls in flight at the deadline are
            waited for (see the module docs for the default).
        name: the run's name (default: the model's name).
        record: append the result's :meth:`~LoadResult.to_dict` to the active
            eval case's ``load_runs``.

    Blocks until the run is over; with an async callable the calls run on a
    fresh event loop in a dedicated thread (see :func:`arun_load`).

    Raises:
        TypeError, ValueError: bad arguments (the message names the argument).
        SpendCapReached: ``fn`` is a Model and the spend cap is already reached.
    """
    plan = _plan(
        fn, inputs, concurrency, requests, duration_s, warmup, timeout_s, grace_s, name, record
    )
    case = _start(fn, plan)
    raw, timed_out = _run_in_loop_thread(plan) if plan.is_async else _run_sync(plan)
    return _finish(plan, raw, timed_out, case)


async def arun_load(
    fn: Callable[..., Any] | Model,
    inputs: Iterable[Any],
    *,
    concurrency: int,
    requests: int | None = None,
    duration_s: float | None = None,
    warmup: int = 0,
    timeout_s: float | None = None,
    grace_s: float | None = None,
    name: str | None = None,
    record: bool = True,
) -> LoadResult:
    """:func:`run_load` for async code: async callables run on the caller's event loop.

    Same arguments, result and recording as :func:`run_load`. A sync callable
    runs on the thread pool in a worker thread (:func:`asyncio.to_thread`),
    awaited without blocking the loop; cancelling the await does not stop that
    thread's run early. Cancelling an async run cancels its worker tasks.
    """
    plan = _plan(
        fn, inputs, concurrency, requests, duration_s, warmup, timeout_s, grace_s, name, record
    )
    case = _start(fn, plan)
    if plan.is_async:
        raw, timed_out = await _run_async(plan)
    else:
        raw, timed_out = await asyncio.to_thread(_run_sync, plan)
    return _finish(plan, raw, timed_out, case)


# --------------------------------------------------------------------------- statistics


def throughput_interval(
    runs: Sequence[Mapping[str, Any] | LoadResult],
    confidence: float = 0.95,
    resamples: int = 9999,
    seed: SeedLike = 0,
) -> tuple[float, float, float, int, str]:
    """``(estimate, lower, upper, n_windows, method)`` of successful requests per second.

    The estimate is total successes / total measured duration over ``runs``
    (``to_dict`` dicts or :class:`LoadResult` s). The interval is a BCa
    bootstrap (:func:`pytest_prodgate.stats.bootstrap_mean`) over the runs'
    time windows (each run cut as :meth:`LoadResult.window_rates` does), method
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
        data = run.to_dict() if isinstance(run, LoadResult) else run
        dur = float(data["duration_s"])
        calls = data["calls"]
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
    from pytest_prodgate import stats

    mean_w = sum(widths) / n
    z = [estimate + (k - estimate * w) / mean_w for k, w in zip(counts, widths, strict=True)]
    if min(z) == max(z):  # every window alike (e.g. no success at all): no spread
        return estimate, z[0], z[0], n, "window-constant"
    # bootstrap_mean reads values that are all 0 or 1 as proportions (Wilson): rescale
    # such rates (the bootstrap is scale-equivariant) so they stay rates.
    scale = 2.0 if all(v in (0.0, 1.0) for v in z) else 1.0
    iv = stats.bootstrap_mean(
        [v * scale for v in z], confidence=confidence, resamples=resamples, seed=seed
    )
    return estimate, iv.lower / scale, iv.upper / scale, n, f"window-{iv.method}"
