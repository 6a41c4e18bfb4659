"""Eval datasets: read JSONL, JSON or CSV files into immutable :class:`Case` s.

Pure: no pytest (``pytest_prodgate.load_cases`` wraps :func:`read_cases` in ``pytest.param``).

:func:`load_cases` is what a test module calls at import time::

    @pytest.mark.parametrize("case", load_cases("evals/support.jsonl"))
    def test_answers(prodgate_model, case): ...

Formats, chosen by the file's extension (case-insensitive):

* ``.jsonl`` / ``.ndjson`` -- one JSON object per line. Blank lines are
  skipped; line numbers are physical lines of the file.
* ``.json`` -- one JSON list of objects. A case's line is the physical line on
  which its object starts.
* ``.csv`` -- a header row, then one case per row; every cell is a string
  (an empty cell is ``""``). The tags column is split on ``;`` (``"lang:de;
  hard"`` -> ``("lang:de", "hard")``; blank parts are dropped). A case's line
  is the physical line on which its row starts.

Every file must be UTF-8 (a byte-order mark is tolerated). Each record needs
an id (a string or an integer; integers become strings) that is unique in the
file, and an input field. The expected field is required too unless the
caller passes ``expected_field=None`` ("this dataset has no expected
values"), in which case every ``Case.expected`` is ``None``. Tags are
optional: a list of strings, a single string, or ``null``. Every other field
lands in ``Case.meta``. Anything wrong -- a missing or unreadable file, an
unknown extension, malformed JSON, a non-object record, a missing or
duplicate id, a missing field, bad tags, or a file with no cases at all --
raises :class:`DatasetError`, whose one-line message names the file (as given
and as resolved) and, when the problem is inside the file, the line.

Each case carries a ``digest``: the SHA-256 of its record's canonical JSON
(sorted keys, no whitespace). Editing any field of a record changes it;
reordering records, reformatting whitespace or reordering keys does not. The
module keeps a registry of every dataset read in this process
(:func:`loaded_datasets`) so that ``--prodgate-lock`` can seal them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from pytest_prodgate.errors import DatasetError

__all__ = [
    "CSV_TAG_SEPARATOR",
    "DEFAULT_FIELDS",
    "Case",
    "DatasetError",
    "DatasetInfo",
    "clear_loaded_datasets",
    "dataset_digest",
    "loaded_datasets",
    "read_cases",
]

#: Separator of the tags inside one CSV cell.
CSV_TAG_SEPARATOR = ";"

_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_JSON_SUFFIXES = (".json",)
_CSV_SUFFIXES = (".csv",)
_SUFFIXES = _JSONL_SUFFIXES + _JSON_SUFFIXES + _CSV_SUFFIXES

_JSON_WS = re.compile(r"[ \t\n\r]*")


def _skip_ws(text: str, pos: int) -> int:
    """Index of the first non-JSON-whitespace character at or after ``pos``."""
    match = _JSON_WS.match(text, pos)
    return pos if match is None else match.end()


def _empty_meta() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Case:
    """One eval case, immutable.

    ``input`` and ``expected`` are the record's values as parsed (JSON values,
    or strings for CSV); the attributes cannot be reassigned, and ``meta`` --
    every other field of the record -- is a read-only mapping. ``source`` is
    the absolute path of the dataset file, ``line`` the 1-based line on which
    the record starts, and ``digest`` the SHA-256 hex of the record's
    canonical JSON (empty for a case built by hand rather than read from a
    file). Cases hash by ``(source, id, digest)``, so they can go in sets even
    when their input is a dict.
    """

    id: str
    input: Any
    expected: Any = None
    tags: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=_empty_meta)
    source: str = ""
    line: int = 0
    digest: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.meta, MappingProxyType):
            object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        if not isinstance(self.tags, tuple):
            object.__setattr__(self, "tags", tuple(self.tags))

    def __hash__(self) -> int:
        return hash((self.source, self.id, self.digest))

    def __reduce__(self) -> tuple[Any, ...]:
        # A mappingproxy cannot be pickled: rebuild from a plain dict.
        return (
            Case,
            (
                self.id,
                self.input,
                self.expected,
                self.tags,
                dict(self.meta),
                self.source,
                self.line,
                self.digest,
            ),
        )


#: The field names :func:`read_cases` and :func:`load_cases` use unless told otherwise.
DEFAULT_FIELDS: Mapping[str, str | None] = MappingProxyType(
    {"id_field": "id", "input_field": "input", "expected_field": "expected", "tags_field": "tags"}
)


@dataclass(frozen=True)
class DatasetInfo:
    """What sealing needs to know about one dataset read in this process.

    ``case_digests`` maps each case id to its digest, in file order; ``sha256``
    is the digest of the file's bytes as read; ``fields`` the field names it was
    read with (``id_field``, ``input_field``, ``expected_field``, ``tags_field``;
    the defaults of :func:`read_cases` unless given), so that the file can be
    read again the same way.
    """

    path: str
    sha256: str
    case_digests: dict[str, str]
    n_cases: int
    fields: dict[str, str | None] = field(default_factory=lambda: dict(DEFAULT_FIELDS))


_registry: dict[str, DatasetInfo] = {}
_registry_lock = threading.Lock()


def loaded_datasets() -> dict[str, DatasetInfo]:
    """Every dataset read so far in this process, keyed by absolute path.

    A dataset read more than once keeps its latest reading. The result is a
    copy: changing it does not change the registry.
    """
    with _registry_lock:
        return {
            path: replace(info, case_digests=dict(info.case_digests), fields=dict(info.fields))
            for path, info in _registry.items()
        }


def clear_loaded_datasets() -> None:
    """Forget every dataset read so far (e.g. between in-process pytest runs)."""
    with _registry_lock:
        _registry.clear()


def dataset_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex of a file's bytes (a relative path resolves against the cwd)."""
    given = os.fspath(path)
    resolved = os.path.abspath(given)
    return hashlib.sha256(_read_bytes(given, resolved)).hexdigest()


