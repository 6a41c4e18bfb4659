"""Replaying recorded model calls: the process-wide cache that :class:`~pytest_prodgate.Model` asks.

Pure Python, no pytest. The plugin turns the cache on with :func:`activate`
(``--prodgate-cache``) and tells it which case and trial each recorder belongs to
(:func:`bind`); ``Model`` asks :func:`replay` before calling and hands every
successful call to :func:`store`. With no active cache both are a single check.

**The key** of a call is the SHA-256 of: the model's name; its version (given,
else derived from a digest of the callable's source code, see :func:`model_version`);
a digest of the call's arguments (canonical JSON); the case and the trial index;
and the call's occurrence within that case and trial. So repeats are never
replays of each other: each trial, and each repeated identical call within one
trial, has a key of its own; and a changed model version can never replay an
old answer.

**An honest replay** returns a fresh copy of the recorded response and records
a call with the latency, retries, tokens and cost measured when it was made,
marked ``replayed`` with ``recorded_at``. Replays are not spend: the spend cap
counts only fresh calls (see :func:`pytest_prodgate.measure.recording.record_call`).

**No secret is journaled** (SPEC §18): :func:`store` passes every string of the
record (the response, recursively, the cost error, the model's name and
version) through :func:`pytest_prodgate.schema.redact.redactor`, so a replay
returns the redacted text. A recorded response that cannot be replayed (a
pydantic class this run has not imported, or one that no longer validates) is
noted once with its file and line (:func:`problems`) and its call made again.

**Failed calls** are journaled too (:func:`store_failure`: the error's class name
and redacted message, no response). Without ``errors`` (``--prodgate-cache-errors``)
such a record is not replayed: the call is made again (:func:`failures_called`
counts them). With it, the failure is replayed as a failure: the call is recorded
``ok: false`` and ``replayed``, and an exception named like the original is
raised (:mod:`pytest_prodgate.measure.replayed`). A recorded success always wins
over a recorded failure of the same key.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import inspect
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_prodgate.measure import recording
from pytest_prodgate.measure.cache import (
    RECORD_VERSION,
    Journal,
    Unstorable,
    decode_response,
    encode_response,
    now_iso,
    redacted,
)
from pytest_prodgate.measure.recording import CallRecord
from pytest_prodgate.measure.replayed import replay_failure
from pytest_prodgate.schema.redact import redactor

__all__ = [
    "MISS",
    "Scope",
    "activate",
    "active",
    "bind",
    "deactivate",
    "failures_called",
    "model_version",
    "problems",
    "replay",
    "scope",
    "store",
    "store_failure",
    "unbind",
]

CacheMode = Literal["use", "refresh"]

#: :func:`replay`'s answer when there is nothing to replay: call the model.
MISS: Any = object()


@dataclass
class Scope:
    """Where calls are being made: one trial of one case (``case=""``: warm-up)."""

    case: str
    trial: int = 0
    seen: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def occurrence(self, base: str) -> int:
        """How many calls with this ``base`` key came before in this scope."""
        with self.lock:
            n = self.seen.get(base, 0)
            self.seen[base] = n + 1
            return n


@dataclass
class _Cache:
    journal: Journal
    mode: CacheMode
    warmup: Scope = field(default_factory=lambda: Scope(""))
    bound: dict[int, Scope] = field(default_factory=dict)
    #: Records that could not be replayed, one line each naming its file and line.
    problems: dict[str, None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: ``--prodgate-cache-errors``: a recorded failure replays (raises) instead of calling again.
    errors: bool = False
    stored: int = 0
    replayed: int = 0
    #: Calls made again because their record was a failure (without ``errors``).
    failures_called: int = 0


_cache: _Cache | None = None
_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "prodgate_scope", default=None
)


def activate(journal: Journal, mode: CacheMode = "use", *, errors: bool = False) -> None:
    """Turn the cache on for this process: ``use`` replays and records, ``refresh`` only records.

    ``errors`` (``--prodgate-cache-errors``): a recorded failure replays as that failure;
    otherwise its call is made again.
    """
    global _cache
    _cache = _Cache(journal, mode, errors=errors)


def deactivate() -> None:
    """Turn the cache off (every call is made)."""
    global _cache
    _cache = None


def active() -> Journal | None:
    """The journal in use, or ``None``."""
    return _cache.journal if _cache is not None else None


def problems() -> list[str]:
    """The recorded responses this process could not replay, one line each (file:line: why)."""
    cache = _cache
    if cache is None:
        return []
    with cache.lock:
        return list(cache.problems)


def failures_called() -> int:
    """How many calls this process made again because their record was a failure."""
    cache = _cache
    return cache.failures_called if cache is not None else 0


def bind(recorder: recording.CaseRecorder, case: str, trial: int) -> None:
    """Calls recorded on ``recorder`` belong to ``case`` (suite and case id) and ``trial``."""
    if _cache is not None:
        _cache.bound[id(recorder)] = Scope(case, trial)


def unbind(recorder: recording.CaseRecorder) -> None:
    """The case of ``recorder`` is over."""
    if _cache is not None:
        _cache.bound.pop(id(recorder), None)


@contextlib.contextmanager
def scope(case: str, trial: int) -> Iterator[None]:
    """Calls made in this context (e.g. ahead of a case) belong to ``case`` and ``trial``."""
    token = _scope.set(Scope(case, trial))
    try:
        yield
    finally:
        _scope.reset(token)


def _current(cache: _Cache) -> Scope:
    explicit = _scope.get()
    if explicit is not None:
        return explicit
    rec = recording.current_target()  # a call made ahead of its case records there
    if rec is None:
        rec = recording.current_case()
    if rec is not None:
        bound = cache.bound.get(id(rec))
        if bound is not None:
            return bound
    return cache.warmup


@functools.lru_cache(maxsize=256)
def _derived_version(fn: Callable[..., Any]) -> str:
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    if not (inspect.isroutine(target) or inspect.isclass(target)):
        target = type(target)
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        source = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
    return "source:" + hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def model_version(name: str, version: str | None, fn: Callable[..., Any]) -> str:
    """``version`` when given, else one derived from a digest of ``fn``'s source code."""
    if version is not None:
        return f"v:{version}"
    try:
        return _derived_version(fn)
    except TypeError:  # an unhashable callable object
        return _derived_version.__wrapped__(fn)


