"""Model calls made ahead of the cases that use them (``prodgate_output``, SPEC §11).

Pure Python, no pytest. An :class:`Ahead` holds a *plan*: the keys (node ids)
of the cases that will run, in the order they will run, each with the input of
its call. It keeps at most ``concurrency`` calls started and not yet taken: as
the run takes the result of the case at position ``p`` (:meth:`Ahead.take`),
the calls up to position ``p + concurrency - 1`` start. Sync models run on a
thread pool of ``concurrency`` threads; async models on one event loop of its
own, in a daemon thread (never the test's loop).

Each call is recorded on a :class:`~pytest_prodgate.measure.recording.CaseRecorder`
of its own (through :func:`~pytest_prodgate.measure.recording.recording_to`),
exactly as a direct call would be, and marked ``ahead``; the plugin moves those
records onto the case when the case takes them. A call never taken (the run
stopped first) is *wasted*: counted, never recorded on any case.

:meth:`Ahead.stop` starts nothing new (``-x``, ``--maxfail``, Ctrl-C); a call
that hits the spend cap stops it too, and so does a cap reached before a start.
Taking a case whose call was never started then gives ``SpendCapReached`` when
the cap stopped the run, and otherwise makes the call at once.

:meth:`Ahead.drop` takes some cases out of the plan (a suite resolved by early
stopping, SPEC §13): their calls not yet started never start, and the window of
calls ahead moves on to the cases after them at once; the ones in flight finish
and are wasted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_prodgate.measure import recording
from pytest_prodgate.measure.recording import CaseRecorder, SpendCapReached

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pytest_prodgate.measure.model import Model

__all__ = ["Ahead", "Job"]


@dataclass
class Job:
    """One case's call: its input, where it is recorded, and how it ended."""

    key: str
    args: tuple[Any, ...]
    recorder: CaseRecorder = field(default_factory=CaseRecorder)
    started: bool = False
    taken: bool = False
    output: Any = None
    exc: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    position: int = -1