def read_cases(
    path: str | os.PathLike[str],
    *,
    id_field: str = "id",
    input_field: str = "input",
    expected_field: str | None = "expected",
    tags_field: str | None = "tags",
    base_dir: str | os.PathLike[str] | None = None,
    register: bool = True,
) -> list[Case]:
    """Read a dataset as a list of :class:`Case` s, in file order.

    Same as :func:`load_cases` without the ``pytest.param`` wrapping, except
    that a relative ``path`` resolves against ``base_dir`` (default: the
    current directory). Records the dataset in :func:`loaded_datasets` unless
    ``register=False`` (e.g. when verifying a sealed dataset, which must not
    count as "loaded by this run").
    """
    fields = [f for f in (id_field, input_field, expected_field, tags_field) if f is not None]
    if len(set(fields)) != len(fields):
        raise ValueError(f"id, input, expected and tags fields must differ, got {fields}")
    given = os.fspath(path)
    root = os.getcwd() if base_dir is None else os.fspath(base_dir)
    resolved = os.path.abspath(os.path.join(root, given))
    reader = _Reader(given, resolved, id_field, input_field, expected_field, tags_field)
    try:
        cases = reader.read()
    except DatasetError as exc:
        raise exc.with_traceback(None) from None
    if register:
        info = DatasetInfo(
            path=resolved,
            sha256=reader.sha256,
            case_digests={case.id: case.digest for case in cases},
            n_cases=len(cases),
            fields={
                "id_field": id_field,
                "input_field": input_field,
                "expected_field": expected_field,
                "tags_field": tags_field,
            },
        )
        with _registry_lock:
            _registry[resolved] = info
    return cases


