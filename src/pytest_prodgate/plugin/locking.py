"""``prodgate.lock``: seal what collection loaded and every suite's targets
(``--prodgate-lock``), and check a run against the lock (:func:`lock_rows`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodgate.plugin.items import item_spec
from pytest_prodgate.plugin.state import enabled, is_eval_case

if TYPE_CHECKING:
    from pytest_prodgate.gating.aggregate import SuiteData
    from pytest_prodgate.schema.report import CaseReport, GateReport
    from pytest_prodgate.schema.settings import Settings

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


def lock_rows(
    root: Path,
    lock: dict[str, Any],
    suites: list[SuiteData],
    *,
    read_by_workers: dict[str, list[dict[str, str | None]]],
    shard: dict[str, Any] | None,
    settings: Settings,
    notes: list[str],
) -> dict[str, list[GateReport]]:
    """TAMPERED / LOOSENED / INCOMPLETE-subset rows per suite against ``lock`` (SPEC §5).

    Notes for the run (``notes``) and for each suite (``SuiteData.notes``) are added
    in place: suites the lock has and this run did not gate, unsealed datasets,
    suites not locked yet, subsets gated with ``--prodgate-subset``.
    """
    from pytest_prodgate.data.dataset import loaded_datasets
    from pytest_prodgate.data.sealing import (
        lock_key,
        stale_suites,
        unlocked_suites,
        unsealed_sources,
        verify_datasets,
    )
    from pytest_prodgate.gating.integrity import integrity_gates, subset_rows, unrun_sealed

    # One pass over the cases: by suite, each dataset's case ids (those that ran; a
    # case that skipped itself or was skipped by a mark did not, see _skipped).
    by_suite: dict[str, dict[str, set[str]]] = {}
    skipped_by_source: dict[str, set[str]] = {}
    for s in suites:
        ids_by_source = by_suite[s.name] = {}
        for c in s.cases:
            if c.source:
                ids = ids_by_source.setdefault(c.source, set())
                if _skipped(c):
                    skipped_by_source.setdefault(c.source, set()).add(c.id)
                else:
                    ids.add(c.id)
    gated = {source for ids_by_source in by_suite.values() for source in ids_by_source}
    # How this run read each dataset its cases came from (a sealed file read
    # with other field names is tampered). Readings of earlier in-process runs
    # that this run did not gate are left out.
    read_with = {p: [dict(info.fields)] for p, info in loaded_datasets().items()}
    for p, readings in read_by_workers.items():  # xdist: the workers' readings
        read_with.setdefault(p, []).extend(readings)
    checks = verify_datasets(
        root, lock, read_with={p: f for p, f in read_with.items() if p in gated}
    )
    names = [s.name for s in suites]
    if shard is not None:  # a suite whose cases all went to other shards is not stale
        names = sorted({*names, *shard["suites"]})
    new = set(unlocked_suites(lock, names))
    stale = stale_suites(lock, names)
    if stale:
        notes.append(
            f"prodgate.lock locks suites this run did not gate: {', '.join(stale)} "
            "(deselected, renamed or removed? a renamed suite escapes its locked targets)"
        )
    ran: dict[str, set[str]] = {}  # by lock key, worked out once per dataset, not per case
    skipped_ids: dict[str, set[str]] = {}
    for ids_by_source in by_suite.values():
        for source, ids in ids_by_source.items():
            key = lock_key(root, source)
            ran.setdefault(key, set()).update(ids)
            skipped_ids.setdefault(key, set()).update(skipped_by_source.get(source, ()))
    # A case skipped in one suite and run in another ran.
    skipped = {key: len(ids - ran[key]) for key, ids in skipped_ids.items()}
    # A shard runs part of every sealed set by design: prodgate merge pools them.
    partial = unrun_sealed(lock, ran) if settings.shard is None else {}
    out = {}
    for s in suites:
        sources = sorted(by_suite[s.name])
        out[s.name] = integrity_gates(
            s.name, lock["suites"].get(s.name), s.targets, checks, sources, root
        )
        keys = [lock_key(root, src) for src in sources]
        if not settings.subset:
            out[s.name] += subset_rows(s.name, partial, keys, skipped)
        for key in sorted(set(keys) & set(partial)):
            if settings.subset:
                done, total = partial[key]
                s.notes.append(
                    f"gated on a subset (--prodgate-subset): ran {done:,} of {total:,} "
                    f"sealed cases of {key}"
                )
        for key in unsealed_sources(lock, root, sources):
            s.notes.append(f"dataset {key} is not sealed in prodgate.lock (--prodgate-lock)")
        if s.name in new:
            s.notes.append("suite not in prodgate.lock: its targets are not locked yet")
    return out


def _skipped(case: CaseReport) -> bool:
    """Whether every trial of ``case`` was skipped (in its body, by a mark, as xfail),
    other than by early stopping, whose skipped cases count as run (SPEC §13)."""
    from pytest_prodgate.gating.early import stopped

    return bool(case.trials) and all(t.outcome == "skipped" and not stopped(t) for t in case.trials)
