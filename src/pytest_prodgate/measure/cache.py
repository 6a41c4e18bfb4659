"""The response journal behind ``--prodgate-cache``: append-only JSON lines on disk.

Pure Python, no pytest. One file, ``DIR/journal.jsonl``; one line per completed
model call (a failed call too: ``"call": {"ok": false, "error": ..., "error_message":
..., "timed_out": ...}`` and no response)::

    {"v": 1, "key": "<sha256>", "model": "...", "version": "...",
     "recorded_at": "2026-12-02T14:30:00+00:00", "call": {...}, "response": {...}}

``call`` holds what was measured (latency, retries, tokens, cost), ``response``
the model's output encoded by :func:`encode_response`: ``{"json": value}`` for a
plain JSON value, ``{"pydantic": "module:Class", "data": {...}}`` for a pydantic
model. Nothing else is stored: no argument (only its digest, in the key), no API
key, no header, no client object; and every string is passed through
:func:`redacted` before it is written, so no secret reaches the file (SPEC §18).

Safe by construction:

* **Append-only, one ``write`` per record.** Each record is written with a single
  ``os.write`` on a descriptor opened with ``O_APPEND``, under an exclusive
  ``flock``, so several processes (xdist workers, parallel runs) may write one
  journal at once and their lines never interleave. A crash can leave at most
  the last line incomplete; the next writer first ends such a torn line with a
  newline, so it never swallows a good record, and readers skip it with a note.
* **Nothing executes on load.** Lines are parsed with :func:`json.loads` and
  checked field by field (:func:`~pytest_prodgate.measure.cache_records.check_record`:
  every figure a replay reuses is finite, non-negative and plausible); a pydantic response is
  rebuilt only with a pydantic model class that is already imported
  (``sys.modules``), looked up without calling anything (no module
  ``__getattr__``, no descriptor), never by importing a module the journal names.
* **Bad lines lose nothing.** A line that is not JSON or not a valid record is
  skipped with a note naming the file, the line and the bad field; its call is
  made again. The file is never rewritten.
  When one key was recorded more than once (``--prodgate-cache-mode=refresh``),
  the last record wins, except that a failed call's record never hides a
  successful one: the last success wins, else the last failure.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_prodgate.measure.cache_records import (
    CALL_FIELDS,
    FAILURE_FIELDS,
    RECORD_VERSION,
    check_record,
    failed,
    response_problem,
)
from pytest_prodgate.schema.redact import redact_json

__all__ = [
    "JOURNAL_NAME",
    "RECORD_VERSION",
    "Entry",
    "Journal",
    "JournalError",
    "Unstorable",
    "check_record",
    "decode_response",
    "encode_response",
    "now_iso",
    "redacted",
]

JOURNAL_NAME = "journal.jsonl"


class JournalError(Exception):
    """The cache directory cannot be used (a file, not writable): a usage error."""


class Unstorable(Exception):
    """A response the journal cannot store faithfully (the message says why)."""


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def encode_response(output: Any) -> dict[str, Any]:
    """``output`` as a JSON-able record that :func:`decode_response` turns back into its equal.

    Raises:
        Unstorable: ``output`` is neither a JSON value (that survives the round trip
            unchanged: no tuples, no non-string keys, no NaN) nor a pydantic model
            that validates back to an equal object.
    """
    dump = getattr(output, "model_dump", None)
    if callable(dump) and hasattr(type(output), "model_validate"):
        cls = type(output)
        try:
            data = dump(mode="json")
            record = {"pydantic": f"{cls.__module__}:{cls.__qualname__}", "data": data}
            text = json.dumps(record, allow_nan=False)
            back = decode_response(json.loads(text))
        except Exception as exc:
            raise Unstorable(
                f"a {cls.__qualname__} does not survive model_dump / model_validate "
                f"({type(exc).__name__}: {exc})"
            ) from None
        if back != output:
            raise Unstorable(f"a {cls.__qualname__} does not validate back to an equal object")
        return record
    try:
        text = json.dumps(output, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise Unstorable(f"a {type(output).__qualname__} is not JSON ({exc})") from None
    if json.loads(text) != output or not _same_shape(json.loads(text), output):
        raise Unstorable(
            f"a {type(output).__qualname__} does not survive JSON unchanged "
            "(tuples, non-string keys or subclasses)"
        )
    return {"json": output}


def _same_shape(back: Any, original: Any) -> bool:
    """JSON gives back exactly ``dict``/``list``/``str``/``int``/``float``/``bool``/``None``."""
    if type(back) is not type(original):
        return False
    if isinstance(back, dict):
        return all(_same_shape(back[k], original[k]) for k in back)
    if isinstance(back, list):
        return all(_same_shape(a, b) for a, b in zip(back, original, strict=True))
    return True


def decode_response(record: Any) -> Any:
    """The response a record holds, as a fresh object (each replay gets its own copy).

    Nothing the record names is imported or called, except ``model_validate`` of a
    pydantic model class that this run has already imported: the module is taken
    from ``sys.modules`` and the class from the module's and classes' ``__dict__``
    (no module ``__getattr__``, no descriptor runs).

    Raises:
        Unstorable: the record names a class that is not imported in this process
            (the journal never imports a module) or is not a pydantic model class,
            or is malformed.
    """
    problem = response_problem(record)
    if problem is not None:
        raise Unstorable(problem)
    if "json" in record:
        return json.loads(json.dumps(record["json"]))
    path = record["pydantic"]
    module_name, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module_name)
    if obj is None:
        raise Unstorable(f"{path}: module {module_name!r} is not imported in this run")
    for part in qualname.split("."):
        try:
            obj = vars(obj).get(part)
        except TypeError:  # no __dict__
            obj = None
    pydantic = sys.modules.get("pydantic")
    base = getattr(pydantic, "BaseModel", None) if pydantic is not None else None
    if not (isinstance(obj, type) and isinstance(base, type) and issubclass(obj, base)):
        raise Unstorable(f"{path} is not a pydantic model class")
    model_class: Any = obj
    return model_class.model_validate(record["data"])


def redacted(value: Any, clean: Callable[[str], str]) -> Any:
    """``value`` (a JSON value) redacted as :func:`~pytest_prodgate.schema.redact.redact_json`
    does, a secret its key announces too.

    Raises:
        Unstorable: cleaning two keys of one object made them equal (the replay would
            not return what the model did).
    """
    return redact_json(value, clean, _merged)


def _merged(key: str) -> str:
    raise Unstorable("redacting its secrets would merge two of its keys")


@dataclass(frozen=True)
class Entry:
    """One recorded call, as read back from the journal."""

    key: str
    recorded_at: str
    #: The measured figures (:data:`CALL_FIELDS`); a failed call's also ``error``,
    #: ``error_message`` and ``timed_out``.
    call: dict[str, Any]
    #: The encoded response; ``None`` for a failed call.
    response: dict[str, Any] | None
    #: ``FILE:LINE`` of the record, for a warning about it.
    where: str = ""

    @property
    def failed(self) -> bool:
        """Whether the recorded call failed (a ``--prodgate-cache-errors`` replay raises)."""
        return self.response is None


@dataclass
class Journal:
    """The journal file of one cache directory: load it once, then append to it.

    Args:
        directory: the cache directory; created if missing.

    Raises:
        JournalError: ``directory`` is a file, or cannot be created or written.
    """

    directory: Path
    entries: dict[str, Entry] = field(default_factory=dict)
    #: One line per skipped line of the journal, naming the file, the line and why.
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise JournalError(f"{self.directory} is a file, not a directory")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            os.close(fd)
        except OSError as exc:
            raise JournalError(f"{self.directory}: cannot write the journal: {exc}") from None

    @property
    def path(self) -> Path:
        """``DIR/journal.jsonl``."""
        return self.directory / JOURNAL_NAME

    def load(self) -> None:
        """Read every record; skip (and note in :attr:`problems`) lines that are not records."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            self.problems.append(f"{self.path}: cannot read: {exc} (nothing replayed)")
            return
        lines = data.split(b"\n")
        torn = lines[-1] != b""  # the last record never got its newline: a crash mid-write
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            last = number == len(lines)
            try:
                entry = _parse(raw, f"{self.path}:{number}")
            except ValueError as exc:
                why = (
                    "incomplete last record (a crash while writing?)" if last and torn else str(exc)
                )
                self.problems.append(f"{self.path}:{number}: {why}: skipped")
                continue
            old = self.entries.get(entry.key)
            if not entry.failed or old is None or old.failed:
                self.entries[entry.key] = entry  # a recorded answer is never hidden by a failure

    def append(self, record: dict[str, Any]) -> None:
        """Append one record as one line (one ``write``, under an exclusive lock).

        Raises:
            OSError: the journal cannot be written.
            Unstorable: the record is not JSON.
        """
        try:
            line = json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n"
        except (TypeError, ValueError) as exc:
            raise Unstorable(f"the call's record is not JSON ({exc})") from None
        payload = line.encode("utf-8")
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            _lock(fd)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    payload = b"\n" + payload  # end a torn line first: it stays one bad line
                written = os.write(fd, payload)
                while written < len(payload):  # pragma: no cover - a short write to a full disk
                    written += os.write(fd, payload[written:])
            finally:
                _unlock(fd)
        finally:
            os.close(fd)


def _lock(fd: int) -> None:
    with contextlib.suppress(ImportError):
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock(fd: int) -> None:
    with contextlib.suppress(ImportError):
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


def _parse(raw: bytes, where: str) -> Entry:
    """One line as an :class:`Entry`; ``ValueError`` says what is wrong with it."""
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    problem = check_record(obj)
    if problem is not None:
        raise ValueError(problem)
    call = obj["call"]
    if failed(call):
        fields = {k: call.get(k) for k in (*CALL_FIELDS, *FAILURE_FIELDS)}
        return Entry(obj["key"], obj["recorded_at"], fields, None, where)
    fields = {k: call.get(k) for k in CALL_FIELDS}
    return Entry(obj["key"], obj["recorded_at"], fields, obj["response"], where)
