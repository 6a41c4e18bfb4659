"""The ``prodgate.lock`` file: its name, writing and strict reading (SPEC §5). Pure.

The format and what it seals are described in :mod:`pytest_prodgate.data.sealing`,
which re-exports every name here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pytest_prodgate.data.dataset import (
    DEFAULT_FIELDS,
    DatasetInfo,
    _DuplicateKey,
    _json_type,
    _no_duplicate_keys,
)
from pytest_prodgate.errors import LockError
from pytest_prodgate.schema.files import write_atomic
from pytest_prodgate.schema.targets import Targets

__all__ = [
    "FIELD_KEYS",
    "LOCK_NAME",
    "LOCK_VERSION",
    "REWRITE_COMMAND",
    "LockError",
    "build_lock",
    "dumps_lock",
    "find_lock",
    "lock_key",
    "read_lock",
    "write_lock",
]

#: File name of the lock, at the rootdir.
LOCK_NAME = "prodgate.lock"
#: Format version this module writes and reads.
LOCK_VERSION = 1
#: The command that rewrites the lock on purpose.
REWRITE_COMMAND = "pytest --prodgate-lock"
#: The field names a dataset is sealed with.
FIELD_KEYS: tuple[str, ...] = tuple(DEFAULT_FIELDS)

_TOP_KEYS = ("datasets", "lock_version", "suites")
_ENTRY_KEYS = ("cases", "fields", "sha256")
_REQUIRED_FIELDS = ("id_field", "input_field")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.MULTILINE)


# --------------------------------------------------------------------------- paths


def lock_key(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> str:
    """How the lock names a dataset: relative to ``root`` with ``/``, else absolute.

    Symlinks are tried both unresolved and resolved, so a rootdir reached
    through a link still yields relative keys.
    """
    p = Path(os.path.abspath(path))
    r = Path(os.path.abspath(root))
    for child, parent in ((p, r), (p.resolve(), r.resolve())):
        try:
            return child.relative_to(parent).as_posix()
        except ValueError:
            continue
    return p.as_posix()


def find_lock(root: str | os.PathLike[str]) -> Path | None:
    """``root/prodgate.lock`` if it exists (even if unreadable: :func:`read_lock` says why)."""
    path = Path(root) / LOCK_NAME
    return path if os.path.lexists(path) else None


# --------------------------------------------------------------------------- writing


def _plain_targets(suite: str, targets: Mapping[str, Any] | Targets) -> dict[str, Any]:
    if isinstance(targets, Targets):
        return targets.declared()
    given = {k: v for k, v in targets.items() if v is not None}
    try:
        return Targets.model_validate(given).declared()
    except ValidationError as exc:
        raise ValueError(f"suite {suite!r}: invalid targets: {_first_error(exc)}") from None


def build_lock(
    root: str | os.PathLike[str],
    datasets: Mapping[str, DatasetInfo],
    suites: Mapping[str, Mapping[str, Any] | Targets],
) -> dict[str, Any]:
    """The lock for ``datasets`` (e.g. :func:`~pytest_prodgate.dataset.loaded_datasets`)
    and ``suites`` (suite name -> its declared targets).

    Only plain builtins, keys sorted; targets that are ``None`` (not declared)
    are left out, and numbers are validated and normalised as
    :class:`~pytest_prodgate.targets.Targets` does (a ``ValueError`` otherwise).
    """
    sealed: dict[str, Any] = {}
    for path, info in datasets.items():
        key = lock_key(root, info.path or path)
        sealed[key] = {
            "sha256": info.sha256,
            "fields": {k: info.fields.get(k, DEFAULT_FIELDS[k]) for k in FIELD_KEYS},
            "cases": dict(sorted(info.case_digests.items())),
        }
    return {
        "lock_version": LOCK_VERSION,
        "datasets": dict(sorted(sealed.items())),
        "suites": {name: _plain_targets(name, suites[name]) for name in sorted(suites)},
    }


def dumps_lock(lock: Mapping[str, Any]) -> str:
    """The lock's text: stable and diff-friendly (sorted keys, indent 2, UTF-8, final newline)."""
    return json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_lock(root: str | os.PathLike[str], lock: Mapping[str, Any]) -> Path:
    """Write ``root/prodgate.lock`` atomically and return its path."""
    path = Path(root) / LOCK_NAME
    write_atomic(path, dumps_lock(lock))
    return path


# --------------------------------------------------------------------------- reading


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(x) for x in first["loc"])
    msg = "unknown target keyword" if first["type"] == "extra_forbidden" else first["msg"]
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {msg}{more}" if loc else f"{msg}{more}"


