"""``prodgate.lock``: sealed datasets and locked targets (SPEC §5). Pure: no pytest.

``pytest --prodgate-lock`` writes the lock at the rootdir with :func:`build_lock`
and :func:`write_lock`; every later ``--prodgate`` run reads it back with
:func:`read_lock`, re-reads every sealed dataset from disk with
:func:`verify_datasets`; :func:`pytest_prodgate.gating.integrity.integrity_gates`
turns what changed into gate rows. The file is JSON with sorted keys and two-space
indentation, so that it diffs well and is reviewed like code::

    {
      "datasets": {
        "evals/support.jsonl": {
          "cases": {"a": "<sha256 of case a>", "b": "..."},
          "fields": {"expected_field": "expected", "id_field": "id",
                     "input_field": "input", "tags_field": "tags"},
          "sha256": "<sha256 of the file's bytes>"
        }
      },
      "lock_version": 1,
      "suites": {"support-bot": {"accuracy_floor": 0.9, "latency_p95_ms": 800.0}}
    }

Dataset paths are relative to the rootdir (``/``-separated); a dataset outside
the rootdir keeps its absolute path.

**What is tampering** (verdict ``TAMPERED``). Only the content of the cases
counts, case by case: each case's digest is the SHA-256 of its record's
canonical JSON (see :mod:`pytest_prodgate.dataset`).

* Editing a case -- its input, its expected value, its tags or any other field
  of its record -- changes its digest: the case is listed as *changed*.
* Adding a case or removing one is tampering (*added* / *removed*); renaming a
  case id is one of each.
* A sealed file that can no longer be read (deleted, malformed, a case now
  missing a field) is tampering, with the reading error.
* Reading a sealed file with other field names than it was sealed with (say
  ``expected_field="answer"`` became ``"label"``) is tampering too: the file
  is the same but the cases are not. This is caught when the caller passes
  what this run loaded (``verify_datasets(..., loaded=loaded_datasets())``).
* Reordering the cases of a file, reformatting its whitespace or reordering
  the keys of a record is **not** tampering: the file's SHA-256 changes but
  every case digest stays the same (:attr:`DatasetCheck.reordered`).

**What is loosening** (verdict ``LOOSENED``): a target looser than the lock's,
by its gate kind (see :mod:`pytest_prodgate.gating.integrity`). A suite that is
not in the lock is new: it has no ``LOOSENED`` rows (:func:`unlocked_suites`
lists such suites for a note), and a dataset a suite loads that is not in the
lock is *unsealed* (:func:`unsealed_sources`), a note rather than a failure.

Both integrity verdicts fail the run until the lock is rewritten on purpose
with ``pytest --prodgate-lock``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pytest_prodgate.data.dataset import (
    DEFAULT_FIELDS,
    DatasetInfo,
    _DuplicateKey,
    _json_type,
    _no_duplicate_keys,
    dataset_digest,
    read_cases,
)
from pytest_prodgate.errors import LockError
from pytest_prodgate.schema.report import write_atomic
from pytest_prodgate.schema.targets import Targets

__all__ = [
    "LOCK_NAME",
    "LOCK_VERSION",
    "REWRITE_COMMAND",
    "DatasetCheck",
    "LockError",
    "build_lock",
    "dumps_lock",
    "find_lock",
    "lock_key",
    "read_lock",
    "stale_suites",
    "unlocked_suites",
    "unsealed_sources",
    "verify_datasets",
    "write_lock",
]

#: File name of the lock, at the rootdir.
LOCK_NAME = "prodgate.lock"
#: Format version this module writes and reads.
LOCK_VERSION = 1
#: The command that rewrites the lock on purpose.
REWRITE_COMMAND = "pytest --prodgate-lock"

#: How many case ids a reason lists per kind of change before "and N more".
LIST_MAX = 10

_TOP_KEYS = ("datasets", "lock_version", "suites")
_ENTRY_KEYS = ("cases", "fields", "sha256")
_FIELD_KEYS: tuple[str, ...] = tuple(DEFAULT_FIELDS)
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
            "fields": {k: info.fields.get(k, DEFAULT_FIELDS[k]) for k in _FIELD_KEYS},
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
        self.keys(fields, where, _FIELD_KEYS)
        for key in _FIELD_KEYS:
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


# --------------------------------------------------------------------------- datasets


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:LIST_MAX])
    return shown + (f" and {len(ids) - LIST_MAX} more" if len(ids) > LIST_MAX else "")


def _cases(n: int) -> str:
    return f"{n} case" if n == 1 else f"{n} cases"


@dataclass(frozen=True)
class DatasetCheck:
    """How one sealed dataset compares with the file on disk now.

    Only case content counts: editing any field of a case (input, expected,
    tags, any other field) lists it in ``changed``; a case in the file but not
    in the lock is ``added``, one in the lock but not in the file ``removed``.
    ``reordered`` means the file's bytes changed but every case is the same
    (reordered cases, reformatted whitespace, reordered keys): not tampering.
    ``error`` means the file cannot be read now (missing, malformed): tampering.
    ``fields_changed`` lists field names this run reads the file with that
    differ from the sealed ones (``"expected_field: 'answer' (locked) -> 'label'"``):
    tampering, since the same bytes then make other cases.
    """

    path: str
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reordered: bool = False
    error: str | None = None
    fields_changed: list[str] = field(default_factory=list)

    @property
    def tampered(self) -> bool:
        """The dataset no longer holds exactly the sealed cases."""
        return self.error is not None or bool(
            self.changed or self.added or self.removed or self.fields_changed
        )

    def describe(self) -> str:
        """One line saying what changed (empty when nothing did)."""
        if self.error is not None:
            return f"the sealed dataset cannot be read any more: {self.error}"
        parts = []
        if self.changed:
            parts.append(f"{_cases(len(self.changed))} changed ({_ids(self.changed)})")
        if self.added:
            parts.append(f"{_cases(len(self.added))} added ({_ids(self.added)})")
        if self.removed:
            parts.append(f"{_cases(len(self.removed))} removed ({_ids(self.removed)})")
        if self.fields_changed:
            parts.append("read with other fields than sealed: " + ", ".join(self.fields_changed))
        return f"{self.path}: {'; '.join(parts)}" if parts else ""


def _fields_changed(sealed: Mapping[str, str | None], now: Mapping[str, str | None]) -> list[str]:
    return [
        f"{key}: {sealed.get(key)!r} (locked) -> {now.get(key)!r}"
        for key in _FIELD_KEYS
        if sealed.get(key) != now.get(key, DEFAULT_FIELDS[key])
    ]


def verify_datasets(
    root: str | os.PathLike[str],
    lock: Mapping[str, Any],
    loaded: Mapping[str, DatasetInfo] | None = None,
) -> dict[str, DatasetCheck]:
    """Re-read every dataset the lock seals, from disk, and compare it case by case.

    Each file is read with the field names recorded in the lock (relative
    paths against ``root``) and without entering the registry of loaded
    datasets. ``loaded`` (e.g. :func:`~pytest_prodgate.dataset.loaded_datasets`)
    adds one check: a sealed file this run reads with other field names is
    tampered. Keyed by the lock's dataset path; see :class:`DatasetCheck`.
    """
    now_fields = {lock_key(root, info.path or p): info.fields for p, info in (loaded or {}).items()}
    checks: dict[str, DatasetCheck] = {}
    for key, entry in lock["datasets"].items():
        fields: Mapping[str, str | None] = entry["fields"]
        changed_fields = _fields_changed(fields, now_fields[key]) if key in now_fields else []
        try:
            cases = read_cases(
                key,
                id_field=str(fields["id_field"]),
                input_field=str(fields["input_field"]),
                expected_field=fields["expected_field"],
                tags_field=fields["tags_field"],
                base_dir=root,
                register=False,
            )
            sha = dataset_digest(os.path.join(root, key))
        except ValueError as exc:  # DatasetError, or unusable field names
            checks[key] = DatasetCheck(key, error=str(exc), fields_changed=changed_fields)
            continue
        sealed: Mapping[str, str] = entry["cases"]
        now = {case.id: case.digest for case in cases}
        changed = [i for i, d in now.items() if i in sealed and sealed[i] != d]
        added = [i for i in now if i not in sealed]
        removed = [i for i in sealed if i not in now]
        same = not (changed or added or removed)
        checks[key] = DatasetCheck(
            key,
            changed=changed,
            added=added,
            removed=removed,
            reordered=same and sha != entry["sha256"],
            fields_changed=changed_fields,
        )
    return checks


def unsealed_sources(
    lock: Mapping[str, Any], root: str | os.PathLike[str], suite_sources: Iterable[str]
) -> list[str]:
    """Datasets a suite loads (absolute paths) that the lock does not seal, as lock keys.

    A note for the report, not a failure: the dataset was added since the lock
    was written (seal it with ``pytest --prodgate-lock``).
    """
    keys = {lock_key(root, src) for src in suite_sources}
    return sorted(k for k in keys if k not in lock["datasets"])


def unlocked_suites(lock: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """The suites among ``names`` that the lock does not know (new: nothing to loosen)."""
    return sorted({n for n in names if n not in lock["suites"]})


def stale_suites(lock: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """The lock's suites that are not among ``names`` (renamed, removed, or not collected)."""
    present = set(names)
    return sorted(n for n in lock["suites"] if n not in present)