def _canonical(value: Any) -> Any:
    """A JSON-able stand-in for a call argument (pydantic, dataclasses, sets, bytes)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        with contextlib.suppress(Exception):
            return {"__model__": type(value).__qualname__, "data": dump(mode="json")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__dataclass__": type(value).__qualname__, "data": dataclasses.asdict(value)}
    if isinstance(value, (set, frozenset)):
        return sorted(repr(v) for v in value)
    if isinstance(value, bytes):
        return {"__bytes__": value.hex()}
    if isinstance(value, tuple):
        return {"__tuple__": list(value)}
    return {"__repr__": repr(value)}


def _key(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], where: Scope) -> str:
    version = model_version(model.name, model.version, model.fn)
    try:
        arguments = json.dumps([args, kwargs], sort_keys=True, default=_canonical)
    except (TypeError, ValueError):
        arguments = repr((args, sorted(kwargs.items())))
    digest = hashlib.sha256(arguments.encode("utf-8")).hexdigest()
    base = json.dumps([model.name, version, digest, where.case, where.trial])
    n = where.occurrence(base)
    return hashlib.sha256(f"{base}#{n}".encode()).hexdigest()


def replay(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str | None, Any]:
    """``(key, response)``: the recorded response of this call, or :data:`MISS`.

    A replayed call is recorded here. On a miss the caller makes the call and
    hands it to :func:`store` with ``key`` (``None``: no cache is active).
    """
    cache = _cache
    if cache is None:
        return None, MISS
    key = _key(model, args, kwargs, _current(cache))
    if cache.mode != "use":
        return key, MISS
    entry = cache.journal.entries.get(key)
    if entry is None:
        return key, MISS
    if entry.failed:
        if not cache.errors:
            with cache.lock:
                cache.failures_called += 1
            return key, MISS
        with cache.lock:
            cache.replayed += 1
        replay_failure(model, entry)  # records the call and raises
    try:
        response = decode_response(entry.response)
    except Exception as exc:
        detail = str(exc) if isinstance(exc, Unstorable) else _one_line(exc)
        why = f"{entry.where}: its recorded response cannot be replayed ({detail}): skipped"
        with cache.lock:
            cache.problems.setdefault(why, None)
        return key, MISS
    call = entry.call
    recording.record_call(
        CallRecord(
            latency_s=float(call["latency_s"]),
            ok=True,
            retries=int(call.get("retries") or 0),
            cost_usd=call.get("cost_usd"),
            cost_error=call.get("cost_error"),
            input_tokens=call.get("input_tokens"),
            output_tokens=call.get("output_tokens"),
            model=model.name,
            model_version=model.version,
            replayed=True,
            recorded_at=entry.recorded_at,
        )
    )
    with cache.lock:
        cache.replayed += 1
    return key, response


def _one_line(exc: BaseException) -> str:
    """``exc`` in one line (a pydantic ``ValidationError`` spans several)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def store(model: Any, key: str | None, output: Any, record: CallRecord) -> None:
    """Journal a successful fresh call under the ``key`` :func:`replay` gave it.

    A response that cannot be stored is noted once per model and reason, and marked
    on ``record`` (``cache_note``); the call itself stays recorded as measured.
    """
    cache = _cache
    if cache is None or key is None:
        return
    clean = redactor()
    try:
        response = _redacted_response(encode_response(output), clean)
    except Unstorable as exc:
        record.cache_note = (
            f"not cached: {exc} (return JSON or a pydantic model to cache its responses)"
        )
        return
    call = {
        "latency_s": record.latency_s,
        "retries": record.retries,
        "cost_usd": record.cost_usd,
        "cost_error": None if record.cost_error is None else clean(record.cost_error),
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
    }
    _append(cache, {**_head(model, key, clean), "call": call, "response": response}, record)