class _Checker:
    """Validates a parsed lock; every error is one line naming the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, where: str, msg: str) -> LockError:
        return LockError(f"{self.path}: {where}: {msg}" if where else f"{self.path}: {msg}")

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, f"expected an object, got {_json_type(value)}")
        return value

    def keys(self, value: dict[str, Any], where: str, expected: tuple[str, ...]) -> None:
        for key in expected:
            if key not in value:
                raise self.error(where, f"missing key {key!r}")
        for key in value:
            if key not in expected:
                raise self.error(where, f"unknown key {key!r} (expected {', '.join(expected)})")

    def sha256(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _SHA256.fullmatch(value):
            shown = repr(value) if isinstance(value, str) else _json_type(value)
            raise self.error(where, f"expected a SHA-256 (64 lowercase hex digits), got {shown}")
        return value

    def lock(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.error("", f"expected a JSON object, got {_json_type(data)}")
        if "lock_version" not in data:
            raise self.error("", "no lock_version: not a prodgate lock")
        version = data["lock_version"]
        if version != LOCK_VERSION or isinstance(version, bool):
            raise self.error(
                "lock_version",
                f"{version!r} is not supported (this pytest-prodgate reads version "
                f"{LOCK_VERSION}); upgrade pytest-prodgate or rewrite the lock: {REWRITE_COMMAND}",
            )
        self.keys(data, "", _TOP_KEYS)
        datasets: dict[str, Any] = {}
        for key, entry in self.obj(data["datasets"], "datasets").items():
            if not key:
                raise self.error("datasets", "empty dataset path")
            datasets[key] = self.dataset(entry, f"datasets.{key}")
        suites = {
            name: self.suite(targets, f"suites.{name}")
            for name, targets in self.obj(data["suites"], "suites").items()
        }
        return {"lock_version": LOCK_VERSION, "datasets": datasets, "suites": suites}

    def dataset(self, entry: Any, where: str) -> dict[str, Any]:
        entry = self.obj(entry, where)
        self.keys(entry, where, _ENTRY_KEYS)
        sha = self.sha256(entry["sha256"], f"{where}.sha256")
        fields = self.fields(entry["fields"], f"{where}.fields")
        cases = self.obj(entry["cases"], f"{where}.cases")
        for case_id, digest in cases.items():
            if not case_id:
                raise self.error(f"{where}.cases", "empty case id")
            self.sha256(digest, f"{where}.cases.{case_id}")
        return {"sha256": sha, "fields": fields, "cases": dict(cases)}

    def fields(self, value: Any, where: str) -> dict[str, str | None]:
        fields = self.obj(value, where)
        self.keys(fields, where, FIELD_KEYS)
        for key in FIELD_KEYS:
            name = fields[key]
            optional = key not in _REQUIRED_FIELDS
            if not ((isinstance(name, str) and name) or (optional and name is None)):
                what = "a non-empty string" + (" or null" if optional else "")
                raise self.error(f"{where}.{key}", f"expected {what}, got {_json_type(name)}")
        names = [n for n in fields.values() if n is not None]
        if len(set(names)) != len(names):
            raise self.error(where, f"field names must differ, got {names}")
        return dict(fields)

    def suite(self, value: Any, where: str) -> dict[str, Any]:
        targets = self.obj(value, where)
        try:
            return Targets.model_validate(targets).declared()
        except ValidationError as exc:
            raise self.error(where, _first_error(exc)) from None


def read_lock(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a lock; anything wrong is one :class:`LockError` naming the file.

    A missing file is an error here: callers look for the lock with
    :func:`find_lock` first. Hand edits are checked as strictly as the format
    allows: invalid JSON (with its line), a leftover merge conflict, a
    duplicate key, an unknown key, a wrong ``lock_version``, a malformed
    digest, or a target that a ``prodgate`` marker would reject.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LockError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise LockError(f"{p}: is a directory, not a lock file") from None
    except UnicodeDecodeError as exc:
        raise LockError(f"{p}: not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise LockError(f"{p}: cannot read: {exc.strerror or exc}") from None
    conflict = _CONFLICT.search(text)
    if conflict is not None:
        line = text.count("\n", 0, conflict.start()) + 1
        raise LockError(
            f"{p}: unresolved merge conflict (line {line}); resolve it, or rewrite the lock: "
            f"{REWRITE_COMMAND}"
        )
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise LockError(f"{p}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except _DuplicateKey as exc:
        raise LockError(f"{p}: duplicate key {exc.key!r}") from None
    except RecursionError:
        raise LockError(f"{p}: not valid JSON (nested too deeply)") from None
    return _Checker(p).lock(data)