def _read_bytes(given: str, resolved: str) -> bytes:
    try:
        with open(resolved, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise DatasetError(given, "dataset file not found", resolved=resolved) from None
    except IsADirectoryError:
        raise DatasetError(given, "is a directory, not a dataset file", resolved=resolved) from None
    except OSError as exc:
        reason = f"cannot read dataset file: {exc.strerror or exc}"
        raise DatasetError(given, reason, resolved=resolved) from None


def _canonical(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


class _Reader:
    """Parses one file; every error names ``given``/``resolved`` and the line."""

    def __init__(
        self,
        given: str,
        resolved: str,
        id_field: str,
        input_field: str,
        expected_field: str | None,
        tags_field: str | None,
    ) -> None:
        self.given = given
        self.resolved = resolved
        self.id_field = id_field
        self.input_field = input_field
        self.expected_field = expected_field
        self.tags_field = tags_field
        self.sha256 = ""
        self.is_csv = os.path.splitext(resolved)[1].lower() in _CSV_SUFFIXES
        self.first_line: dict[str, int] = {}

    def error(self, reason: str, line: int | None = None) -> DatasetError:
        return DatasetError(self.given, reason, line=line, resolved=self.resolved)

    def read(self) -> list[Case]:
        suffix = os.path.splitext(self.resolved)[1].lower()
        if suffix not in _SUFFIXES:
            shown = f"extension {suffix!r}" if suffix else "no extension"
            raise self.error(f"unknown dataset format ({shown}; expected one of {_SUFFIXES})")
        data = _read_bytes(self.given, self.resolved)
        self.sha256 = hashlib.sha256(data).hexdigest()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            byte = data[exc.start : exc.start + 1].hex()
            raise self.error(f"not valid UTF-8 (byte 0x{byte})", line) from None
        if suffix in _JSONL_SUFFIXES:
            records = self._jsonl_records(text)
        elif suffix in _JSON_SUFFIXES:
            records = self._json_records(text)
        else:
            records = self._csv_records(text)
        cases = [self._case(record, line) for line, record in records]
        if not cases:
            raise self.error("no cases in dataset (an empty eval set cannot be gated)")
        return cases

    # -- formats: each yields (line, record) -------------------------------------------

    def _decode(self, text: str, start: int, line: int, first_line: int) -> tuple[Any, int]:
        """Decode one JSON value at ``text[start:]``; ``text`` begins at ``first_line``."""
        try:
            return _DECODER.raw_decode(text, start)
        except _DuplicateKey as exc:
            raise self.error(f"duplicate key {exc.key!r} in record", line) from None
        except json.JSONDecodeError as exc:
            where = first_line + exc.lineno - 1
            raise self.error(f"invalid JSON: {exc.msg} (column {exc.colno})", where) from None
        except RecursionError:
            raise self.error("invalid JSON: nested too deeply", line) from None

    def _jsonl_records(self, text: str) -> Iterator[tuple[int, Any]]:
        for number, raw in enumerate(text.split("\n"), start=1):
            if not raw.strip():
                continue
            value, end = self._decode(raw, _skip_ws(raw, 0), number, number)
            rest = raw[end:]
            if rest.strip():
                column = end + 1 + len(rest) - len(rest.lstrip())
                raise self.error(
                    f"invalid JSON: extra data after the record (column {column};"
                    " one JSON object per line)",
                    number,
                )
            yield number, value

    def _json_records(self, text: str) -> Iterator[tuple[int, Any]]:
        def line_at(pos: int) -> int:
            return text.count("\n", 0, pos) + 1

        def skip_ws(pos: int) -> int:
            return _skip_ws(text, pos)

        pos = skip_ws(0)
        if pos == len(text):
            return
        if text[pos] != "[":
            value, _ = self._decode(text, pos, line_at(pos), 1)
            raise self.error(
                f"a .json dataset must be a list of objects, got {_json_type(value)}",
                line_at(pos),
            )
        pos = skip_ws(pos + 1)
        if pos < len(text) and text[pos] == "]":
            pos += 1
        else:
            while True:
                value, end = self._decode(text, pos, line_at(pos), 1)
                yield line_at(pos), value
                pos = skip_ws(end)
                if pos < len(text) and text[pos] == ",":
                    pos = skip_ws(pos + 1)
                    if pos < len(text) and text[pos] == "]":
                        raise self.error("invalid JSON: trailing comma in the list", line_at(pos))
                    continue
                if pos < len(text) and text[pos] == "]":
                    pos += 1
                    break
                if pos == len(text):
                    raise self.error("invalid JSON: the list is not closed with ']'", line_at(pos))
                raise self.error("invalid JSON: expected ',' or ']' after a record", line_at(pos))
        pos = skip_ws(pos)
        if pos != len(text):
            raise self.error("invalid JSON: extra data after the list", line_at(pos))

    def _csv_records(self, text: str) -> Iterator[tuple[int, Any]]:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header: list[str] | None = None
        header_line = 1
        last = 0
        while True:
            start = last + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise self.error(f"malformed CSV: {exc}", start) from None
            last = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip() and header is not None):
                continue
            if header is None:
                header, header_line = [name.strip() for name in row], start
                self._check_header(header, header_line)
                continue
            if len(row) != len(header):
                raise self.error(
                    f"row has {len(row)} cells but the header (line {header_line}) has"
                    f" {len(header)}",
                    start,
                )
            yield start, dict(zip(header, row, strict=True))

    def _check_header(self, header: list[str], line: int) -> None:
        seen: set[str] = set()
        for column, name in enumerate(header, start=1):
            if not name:
                raise self.error(f"CSV header: column {column} has no name", line)
            if name in seen:
                raise self.error(f"CSV header: duplicate column {name!r}", line)
            seen.add(name)
        required = [self.id_field, self.input_field]
        if self.expected_field is not None:
            required.append(self.expected_field)
        for name in required:
            if name not in seen:
                hint = " (pass expected_field=None for no expected values)"
                extra = hint if name == self.expected_field else ""
                raise self.error(
                    f"CSV header has no {name!r} column (columns: {', '.join(header)}){extra}",
                    line,
                )

    # -- one record -> one Case ----------------------------------------------------------

    def _case(self, record: Any, line: int) -> Case:
        if not isinstance(record, dict):
            raise self.error(f"a record must be a JSON object, got {_json_type(record)}", line)
        case_id = self._case_id(record, line)
        if self.input_field not in record:
            raise self.error(f"case {case_id!r} has no {self.input_field!r} field", line)
        expected = None
        if self.expected_field is not None:
            if self.expected_field not in record:
                raise self.error(
                    f"case {case_id!r} has no {self.expected_field!r} field"
                    " (pass expected_field=None for no expected values)",
                    line,
                )
            expected = record[self.expected_field]
        tags: tuple[str, ...] = ()
        if self.tags_field is not None:
            tags = self._tags(record.get(self.tags_field), case_id, line)
        known = {self.id_field, self.input_field, self.expected_field, self.tags_field}
        meta = {key: value for key, value in record.items() if key not in known}
        digest = hashlib.sha256(_canonical(record).encode("utf-8")).hexdigest()
        return Case(
            id=case_id,
            input=record[self.input_field],
            expected=expected,
            tags=tags,
            meta=MappingProxyType(meta),
            source=self.resolved,
            line=line,
            digest=digest,
        )

    def _case_id(self, record: dict[str, Any], line: int) -> str:
        raw = record.get(self.id_field)
        if raw is None:
            raise self.error(f"record has no case id (field {self.id_field!r})", line)
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raise self.error(
                f"case id (field {self.id_field!r}) must be a string or an integer,"
                f" got {_json_type(raw)}",
                line,
            )
        case_id = str(raw)
        if not case_id:
            raise self.error(f"empty case id (field {self.id_field!r})", line)
        first = self.first_line.setdefault(case_id, line)
        if first != line:
            raise self.error(f"duplicate case id {case_id!r} (first at line {first})", line)
        return case_id

    def _tags(self, raw: Any, case_id: str, line: int) -> tuple[str, ...]:
        if raw is None:
            return ()
        if isinstance(raw, str):
            if self.is_csv:
                return tuple(part.strip() for part in raw.split(CSV_TAG_SEPARATOR) if part.strip())
            return (raw,) if raw else ()
        if isinstance(raw, list) and all(isinstance(tag, str) and tag for tag in raw):
            return tuple(raw)
        raise self.error(
            f"case {case_id!r}: {self.tags_field!r} must be a list of non-empty strings"
            f" or one string, got {json.dumps(raw, ensure_ascii=False)[:60]}",
            line,
        )
