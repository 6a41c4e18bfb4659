"""``--prodgate-shard=K/N``: run one shard of the eval cases (SPEC §15).

Every case goes to the shard :func:`shard_of` gives its ``(suite, case id)``: a
hash of the two, so the assignment depends on nothing else — not the order of
collection, not xdist, not which other cases exist. All trials of a case, and
the cases several tests of one named suite share an id with, land in the same
shard (the report's case ids stay those of an unsharded run). The other eval
cases are deselected at collection; ordinary tests run in every shard.

What collection saw is recorded once (:func:`select_shard`) for the report's
:class:`~pytest_prodgate.schema.report.ShardInfo`, which ``prodgate merge``
checks: how many eval cases the whole collection holds and a digest of their
keys, how many this shard runs, and digests of the lock, datasets and baseline.
Under xdist each worker collects the same items and deselects the same ones;
the record reaches the controller through ``workeroutput``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from pytest_prodgate.plugin.items import item_spec
from pytest_prodgate.plugin.state import is_eval_case, is_worker, settings_of

__all__ = ["RECORD_KEY", "WORKER_OUTPUT", "collected_digest", "select_shard", "shard_of"]

#: The collection record (a plain dict) on ``config.stash``.
RECORD_KEY = pytest.StashKey[dict[str, Any]]()
#: Its key in an xdist worker's ``workeroutput``.
WORKER_OUTPUT = "prodgate_shard"


def shard_of(suite: str, case_id: str, total: int) -> int:
    """The shard (``1..total``) of the case ``case_id`` of ``suite``."""
    digest = hashlib.sha256(f"{suite}\x00{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


def collected_digest(keys: set[tuple[str, str, str]]) -> str:
    """SHA-256 of the sorted ``(suite, test, case id)`` keys of a collection."""
    text = "\n".join("\x1f".join(k) for k in sorted(keys))
    return hashlib.sha256(text.encode()).hexdigest()


def _sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def select_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the eval cases of this shard and every ordinary test; record what was seen."""
    from pytest_prodgate.data.sealing import find_lock, lock_key
    from pytest_prodgate.schema.settings import parse_shard

    settings = settings_of(config)
    assert settings.shard is not None
    index, total = parse_shard(settings.shard)
    keys: set[tuple[str, str, str]] = set()
    mine: set[tuple[str, str, str]] = set()
    suites: set[str] = set()
    sources: set[str] = set()
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if not is_eval_case(item):
            kept.append(item)
            continue
        spec = item_spec(item)
        key = (spec.suite, item.nodeid.split("[", 1)[0], spec.case_id)
        keys.add(key)
        suites.add(spec.suite)
        source = getattr(spec.case, "source", None)
        if source:
            sources.add(str(source))
        if shard_of(spec.suite, spec.case_id, total) == index:
            mine.add(key)
            kept.append(item)
        else:
            dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    root = config.rootpath
    lock = find_lock(root)
    baseline = settings.baseline
    record: dict[str, Any] = {
        "info": {
            "index": index,
            "total": total,
            "collected": len(keys),
            "collected_sha256": collected_digest(keys),
            "assigned": len(mine),
            "lock_sha256": _sha256_file(lock) if lock is not None else None,
            "datasets": _dataset_digests(root, sources, lock_key),
            "baseline_sha256": _sha256_file(baseline) if baseline is not None else None,
        },
        "suites": sorted(suites),
    }
    config.stash[RECORD_KEY] = record
    if is_worker(config):
        config.workeroutput[WORKER_OUTPUT] = record  # type: ignore[attr-defined]


def _dataset_digests(root: Path, sources: set[str], lock_key: Any) -> dict[str, str]:
    """SHA-256 of each dataset the collected cases came from, keyed as in the lock."""
    from pytest_prodgate.data.dataset import loaded_datasets

    out = {}
    for info in loaded_datasets().values():
        if info.path in sources:
            out[str(lock_key(root, info.path))] = info.sha256
    return dict(sorted(out.items()))


class ShardSelector:
    """Registered when ``--prodgate-shard`` is given; deselects after ``-k`` / ``-m`` did."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        select_shard(config, items)


def shard_record(
    config: pytest.Config, from_workers: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The collection record: this process's, else the first a worker sent (None if none did)."""
    own = config.stash.get(RECORD_KEY, None)
    if own is not None and not from_workers:
        return own
    return from_workers[0] if from_workers else own