def store_failure(model: Any, key: str | None, record: CallRecord) -> None:
    """Journal a failed fresh call: its error's class name and redacted message, no response.

    Only :func:`replay` with ``--prodgate-cache-errors`` replays it; a success
    recorded for the same key wins over it (see :meth:`Journal.load`).
    """
    cache = _cache
    if cache is None or key is None:
        return
    clean = redactor()
    call = {
        "ok": False,
        "error": clean(record.error or "Exception"),
        "error_message": clean(record.error_message or ""),
        "timed_out": record.timed_out,
        "latency_s": record.latency_s,
        "retries": record.retries,
    }
    _append(cache, {**_head(model, key, clean), "call": call}, record)


def _head(model: Any, key: str, clean: Callable[[str], str]) -> dict[str, Any]:
    """The fields every record starts with: version, key, model, when."""
    return {
        "v": RECORD_VERSION,
        "key": key,
        "model": clean(model.name),
        "version": None if model.version is None else clean(model.version),
        "recorded_at": now_iso(),
    }


def _append(cache: _Cache, line: dict[str, Any], record: CallRecord) -> None:
    """Append one record; a failure to is noted on ``record`` (``cache_note``)."""
    try:
        cache.journal.append(line)
    except Unstorable as exc:
        record.cache_note = f"not cached: {exc}"
        return
    except OSError as exc:
        record.cache_note = f"not cached: cannot append to {cache.journal.path}: {exc}"
        return
    with cache.lock:
        cache.stored += 1


def _redacted_response(response: dict[str, Any], clean: Callable[[str], str]) -> dict[str, Any]:
    """An encoded response with every secret in it redacted (a replay returns this).

    Raises:
        Unstorable: a redacted pydantic response no longer validates.
    """
    if "json" in response:
        return {"json": redacted(response["json"], clean)}
    data = redacted(response["data"], clean)
    if data == response["data"]:
        return response
    out = {"pydantic": response["pydantic"], "data": data}
    try:
        decode_response(out)
    except Exception as exc:
        raise Unstorable(
            f"with its secrets redacted a {response['pydantic']} no longer validates "
            f"({type(exc).__name__})"
        ) from None
    return out
