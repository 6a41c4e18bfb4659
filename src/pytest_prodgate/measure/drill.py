"""Recovery drills behind ``prodgate_drill`` and the recovery gate (SPEC §3, §6).

Pure Python, no pytest. A :class:`Drill` times one fault -> detected ->
recovered sequence::

    with Drill(name="bad-deploy", poll_interval_s=0.05) as d:
        deploy(bad_build)
        d.fault()                                    # optional: else the fault is __enter__
        d.wait_until(alerting, timeout=30, step="detected")
        rollback()
        d.wait_until(healthy, timeout=60)            # step="recovered"

**Clock.** Intervals use :func:`time.perf_counter` (monotonic, high
resolution); ``fault_at`` in the result is the wall-clock time
(:func:`time.time`) of the fault, for reports.

**Polling.** :meth:`Drill.wait_until` checks the predicate at once, then every
poll interval on a fixed schedule from the start of the wait (a slow predicate
skips the ticks it overran, it does not shift the schedule), and once more at
the deadline. A step's time is the moment the predicate *returned* a truthy
value, measured from the fault: it never undercounts, and overcounts by at
most one poll interval plus the predicate's own duration. A predicate that
raises an :class:`Exception` counts as falsy (polling goes on); the last such
error is kept (``last_error``). A predicate returning an awaitable is a
:class:`DrillError` (use :meth:`Drill.wait_until_async`).

**A step that times out** does not raise: it is recorded as failed and
:meth:`~Drill.wait_until` returns the time from the fault to the deadline. A
failed ``"recovered"`` step makes a *failed drill* (``recovered`` is False)
whose ``recovered_s`` is that fault -> deadline time, so the recovery gate
counts it at least at its timeout and fails when the budget is below it
(test code that must not go on can ``assert d.recovered``).

**Exceptions inside the drill** are recorded (``error``, ``recovered`` False,
``recovered_s`` kept only if the recovery was measured) and propagate. A drill
that ends normally without a ``"recovered"`` step is recorded as failed and
raises :class:`DrillError`.

**Results.** After the ``with`` block, :attr:`Drill.result` holds a plain dict
(builtins only, it crosses xdist)::

    {"name", "fault_at", "detected_s", "recovered_s", "recovered", "timeout_s",
     "poll_interval_s", "steps": [{"step", "ok", "elapsed_s", "wait_s",
     "timeout_s", "poll_interval_s", "checks", "last_error"}, ...], "error"}

``timeout_s`` and ``poll_interval_s`` are those of the recovery step (the
drill's default poll interval when there is none). The dict is appended to
the ``drills`` of the eval case active when the drill began (unless
``record=False``). Run several drills (one :class:`Drill` each) to record
several repetitions; the gate takes the worst
(:func:`pytest_prodgate.gating.service.recovery_estimate`).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from pytest_prodgate.errors import DrillError
from pytest_prodgate.measure import recording

__all__ = ["DETECTED", "RECOVERED", "Drill", "DrillError"]

#: The step that marks detection of the fault.
DETECTED = "detected"
#: The step that marks recovery: the drill's time.
RECOVERED = "recovered"

_MAX_MESSAGE = 500


def _describe(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except Exception:
        text = f"{type(exc).__name__}: <unprintable>"
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} takes a number of seconds > 0, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{what} takes a finite number of seconds > 0, got {value!r}")
    return x


class Drill:
    """A context manager timing one fault -> detected -> recovered drill.

    Args:
        name: the drill's name in reports.
        poll_interval_s: default seconds between predicate checks.
        record: append :attr:`result` to the active eval case's ``drills``.

    Not thread-safe: drive one drill from one thread (or task) at a time.
    """

    def __init__(
        self, name: str = "drill", *, poll_interval_s: float = 0.05, record: bool = True
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Drill(name=...) takes a non-empty string, got {name!r}")
        if not isinstance(record, bool):
            raise TypeError(f"Drill(record=...) takes a bool, got {record!r}")
        self.name = name
        self.poll_interval_s = _seconds(poll_interval_s, "Drill(poll_interval_s=...)")
        self.record = record
        #: The drill's record once the ``with`` block is over, else ``None``.
        self.result: dict[str, Any] | None = None
        self._state = "new"  # new -> running -> over
        self._fault_t = 0.0
        self._fault_wall = 0.0
        self._fault_marked = False
        self._steps: list[dict[str, Any]] = []
        self._case: recording.CaseRecorder | None = None

    def __repr__(self) -> str:
        return f"Drill({self.name!r}, {self._state})"

    # -- the with block -----------------------------------------------------------

    def __enter__(self) -> Drill:
        if self._state != "new":
            raise DrillError(
                f"drill {self.name!r} has already run: create a new Drill for another repetition"
            )
        self._state = "running"
        self._case = recording.current_case() if self.record else None
        self._fault_t, self._fault_wall = time.perf_counter(), time.time()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state = "over"
        error = None if exc is None else _describe(exc)
        missing = exc is None and self._step(RECOVERED) is None
        if missing:
            problem = DrillError(
                f"drill {self.name!r} has no recovery step: call wait_until(..., step='recovered')"
            )
            error = _describe(problem)
        self.result = self._build(error)
        if self._case is not None:
            with self._case.lock:
                self._case.drills.append(self.result)
        if missing:
            raise problem

    # -- marking and waiting --------------------------------------------------------

    def fault(self) -> None:
        """Mark the fault injection time now (else it is the start of the ``with`` block)."""
        self._require_running("fault()")
        if self._fault_marked:
            raise DrillError(f"drill {self.name!r}: fault() was already called")
        if self._steps:
            raise DrillError(
                f"drill {self.name!r}: fault() must come before the first wait_until() step"
            )
        self._fault_marked = True
        self._fault_t, self._fault_wall = time.perf_counter(), time.time()

    def wait_until(
        self,
        predicate: Callable[[], object],
        timeout: float,
        *,
        step: str = RECOVERED,
        poll_interval_s: float | None = None,
    ) -> float:
        """Poll ``predicate()`` until it is truthy; return seconds since the fault.

        ``step`` names what the wait marks: ``"recovered"`` (the drill's time),
        ``"detected"``, or any other name (kept in ``steps``). Each name may be
        used once per drill. On timeout the step is recorded as failed and the
        time from the fault to the deadline is returned (no exception).
        """
        interval, limit = self._begin(predicate, timeout, step, poll_interval_s)
        start = time.perf_counter()
        deadline = start + limit
        checks = 0
        last_error: str | None = None
        error: str | None
        while True:
            try:
                value = predicate()
            except Exception as exc:
                ok, error = False, _describe(exc)
            else:
                ok, error = self._truthy(value)
            checks += 1
            now = time.perf_counter()
            last_error = error or last_error
            if ok or now >= deadline:
                return self._end(
                    step, ok, now, start, deadline, limit, interval, checks, last_error
                )
            time.sleep(max(0.0, self._next_check(start, now, interval, deadline) - now))

    async def wait_until_async(
        self,
        predicate: Callable[[], object],
        timeout: float,
        *,
        step: str = RECOVERED,
        poll_interval_s: float | None = None,
    ) -> float:
        """:meth:`wait_until` for async code: sleeps with asyncio; awaits an async predicate."""
        interval, limit = self._begin(predicate, timeout, step, poll_interval_s)
        start = time.perf_counter()
        deadline = start + limit
        checks = 0
        last_error: str | None = None
        error: str | None
        while True:
            try:
                value = predicate()
                if inspect.isawaitable(value):
                    value = await value
            except Exception as exc:
                ok, error = False, _describe(exc)
            else:
                ok, error = self._truthy(value)
            checks += 1
            now = time.perf_counter()
            last_error = error or last_error
            if ok or now >= deadline:
                return self._end(
                    step, ok, now, start, deadline, limit, interval, checks, last_error
                )
            await asyncio.sleep(max(0.0, self._next_check(start, now, interval, deadline) - now))

    # -- what was measured --------------------------------------------------------

    @property
    def recovered(self) -> bool:
        """Whether the recovery step succeeded (and, after the drill, nothing raised)."""
        if self.result is not None:
            return bool(self.result["recovered"])
        rec = self._step(RECOVERED)
        return rec is not None and bool(rec["ok"])

    @property
    def recovered_s(self) -> float | None:
        """Fault -> recovery seconds (fault -> deadline for a failed step), or ``None``."""
        rec = self._step(RECOVERED)
        return None if rec is None else float(rec["elapsed_s"])

    @property
    def detected_s(self) -> float | None:
        """Fault -> detection seconds, or ``None`` when not (yet) detected."""
        det = self._step(DETECTED)
        return float(det["elapsed_s"]) if det is not None and det["ok"] else None

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The steps so far, as recorded."""
        return [dict(s) for s in self._steps]

    # -- internals ------------------------------------------------------------------

    def _require_running(self, what: str) -> None:
        if self._state == "new":
            raise DrillError(
                f"drill {self.name!r}: {what} outside the drill; use `with Drill(...) as d:`"
            )
        if self._state == "over":
            raise DrillError(f"drill {self.name!r}: {what} after the drill ended")

    def _step(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self._steps if s["step"] == name), None)

    def _begin(
        self, predicate: Any, timeout: Any, step: Any, poll_interval_s: Any
    ) -> tuple[float, float]:
        self._require_running("wait_until()")
        if not callable(predicate):
            raise TypeError(f"wait_until() takes a callable predicate, got {predicate!r}")
        limit = _seconds(timeout, "wait_until(timeout=...)")
        if not isinstance(step, str) or not step:
            raise TypeError(f"wait_until(step=...) takes a non-empty string, got {step!r}")
        if self._step(step) is not None:
            raise DrillError(f"drill {self.name!r} already has a {step!r} step")
        if poll_interval_s is None:
            return self.poll_interval_s, limit
        return _seconds(poll_interval_s, "wait_until(poll_interval_s=...)"), limit

    def _truthy(self, value: object) -> tuple[bool, str | None]:
        """``(truthy, error)`` of a predicate's result."""
        if inspect.isawaitable(value):
            _close(value)
            raise DrillError(
                f"drill {self.name!r}: the predicate returned an awaitable; use "
                "`await drill.wait_until_async(...)` for an async predicate"
            )
        try:
            return bool(value), None
        except Exception as exc:
            return False, _describe(exc)

    @staticmethod
    def _next_check(start: float, now: float, interval: float, deadline: float) -> float:
        ticks = math.floor((now - start) / interval) + 1
        return min(start + ticks * interval, deadline)

    def _end(
        self,
        step: str,
        ok: bool,
        now: float,
        start: float,
        deadline: float,
        timeout: float,
        interval: float,
        checks: int,
        last_error: str | None,
    ) -> float:
        at = now if ok else deadline
        elapsed = at - self._fault_t
        self._steps.append(
            {
                "step": step,
                "ok": ok,
                "elapsed_s": elapsed,
                "wait_s": at - start,
                "timeout_s": timeout,
                "poll_interval_s": interval,
                "checks": checks,
                "last_error": last_error,
            }
        )
        return elapsed

    def _build(self, error: str | None) -> dict[str, Any]:
        rec = self._step(RECOVERED)
        det = self._step(DETECTED)
        return {
            "name": self.name,
            "fault_at": self._fault_wall,
            "detected_s": float(det["elapsed_s"]) if det is not None and det["ok"] else None,
            "recovered_s": None if rec is None else float(rec["elapsed_s"]),
            "recovered": rec is not None and bool(rec["ok"]) and error is None,
            "timeout_s": None if rec is None else rec["timeout_s"],
            "poll_interval_s": self.poll_interval_s if rec is None else rec["poll_interval_s"],
            "steps": self.steps,
            "error": error,
        }


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None) if inspect.iscoroutine(awaitable) else None
    if close is not None:
        close()
