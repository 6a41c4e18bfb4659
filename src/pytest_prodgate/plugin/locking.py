"""``--prodgate-lock``: seal what collection loaded and every suite's targets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodgate.plugin.items import item_spec
from pytest_prodgate.plugin.state import is_eval_case

if TYPE_CHECKING:
    pass


def seal_collected(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--prodgate-lock``: seal every dataset collection loaded, and every suite's targets."""
    from pytest_prodgate.data.dataset import loaded_datasets
    from pytest_prodgate.data.sealing import build_lock, write_lock

    suites: dict[str, dict[str, Any]] = {}
    for item in items:
        if is_eval_case(item):
            spec = item_spec(item)
            if spec.error is not None:
                raise pytest.UsageError(f"prodgate: {item.nodeid}: prodgate marker: {spec.error}")
            if spec.targets is not None:
                merged = suites.setdefault(spec.suite, {})
                for key, value in spec.targets.declared().items():
                    merged.setdefault(key, value)
    datasets = loaded_datasets()
    try:
        lock = build_lock(config.rootpath, datasets, suites)
        kept = _keep_uncollected(config.rootpath, lock)
        path = write_lock(config.rootpath, lock)
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"prodgate: cannot write the lock: {exc}") from None
    n_cases = sum(d.n_cases for d in datasets.values())
    kept_note = (
        f"; kept from the old lock, not collected now: {', '.join(kept)} "
        "(delete those entries by hand if they are gone for good)"
        if kept
        else ""
    )
    pytest.exit(
        f"prodgate: wrote {path}: {len(datasets)} dataset{'s' if len(datasets) != 1 else ''} "
        f"({n_cases:,} cases) and {len(suites)} suite{'s' if len(suites) != 1 else ''} sealed"
        f"{kept_note}; review and commit it",
        returncode=0,
    )


def _keep_uncollected(root: Path, lock: dict[str, Any]) -> list[str]:
    """Relocking a subset (``-k``, a path) must not unseal what it did not collect."""
    from pytest_prodgate.data.sealing import LockError, find_lock, read_lock

    old_path = find_lock(root)
    if old_path is None:
        return []
    try:
        old = read_lock(old_path)
    except LockError:
        return []  # a broken lock is replaced whole
    kept = []
    for section in ("datasets", "suites"):
        for key, entry in old[section].items():
            if key not in lock[section]:
                lock[section][key] = entry
                kept.append(key)
    for section in ("datasets", "suites"):
        lock[section] = dict(sorted(lock[section].items()))
    return kept
