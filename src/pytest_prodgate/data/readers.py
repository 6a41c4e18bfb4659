"""The file formats of a dataset (JSONL, JSON, CSV): bytes in, :class:`Case` s out.

See :mod:`pytest_prodgate.data.dataset` for what each format accepts; every
error is a :class:`~pytest_prodgate.errors.DatasetError` naming the file and line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from pytest_prodgate.data.case import Case
from pytest_prodgate.errors import DatasetError

__all__ = ["CSV_TAG_SEPARATOR", "Reader", "read_bytes"]

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


def read_bytes(given: str, resolved: str) -> bytes:
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


class Reader:
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
        data = read_bytes(self.given, self.resolved)
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
        # By id, not by line: a .json list may hold several records on one line.
        first = self.first_line.get(case_id)
        if first is not None:
            raise self.error(f"duplicate case id {case_id!r} (first at line {first})", line)
        self.first_line[case_id] = line
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
