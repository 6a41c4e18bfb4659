"""The load runner behind ``prodgate_load`` and the throughput gate (SPEC §3, §6).

Pure Python, no pytest. The runners live in :mod:`~pytest_prodgate.measure.load_threads`
(sync callables) and :mod:`~pytest_prodgate.measure.load_tasks` (async ones); the
throughput statistics in :mod:`pytest_prodgate.stats.windows` (re-exported here).

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
(:mod:`pytest_prodgate.stats.windows`) bootstraps those window rates (BCa,
:func:`pytest_prodgate.stats.bootstrap_mean`)
over all runs of a suite; fewer than 5 windows give an unbounded interval
(INCONCLUSIVE): a run should last at least ~25 median call latencies, and
100 for the full 20 windows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from pytest_prodgate.measure import recording
from pytest_prodgate.measure.load_plan import Plan, make_plan
from pytest_prodgate.measure.load_result import (
    SATURATION_OCCUPANCY,
    Call,
    LoadResult,
    mean_in_flight,
)
from pytest_prodgate.measure.load_tasks import run_async, run_in_loop_thread
from pytest_prodgate.measure.load_threads import run_sync
from pytest_prodgate.measure.model import Model
from pytest_prodgate.stats.windows import (
    MAX_WINDOWS,
    MIN_WINDOWS,
    WINDOW_LATENCIES,
    throughput_interval,
    window_counts,
)

__all__ = [
    "MAX_WINDOWS",
    "MIN_WINDOWS",
    "SATURATION_OCCUPANCY",
    "WINDOW_LATENCIES",
    "Call",
    "LoadResult",
    "arun_load",
    "run_load",
    "throughput_interval",
    "window_counts",
]


def _finish(plan: Plan, raw: list[Call], timed_out: bool, case: Any) -> LoadResult:
    raw.sort(key=lambda c: c[0])
    origin = raw[0][0] if raw else 0.0
    calls: list[Call] = [(s - origin, e - origin, ok, err) for s, e, ok, err in raw]
    duration = max((c[1] for c in calls), default=0.0)
    occupancy = mean_in_flight(calls)
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


def _start(fn: Any, plan: Plan) -> Any:
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
    plan = make_plan(
        fn, inputs, concurrency, requests, duration_s, warmup, timeout_s, grace_s, name, record
    )
    case = _start(fn, plan)
    raw, timed_out = run_in_loop_thread(plan) if plan.is_async else run_sync(plan)
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
    plan = make_plan(
        fn, inputs, concurrency, requests, duration_s, warmup, timeout_s, grace_s, name, record
    )
    case = _start(fn, plan)
    if plan.is_async:
        raw, timed_out = await run_async(plan)
    else:
        raw, timed_out = await asyncio.to_thread(run_sync, plan)
    return _finish(plan, raw, timed_out, case)
