"""``--prodgate-lock``: seal what collection loaded and every suite's targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_prodgate.plugin.items import item_spec
from pytest_prodgate.plugin.state import enabled, is_eval_case

#: What ``--prodgate-lock`` did, printed at the end of the run: ``(ok, message)``.
LOCK_RESULT_KEY = pytest.StashKey[tuple[bool, str]]()


def seal_collected(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """``--prodgate-lock``: seal every dataset collection loaded, and every suite's targets.

    Nothing is written when collection had errors (a malformed dataset is one): the
    run then ends non-zero as pytest's collection errors do. Alone, ``--prodgate-lock``
    seals and runs nothing (every item deselected, exit 0); with ``--prodgate`` the
    run goes on and is gated against the lock just written.
    """
    from pytest_prodgate.data.dataset import loaded_datasets
    from pytest_prodgate.data.sealing import build_lock, read_lock, write_lock

    alone = not enabled(config)
    if session.testsfailed:
        n = session.testsfailed
        config.stash[LOCK_RESULT_KEY] = (
            False,
            f"prodgate: prodgate.lock NOT written: {n} error{'s' if n != 1 else ''} during "
            "collection (a malformed dataset is one); fix them and rerun --prodgate-lock",
        )
        if alone:
            _deselect_all(config, items)
        return
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
    then = "; review and commit it" if alone else "; this run is gated against it"
    config.stash[LOCK_RESULT_KEY] = (
        True,
        f"prodgate: wrote {path}: {len(datasets)} dataset{'s' if len(datasets) != 1 else ''} "
        f"({n_cases:,} cases) and {len(suites)} suite{'s' if len(suites) != 1 else ''} sealed"
        f"{kept_note}{then}",
    )
    if alone:
        _deselect_all(config, items)
        return
    controller = config.pluginmanager.get_plugin("prodgate-controller")
    if controller is not None:
        controller.lock = read_lock(path)


def _deselect_all(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--prodgate-lock`` alone runs nothing: it seals and stops."""
    if items:
        config.hook.pytest_deselected(items=list(items))
        items[:] = []


def lock_summary(config: pytest.Config, terminalreporter: Any) -> None:
    """The lock's closing line (green when written, red when not)."""
    result = config.stash.get(LOCK_RESULT_KEY, None)
    if result is not None:
        ok, message = result
        terminalreporter.write_line(message, green=ok, red=not ok, bold=True)


def lock_exitstatus(session: pytest.Session) -> None:
    """``--prodgate-lock`` alone deselects every item: a written lock is success, not exit 5."""
    result = session.config.stash.get(LOCK_RESULT_KEY, None)
    if (
        result is not None
        and result[0]
        and not enabled(session.config)
        and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED
    ):
        session.exitstatus = pytest.ExitCode.OK


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
