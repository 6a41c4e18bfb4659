"""Where measurements land: the current eval case's recorder.

Pure Python, no pytest. The plugin activates a :class:`CaseRecorder` for the
duration of a test's call phase; :class:`pytest_prodgate.Model` (and the load
runner) append :class:`CallRecord` s to whichever recorder is active. A call made
while no case is active is counted as warm-up and never gated.

A plain module global (not a ``ContextVar``) holds the active recorder on
purpose: a test may call the model from threads it starts itself, and those
calls belong to the case all the same. Tests run one at a time per process.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pytest_prodgate.errors import SpendCapReached
from pytest_prodgate.schema.redact import safe_repr

__all__ = [
    "CallRecord",
    "CaseRecorder",
    "SpendCapReached",
    "activate",
    "call_in_flight",
    "calls_in_flight",
    "current_case",
    "deactivate",
    "enter_call",
    "exit_call",
    "record_call",
    "recording_to",
    "spend",
]


@dataclass(slots=True)
class CallRecord:
    """One model call as measured: only builtins, so it crosses process boundaries."""

    latency_s: float
    ok: bool
    error: str | None = None
    error_message: str | None = None
    timed_out: bool = False
    retries: int = 0
    cost_usd: float | None = None
    cost_error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    model: str | None = None
    kind: str = "call"
    model_version: str | None = None
    #: Replayed from the ``--prodgate-cache`` journal: the figures are those recorded then.
    replayed: bool = False
    #: When a replayed call was made (ISO 8601, UTC).
    recorded_at: str | None = None
    #: Why the cache did not store this call, if it did not.
    cache_note: str | None = None
    #: Attempts that got a rate-limit signal (not counted in ``retries``).
    rate_limited: int = 0
    #: Seconds spent on rate limits (their attempts, the waits): not in ``latency_s``.
    throttled_s: float = 0.0
    #: Model calls in flight in this process when this one started (itself included).
    in_flight: int | None = None
    #: Made ahead of its case by ``prodgate_output``.
    ahead: bool = False

    def to_report(self) -> dict[str, Any]:
        """The call as the report keeps it: the fields of ``schema.report.CallReport``.

        Only builtins (crosses xdist); latency in milliseconds. A test keeps these
        keys equal to ``CallReport``'s fields, so the two records cannot drift.
        """
        # By hand: dataclasses.asdict deep-copies and is 10x slower on this hot path.
        return {
            # To the nanosecond: what the clock resolves; fewer digits in the report.
            "latency_ms": round(self.latency_s * 1000.0, 6),
            "ok": self.ok,
            "error": self.error,
            "error_message": self.error_message,
            "timed_out": self.timed_out,
            "retries": self.retries,
            "cost_usd": self.cost_usd,
            "cost_error": self.cost_error,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "model": self.model,
            "kind": self.kind,
            "model_version": self.model_version,
            "replayed": self.replayed,
            "recorded_at": self.recorded_at,
            "cache_note": self.cache_note,
            "rate_limited": self.rate_limited,
            "throttled_ms": round(self.throttled_s * 1000.0, 3),  # to the microsecond
            "in_flight": self.in_flight,
            "ahead": self.ahead,
        }


@dataclass(slots=True)
class CaseRecorder:
    """Everything measured for one eval case while its test body runs."""

    calls: list[CallRecord] = field(default_factory=list)
    score: float | None = None
    tags: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    added_cost_usd: float = 0.0
    model_exceptions: list[BaseException] = field(default_factory=list)
    #: Load runs (``prodgate_load``): plain dicts, see :mod:`pytest_prodgate.load`.
    load_runs: list[dict[str, Any]] = field(default_factory=list)
    #: Recovery drills (``prodgate_drill``): plain dicts, see :mod:`pytest_prodgate.drill`.
    drills: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_call(self, call: CallRecord) -> None:
        with self.lock:
            self.calls.append(call)

    def set_score(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"prodgate_case.score() takes a number in [0, 1], got {value!r}")
        x = float(value)
        if not math.isfinite(x) or not 0.0 <= x <= 1.0:
            raise ValueError(f"prodgate_case.score() takes a number in [0, 1], got {value!r}")
        self.score = x

    def add_tags(self, *slices: str) -> None:
        for s in slices:
            if not isinstance(s, str) or not s:
                raise TypeError(f"prodgate_case.tag() takes non-empty strings, got {s!r}")
            if s not in self.tags:
                self.tags.append(s)

    def add_cost(self, usd: float) -> None:
        if isinstance(usd, bool) or not isinstance(usd, (int, float)):
            raise TypeError(f"prodgate_case.add_cost() takes a number of USD, got {usd!r}")
        x = float(usd)
        if not math.isfinite(x) or x < 0:
            raise ValueError(f"prodgate_case.add_cost() takes a cost >= 0, got {usd!r}")
        with self.lock:
            self.added_cost_usd += x
        _spend.add(x)

    def note(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            raise TypeError(f"prodgate_case.note() takes a non-empty string key, got {key!r}")
        self.notes[key] = _jsonable(value)

    def trial_report(
        self,
        *,
        nodeid: str,
        trial: int,
        outcome: str,
        score: float | None,
        reason: str | None,
        error: str | None,
        duration_s: float,
    ) -> dict[str, Any]:
        """One trial as the report keeps it: the fields of ``schema.report.TrialReport``.

        Only builtins (crosses xdist); a test keeps the keys equal to ``TrialReport``'s.
        """
        with self.lock:
            calls = [c.to_report() for c in self.calls]
            load_runs = list(self.load_runs)
            drills = list(self.drills)
        return {
            "nodeid": nodeid,
            "trial": trial,
            "outcome": outcome,
            "score": score,
            "reason": reason,
            "error": error,
            "calls": calls,
            "added_cost_usd": self.added_cost_usd,
            "duration_s": duration_s,
            "load_runs": load_runs,
            "drills": drills,
        }

    def is_model_exception(self, exc: BaseException | None) -> bool:
        """Whether ``exc`` (or an exception it was raised from) came out of a model call."""
        seen: set[int] = set()
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            if any(exc is e for e in self.model_exceptions):
                return True
            exc = exc.__cause__ or exc.__context__
        return False


def _jsonable(value: Any) -> Any:
    # Anything json cannot write (or a user object that raises while written) is
    # kept as its repr, which never raises.
    try:
        json.dumps(value, allow_nan=False)
    except Exception:
        return safe_repr(value, limit=1000)
    return value


class _Spend:
    """The run's running total of recorded cost, and its optional cap.

    Under xdist every worker is its own process; the controller then gives them one
    shared ledger file, updated under an exclusive ``flock``, so the cap holds for
    the whole run rather than per worker. A call about to start reserves the mean
    cost of the priced calls so far (:meth:`reserve`) until its cost is recorded, so
    calls in flight on other workers or threads count as if they had finished: the
    cap stops the run after as many calls as one process would make.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = (0.0, 0.0, 0)  # spent, reserved, priced calls
        self.cap_usd: float | None = None
        self.warmup_calls = 0
        self.ledger: str | None = None

    @property
    def total_usd(self) -> float:
        """What the whole run has spent so far (all workers, with a shared ledger)."""
        return self._update()[0]

    def add(self, usd: float, *, call: bool = False, release: float = 0.0) -> None:
        """Count ``usd`` spent (``call``: by one priced model call, for the mean), and give
        back what that call held in the same step (another worker never sees it twice)."""
        if usd or call or release:
            self._update(spent=usd, reserved=-release, calls=int(call))

    def reserve(self) -> float:
        """Check the cap with the calls in flight counted, then reserve a call's expected
        cost (the mean so far; 0 before the first priced call) until :meth:`release`."""
        if self.cap_usd is None:
            return 0.0
        total, held, _, before = self._update(reserve=True)
        self._raise_if_reached(total, before)  # reserved nothing then
        return held - before

    def release(self, usd: float) -> None:
        """Give back what :meth:`reserve` returned (the call's cost is recorded by now)."""
        if usd:
            self._update(reserved=-usd)

    def _update(
        self, spent: float = 0.0, reserved: float = 0.0, calls: int = 0, reserve: bool = False
    ) -> tuple[float, float, int, float]:
        """Apply the changes to the run's (spent, reserved, priced calls) atomically; the
        new state, plus (with ``reserve``) the reserved amount before this reservation.
        ``reserve`` reserves nothing when the cap is already reached."""
        with self._lock:
            if self.ledger is None:
                state, self._local = self._apply(self._local, spent, reserved, calls, reserve)
                return state
            import fcntl

            with open(self.ledger, "r+", encoding="ascii") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    fields = fh.read().split()
                    # "spent reserved calls"; the controller seeds the file with "0.0".
                    old = (
                        (float(fields[0]), float(fields[1]), int(fields[2]))
                        if len(fields) == 3
                        else (float(fields[0]) if fields else 0.0, 0.0, 0)
                    )
                    state, new = self._apply(old, spent, reserved, calls, reserve)
                    if new != old:
                        fh.seek(0)
                        fh.write(f"{new[0]!r} {new[1]!r} {new[2]}")
                        fh.truncate()
                        fh.flush()
                    return state
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    def _apply(
        self,
        old: tuple[float, float, int],
        spent: float,
        reserved: float,
        calls: int,
        reserve: bool,
    ) -> tuple[tuple[float, float, int, float], tuple[float, float, int]]:
        total, held, n = old[0] + spent, max(old[1] + reserved, 0.0), old[2] + calls
        before = held
        if reserve and (self.cap_usd is None or total + held < self.cap_usd):
            held += total / n if n else 0.0
        return (total, held, n, before), (total, held, n)

    def _raise_if_reached(self, total: float, held: float) -> None:
        cap = self.cap_usd
        if cap is not None and total >= cap:
            raise SpendCapReached(
                f"spend cap reached: ${total:.4f} spent of ${cap:.4f} (--prodgate-max-spend-usd)"
            )
        if cap is not None and total + held >= cap:
            raise SpendCapReached(
                f"spend cap reached: ${total:.4f} spent and calls in flight expected to "
                f"spend ${held:.4f} of ${cap:.4f} (--prodgate-max-spend-usd)"
            )

    def check(self) -> None:
        """Raise :class:`SpendCapReached` when the run has spent the cap, calls in flight
        counted at their reservations."""
        if self.cap_usd is None:
            return
        total, held, _, _ = self._update()
        self._raise_if_reached(total, held)

    def reset(self, cap_usd: float | None = None, ledger: str | None = None) -> None:
        with self._lock:
            self._local = (0.0, 0.0, 0)
            self.cap_usd = cap_usd
            self.warmup_calls = 0
            self.ledger = ledger


