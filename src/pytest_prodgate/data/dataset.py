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

import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from pytest_prodgate.data.case import Case
from pytest_prodgate.data.readers import CSV_TAG_SEPARATOR, Reader, read_bytes

# data.sealing reads lock files with the same JSON helpers.
from pytest_prodgate.data.readers import _DuplicateKey as _DuplicateKey
from pytest_prodgate.data.readers import _json_type as _json_type
from pytest_prodgate.data.readers import _no_duplicate_keys as _no_duplicate_keys
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
    return hashlib.sha256(read_bytes(given, resolved)).hexdigest()


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
    reader = Reader(given, resolved, id_field, input_field, expected_field, tags_field)
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
