"""The async load runner: worker tasks on one event loop (see :mod:`.load`)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import math
import sys
import threading
import time
from typing import Any

from pytest_prodgate.measure.calling import Expired, await_limited, retrieve
from pytest_prodgate.measure.load_plan import NO_END, TIMEOUT, Plan
from pytest_prodgate.measure.load_result import Call

__all__ = ["run_async", "run_in_loop_thread"]


def _cancelled_from_inside() -> bool:
    """Whether a ``CancelledError`` came from the model rather than from cancelling the worker."""
    if sys.version_info >= (3, 11):
        task = asyncio.current_task()
        return task is not None and task.cancelling() == 0
    return False  # pragma: no cover - Python 3.10 cannot tell


async def _async_phase(
    plan: Plan, first: int, count: int | None, duration_s: float | None
) -> tuple[list[Call], bool]:
    fn = plan.fn
    inputs = plan.inputs
    n = len(inputs)
    counter = itertools.count(first)
    end = first + count if count is not None else NO_END
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
                    await await_limited(fn(inputs[i % n]), timeout)
            except Expired:
                t1, ok, err = t0 + (timeout or 0.0), False, TIMEOUT
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
                        given_up.append((start, now, False, TIMEOUT))
                        timed_out = True
                break
        calls = given_up + [call for lst in lists for call in lst]
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
                t.add_done_callback(retrieve)
    return calls, timed_out


async def run_async(plan: Plan) -> tuple[list[Call], bool]:
    if plan.warmup:
        await _async_phase(plan, 0, plan.warmup, None)
    return await _async_phase(plan, plan.warmup, plan.requests, plan.duration_s)


def run_in_loop_thread(plan: Plan) -> tuple[list[Call], bool]:
    """Run the async workers on a fresh event loop in a dedicated thread; block until done."""
    box: list[tuple[bool, Any]] = []

    def target() -> None:
        loop = asyncio.new_event_loop()
        try:
            asyncio.set_event_loop(loop)
            box.append((True, loop.run_until_complete(run_async(plan))))
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