_spend = _Spend()
_active: CaseRecorder | None = None
#: Where calls made in this context are recorded instead of the active case
#: (``prodgate_output`` runs each case's call ahead with its own recorder).
_target: contextvars.ContextVar[CaseRecorder | None] = contextvars.ContextVar(
    "prodgate_record_to", default=None
)
_in_flight_lock = threading.Lock()
_in_flight = 0


def enter_call() -> int:
    """Count one model call in flight (until :func:`exit_call`); the count at its start."""
    global _in_flight
    with _in_flight_lock:
        _in_flight += 1
        return _in_flight


def exit_call() -> None:
    """The call :func:`enter_call` counted is over."""
    global _in_flight
    with _in_flight_lock:
        _in_flight -= 1


@contextlib.contextmanager
def call_in_flight() -> Iterator[int]:
    """Count one model call in flight for its duration; yields the count at its start."""
    now = enter_call()
    try:
        yield now
    finally:
        exit_call()


def calls_in_flight() -> int:
    """Model calls in flight in this process now."""
    return _in_flight


@contextlib.contextmanager
def recording_to(recorder: CaseRecorder) -> Iterator[CaseRecorder]:
    """Record the calls made in this context (thread or task) on ``recorder``."""
    token = _target.set(recorder)
    try:
        yield recorder
    finally:
        _target.reset(token)