class Ahead:
    """Calls of planned cases made ahead, at most ``concurrency`` started and not taken."""

    def __init__(
        self,
        model: Model,
        concurrency: int,
        on_plan: Callable[[str, CaseRecorder], None] | None = None,
    ) -> None:
        """``on_plan(key, recorder)`` is called for each planned case before its call can start."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
        self.model = model
        self.concurrency = concurrency
        self._on_plan = on_plan
        model.limiter.set_ceiling(concurrency)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._order: list[Job] = []
        self._next = 0  # the first position not started
        self._pos = 0  # the position being taken
        self.stopped = False
        self.stopped_by_cap: SpendCapReached | None = None
        self.started = 0
        self.max_in_flight = 0
        self._running = 0
        self._pool: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None

    # -- the plan ---------------------------------------------------------------------

    def extend(self, planned: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
        """Add cases to the end of the plan (keys already planned are ignored)."""
        with self._lock:
            for key, args in planned:
                if key not in self._jobs:
                    job = Job(key, args, position=len(self._order))
                    if self._on_plan is not None:
                        self._on_plan(key, job.recorder)
                    self._jobs[key] = job
                    self._order.append(job)
        self._fill()

    def planned(self, key: str) -> bool:
        """Whether ``key`` is in the plan (planned, and not dropped)."""
        job = self._jobs.get(key)
        return job is not None and job.position >= 0

    def started_call(self, key: str) -> bool:
        """Whether the call of ``key`` has started (it may have finished)."""
        job = self._jobs.get(key)
        return job is not None and job.started

    def drop(self, keys: Iterable[str], *, keep_started: bool = False) -> int:
        """Take the cases ``keys`` out of the plan; how many were dropped before their call.

        A dropped case's call never starts; it is forgotten, so it may be planned
        again (:meth:`extend`) or, when taken, called then. A call already started
        finishes, and is wasted unless the case is taken after all; with
        ``keep_started`` such a case stays in the plan instead. Positions close up,
        so the calls of the cases planned after the dropped ones start now, as far
        as the window allows.
        """
        gone = set(keys)
        with self._lock:
            keep = [
                j
                for j in self._order
                if j.taken or j.key not in gone or (keep_started and j.started)
            ]
            if len(keep) == len(self._order):
                return 0
            kept = {id(j) for j in keep}
            dropped = [j for j in self._order if id(j) not in kept]
            old_pos, old_next = self._pos, self._next
            self._pos = sum(1 for j in keep if j.position < old_pos)
            self._next = sum(1 for j in keep if j.position < old_next)
            for i, job in enumerate(keep):
                job.position = i
            unstarted = 0
            for job in dropped:
                job.position = -1  # taken after all: called then, the window stays put
                if not job.started:
                    unstarted += 1
                    del self._jobs[job.key]
            self._order = keep
        self._fill()
        return unstarted

    @property
    def wasted(self) -> int:
        """Calls started whose case never took them."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.started and not j.taken)

    # -- running ----------------------------------------------------------------------

    def _fill(self) -> None:
        starting: list[Job] = []
        with self._lock:
            while (
                not self.stopped
                and self._next < len(self._order)
                and self._next < self._pos + self.concurrency
            ):
                try:
                    recording.spend().check()
                except SpendCapReached as cap:
                    self.stopped, self.stopped_by_cap = True, cap
                    break
                job = self._order[self._next]
                self._next += 1
                if job.started or job.taken:
                    continue
                job.started = True
                self.started += 1
                self._running += 1
                self.max_in_flight = max(self.max_in_flight, self._running)
                starting.append(job)
        for job in starting:
            self._start(job)

    def _start(self, job: Job) -> None:
        if self.model.is_async:
            loop = self._event_loop()
            asyncio.run_coroutine_threadsafe(self._arun(job), loop)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, "prodgate-ahead")
            self._pool.submit(self._run, job)

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="prodgate-ahead-loop", daemon=True
                )
                thread.start()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    def _finish(self, job: Job) -> None:
        for call in job.recorder.calls:
            call.ahead = True
        if isinstance(job.exc, SpendCapReached):
            with self._lock:
                self.stopped = True
                self.stopped_by_cap = job.exc
        with self._lock:
            self._running -= 1
        job.done.set()
        self._fill()

    def _run(self, job: Job) -> None:
        with recording.recording_to(job.recorder):
            try:
                job.output = self.model(*job.args)
            except BaseException as exc:
                job.exc = exc
        self._finish(job)

    async def _arun(self, job: Job) -> None:
        with recording.recording_to(job.recorder):
            try:
                job.output = await self.model.acall(*job.args)
            except BaseException as exc:
                job.exc = exc
        self._finish(job)

    def take(self, key: str, args: tuple[Any, ...] = ()) -> Job:
        """The finished job of case ``key``, waiting for it; the calls after it start.

        A case that is not in the plan (or whose call was not started) is called now
        (``args``), and waited for.
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                job = Job(key, args)
            else:
                self._pos = max(self._pos, job.position)
            job.taken = True
            claim = not job.started
            if claim and self.stopped_by_cap is None:
                try:
                    recording.spend().check()
                except SpendCapReached as reached:
                    self.stopped, self.stopped_by_cap = True, reached
            cap = self.stopped_by_cap
            if claim:
                job.started = True
                if cap is None:
                    self.started += 1
                    self._running += 1
                    self.max_in_flight = max(self.max_in_flight, self._running)
        if claim:
            if cap is not None:
                job.exc = cap
                job.done.set()
            else:
                self._start(job)
        self._fill()
        while not job.done.wait(0.1):
            pass
        return job

    def stop(self) -> None:
        """Start no new call; the ones in flight finish (their results are kept)."""
        with self._lock:
            self.stopped = True

    def close(self) -> None:
        """Stop, and let the threads and the loop go without waiting for calls in flight."""
        self.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
