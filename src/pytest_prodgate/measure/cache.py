"""The response journal behind ``--prodgate-cache``: append-only JSON lines on disk.

Pure Python, no pytest. One file, ``DIR/journal.jsonl``; one line per completed
model call::

    {"v": 1, "key": "<sha256>", "model": "...", "version": "...", "trial": 0,
     "recorded_at": "2026-12-02T14:30:00+00:00", "call": {...}, "response": {...}}

``call`` holds what was measured (latency, retries, tokens, cost), ``response``
the model's output encoded by :func:`encode_response`: ``{"json": value}`` for a
plain JSON value, ``{"pydantic": "module:Class", "data": {...}}`` for a pydantic
model. Nothing else is stored: no API key, no header, no client object.

Safe by construction:

* **Append-only, one ``write`` per record.** Each record is written with a single
  ``os.write`` on a descriptor opened with ``O_APPEND``, under an exclusive
  ``flock``, so several processes (xdist workers, parallel runs) may write one
  journal at once and their lines never interleave. A crash can leave at most
  the last line incomplete; the next writer first ends such a torn line with a
  newline, so it never swallows a good record, and readers skip it with a note.
* **Nothing executes on load.** Lines are parsed with :func:`json.loads` and
  checked field by field; a pydantic response is rebuilt only with a class that
  is already imported (``sys.modules``), never by importing a module the
  journal names.
* **Bad lines lose nothing.** A line that is not JSON or not a record is
  skipped with a note naming the file and line; the file is never rewritten.
  When one key was recorded more than once (``--prodgate-cache-mode=refresh``),
  the last record wins.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "JOURNAL_NAME",
    "RECORD_VERSION",
    "Entry",
    "Journal",
    "JournalError",
    "Unstorable",
    "decode_response",
    "encode_response",
    "now_iso",
]

JOURNAL_NAME = "journal.jsonl"
RECORD_VERSION = 1

#: The measured fields a record keeps (those of ``recording.CallRecord`` that a replay reuses).
CALL_FIELDS = (
    "latency_s",
    "retries",
    "cost_usd",
    "cost_error",
    "input_tokens",
    "output_tokens",
)


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

    Raises:
        Unstorable: the record names a pydantic class that is not imported in this
            process (the journal never imports a module), or is malformed.
    """
    if not isinstance(record, dict):
        raise Unstorable("the response is not a record")
    if "json" in record:
        return json.loads(json.dumps(record["json"]))
    path = record.get("pydantic")
    if not isinstance(path, str) or ":" not in path:
        raise Unstorable("the response record has neither 'json' nor 'pydantic'")
    module_name, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module_name)
    if obj is None:
        raise Unstorable(f"{path}: module {module_name!r} is not imported in this run")
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    validate = getattr(obj, "model_validate", None)
    if not isinstance(obj, type) or not callable(validate):
        raise Unstorable(f"{path} is not a pydantic model class")
    return validate(record.get("data"))


@dataclass(frozen=True)
class Entry:
    """One recorded call, as read back from the journal."""

    key: str
    recorded_at: str
    call: dict[str, Any]
    response: dict[str, Any]


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
    #: One line per skipped line of the journal, naming the file and line.
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
                entry = _parse(raw)
            except ValueError as exc:
                why = (
                    "incomplete last record (a crash while writing?)" if last and torn else str(exc)
                )
                self.problems.append(f"{self.path}:{number}: {why}: skipped")
                continue
            self.entries[entry.key] = entry

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


def _parse(raw: bytes) -> Entry:
    """One line as an :class:`Entry`; ``ValueError`` says what is wrong with it."""
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError("not a prodgate cache record (not an object)")
    if obj.get("v") != RECORD_VERSION:
        raise ValueError(f"not a prodgate cache record of version {RECORD_VERSION}")
    key, recorded_at = obj.get("key"), obj.get("recorded_at")
    call, response = obj.get("call"), obj.get("response")
    if not isinstance(key, str) or not key:
        raise ValueError("not a prodgate cache record (no 'key')")
    if not isinstance(recorded_at, str):
        raise ValueError("not a prodgate cache record (no 'recorded_at')")
    if not isinstance(call, dict) or not isinstance(response, dict):
        raise ValueError("not a prodgate cache record (no 'call' or 'response' object)")
    latency = call.get("latency_s")
    if isinstance(latency, bool) or not isinstance(latency, (int, float)) or latency < 0:
        raise ValueError("not a prodgate cache record (bad call.latency_s)")
    for name in ("retries", "input_tokens", "output_tokens"):
        value = call.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"not a prodgate cache record (bad call.{name})")
    cost = call.get("cost_usd")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float))):
        raise ValueError("not a prodgate cache record (bad call.cost_usd)")
    return Entry(key, recorded_at, {k: call.get(k) for k in CALL_FIELDS}, response)
