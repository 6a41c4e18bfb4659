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

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_prodgate.data.dataset import DEFAULT_FIELDS, DatasetInfo, dataset_digest, read_cases
from pytest_prodgate.data.lockfile import (
    FIELD_KEYS,
    LOCK_NAME,
    LOCK_VERSION,
    REWRITE_COMMAND,
    LockError,
    build_lock,
    dumps_lock,
    find_lock,
    lock_key,
    read_lock,
    write_lock,
)

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

#: How many case ids a reason lists per kind of change before "and N more".
LIST_MAX = 10


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
        for key in FIELD_KEYS
        if sealed.get(key) != now.get(key, DEFAULT_FIELDS[key])
    ]


def verify_datasets(
    root: str | os.PathLike[str],
    lock: Mapping[str, Any],
    loaded: Mapping[str, DatasetInfo] | None = None,
    *,
    read_with: Mapping[str, Iterable[Mapping[str, str | None]]] | None = None,
) -> dict[str, DatasetCheck]:
    """Re-read every dataset the lock seals, from disk, and compare it case by case.

    Each file is read with the field names recorded in the lock (relative
    paths against ``root``) and without entering the registry of loaded
    datasets. ``loaded`` (e.g. :func:`~pytest_prodgate.dataset.loaded_datasets`)
    adds one check: a sealed file this run reads with other field names is
    tampered. ``read_with`` gives the same as field names only, several readings
    per absolute path (what xdist workers report: the controller reads nothing).
    Keyed by the lock's dataset path; see :class:`DatasetCheck`.
    """
    now_fields: dict[str, list[Mapping[str, str | None]]] = {}
    for p, info in (loaded or {}).items():
        now_fields.setdefault(lock_key(root, info.path or p), []).append(info.fields)
    for p, readings in (read_with or {}).items():
        now_fields.setdefault(lock_key(root, p), []).extend(readings)
    checks: dict[str, DatasetCheck] = {}
    for key, entry in lock["datasets"].items():
        fields: Mapping[str, str | None] = entry["fields"]
        readings = now_fields.get(key, [])
        changed_fields = list(
            dict.fromkeys(c for r in readings for c in _fields_changed(fields, r))
        )
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