def spend() -> _Spend:
    """The process-wide spend tracker (total, cap, warm-up call count)."""
    return _spend


def activate(recorder: CaseRecorder) -> None:
    global _active
    _active = recorder


def deactivate() -> None:
    global _active
    _active = None


def current_target() -> CaseRecorder | None:
    """The recorder :func:`recording_to` set for this thread or task, or ``None``."""
    return _target.get()


def current_case() -> CaseRecorder | None:
    """The recorder of the eval case whose body is running, or ``None`` (warm-up)."""
    return _active


def record_call(
    call: CallRecord, exc: BaseException | None = None, *, held_usd: float = 0.0
) -> None:
    """Attach a finished call to the active case, or count it as warm-up.

    ``exc`` is the exception the call ended with, remembered so the plugin can tell a
    model error that escapes the test body from a bug in the test. ``held_usd`` is
    what the call held against the spend cap (:meth:`_Spend.reserve`), given back as
    its cost is counted.
    """
    if call.cost_usd is not None and not call.replayed:  # a replay spends nothing
        _spend.add(call.cost_usd, call=True, release=held_usd)
    else:
        _spend.release(held_usd)
    rec = _target.get()
    if rec is None:
        rec = _active
    if rec is None:
        with _spend._lock:
            _spend.warmup_calls += 1
        return
    with rec.lock:  # CaseRecorder.add_call, and the exception with it
        rec.calls.append(call)
        if exc is not None:
            rec.model_exceptions.append(exc)
