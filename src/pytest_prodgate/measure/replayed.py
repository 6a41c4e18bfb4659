"""The exception a recorded failure replays as (``--prodgate-cache-errors``).

Pure Python, no pytest. :func:`replay_failure` records a recorded failure as a
replayed call and raises it. The journal keeps a failed call's exception as its class
name and redacted message only: never the exception object (no pickle), never a
module to import. A replay raises an instance of a class made here by
:func:`replay_class`:

* **named like the original**, so ``type(exc).__name__`` is ``"RateLimitError"``
  as on the fresh call: the trial's reason (``model error: RateLimitError: ...``)
  and the report's ``error`` read the same;
* a subclass of :class:`~pytest_prodgate.errors.ReplayedModelError`, so
  ``except ReplayedModelError`` catches every replayed failure;
* and, when the name is that of a **builtin exception** (``TimeoutError``,
  ``ConnectionError``, ``ValueError``, ...) or :class:`~pytest_prodgate.errors.ModelTimeout`,
  a subclass of that class too, so ``except TimeoutError`` and
  ``pytest.raises(ModelTimeout)`` behave as on the fresh call (except
  ``ExceptionGroup`` and ``MemoryError``, which cannot be made from a message). Any other class
  (an SDK's ``RateLimitError``) cannot be rebuilt safely from a name: ``except
  openai.RateLimitError`` does not catch its replay.

Nothing the journal names is imported or called: the bases come from a
whitelist (the ``builtins`` module's ``__dict__`` and ``ModelTimeout``), and the
class is made with ``type()`` from a name the reader checked to be an identifier.
"""

from __future__ import annotations

import builtins
import functools
import math
from typing import TYPE_CHECKING, Any, NoReturn

from pytest_prodgate.errors import ModelTimeout, ReplayedModelError
from pytest_prodgate.measure import recording
from pytest_prodgate.measure.recording import CallRecord

if TYPE_CHECKING:
    from pytest_prodgate.measure.cache import Entry

__all__ = ["replay_class", "replay_failure", "replayed_failure"]


def _base(error: str) -> type[Exception] | None:
    """The class the replay also derives from: ``ModelTimeout`` or a builtin exception."""
    if error == ModelTimeout.__name__:
        return ModelTimeout
    found = vars(builtins).get(error)  # no module __getattr__, nothing imported
    if isinstance(found, type) and issubclass(found, Exception):
        return found
    return None


def _reduce(self: ReplayedModelError) -> tuple[Any, ...]:
    return (
        _rebuild,
        (self.error, self.error_message, self.model, self.recorded_at, self.timed_out),
    )


def _rebuild(
    error: str, message: str, model: str | None, recorded_at: str | None, timed_out: bool
) -> ReplayedModelError:
    return replayed_failure(
        error, message, model=model, recorded_at=recorded_at, timed_out=timed_out
    )


@functools.lru_cache(maxsize=1024)
def replay_class(error: str) -> type[ReplayedModelError]:
    """The class a failure recorded as ``error`` (an identifier) replays as; one per name."""
    namespace = {"__module__": __name__, "__qualname__": error, "__reduce__": _reduce}
    base = _base(error)
    if base is not None:
        try:
            cls = type(error, (ReplayedModelError, base), dict(namespace))
            cls(
                error, "probe"
            )  # a base whose __new__ refuses (ExceptionGroup, MemoryError) is left out
        except Exception:
            pass
        else:
            return cls
    return type(error, (ReplayedModelError,), dict(namespace))


def replayed_failure(
    error: str,
    message: str,
    *,
    model: str | None,
    recorded_at: str | None,
    timed_out: bool,
    timeout_s: float | None = None,
) -> ReplayedModelError:
    """The exception a recorded failure replays as (see the module docs).

    ``timeout_s`` is the model's, for a replayed ``ModelTimeout``'s attribute of that
    name (NaN when the model has none now).
    """
    exc = replay_class(error)(
        error, message, model=model, recorded_at=recorded_at, timed_out=timed_out
    )
    if isinstance(exc, ModelTimeout):
        exc.timeout_s = math.nan if timeout_s is None else timeout_s
    add_note = getattr(exc, "add_note", None)  # Python 3.11+: shown under a traceback
    if add_note is not None:
        add_note(
            f"prodgate: replayed from --prodgate-cache (recorded {recorded_at}): the model "
            "was not called; without --prodgate-cache-errors the call is made again"
        )
    return exc


def replay_failure(model: Any, entry: Entry) -> NoReturn:
    """Record a recorded failure as a replayed call, and raise it (the model is not called)."""
    call = entry.call
    exc = replayed_failure(
        call["error"],
        call["error_message"],
        model=model.name,
        recorded_at=entry.recorded_at,
        timed_out=call["timed_out"],
        timeout_s=model.timeout_s,
    )
    recording.record_call(
        CallRecord(
            latency_s=float(call["latency_s"]),
            ok=False,
            error=call["error"],
            error_message=call["error_message"],
            timed_out=call["timed_out"],
            retries=int(call.get("retries") or 0),
            model=model.name,
            model_version=model.version,
            replayed=True,
            recorded_at=entry.recorded_at,
        ),
        exc,
    )
    raise exc
