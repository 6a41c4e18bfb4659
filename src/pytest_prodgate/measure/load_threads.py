"""The sync load runner: a pool of daemon threads (see :mod:`.load`)."""

from __future__ import annotations

import contextvars
import inspect
import itertools
import math
import threading
import time
import types
from collections.abc import Callable

from pytest_prodgate.measure.calling import close_awaitable
from pytest_prodgate.measure.load_plan import NO_END, TIMEOUT, Plan
from pytest_prodgate.measure.load_result import Call

__all__ = ["run_sync"]


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
        self.end = first + count if count is not None else NO_END
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

    def __init__(self, plan: Plan) -> None:
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
                    self.given_up.append((start, start + timeout, False, TIMEOUT))
            self._spawn()
            self._exit()

    def _abandon_all(self, now: float) -> None:
        """The grace period is over: give up on every call still in flight."""
        for w in self.workers:
            with w.lock:
                if w.abandoned or w.current is None:
                    continue
                w.abandoned = True
                self.given_up.append((w.current, now, False, TIMEOUT))
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
                t1, ok, err = t0 + timeout, False, TIMEOUT
            with lock:
                if w.abandoned:  # the supervisor gave up on this call (and recorded it)
                    return True
                w.current = None
                calls.append((t0, t1, ok, err))
            if type(out) not in plain_types:
                if inspect.isawaitable(out):
                    close_awaitable(out)
                    raise TypeError(
                        f"load run {plan.name!r}: the callable returned an awaitable but is "
                        "not recognised as async; wrap it in an `async def` function"
                    )
                if not isinstance(out, types.GeneratorType):  # may be a coroutine: check each
                    plain_types.add(type(out))
        return False


def run_sync(plan: Plan) -> tuple[list[Call], bool]:
    return _SyncRun(plan).run()
