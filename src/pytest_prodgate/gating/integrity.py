"""Integrity rows: ``TAMPERED`` sealed datasets and ``LOOSENED`` locked targets (SPEC §5).

Pure: no pytest. :func:`loosened_targets` compares a suite's targets with the
ones ``prodgate.lock`` locked, by each keyword's lock kind in the registry:

* a floor (``accuracy_floor``, ``throughput_rps``, each ``slice_floors`` entry)
  is looser when lowered or removed;
* a budget (``latency_p50/p90/p95/p99_ms``, ``cost_per_call_usd``,
  ``error_rate_max``, ``recovery_s``) when raised or removed;
* ``max_regression`` when raised (removed, it falls back to the stricter 0.0);
* ``trials`` when lowered (or removed when it was above 1).

A new or tightened target is fine. :func:`integrity_gates` turns those and the
datasets :func:`~pytest_prodgate.data.sealing.verify_datasets` found changed
into gate rows; both verdicts fail the run until the lock is rewritten on
purpose with ``pytest --prodgate-lock``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_prodgate.data.sealing import REWRITE_COMMAND, DatasetCheck, lock_key
from pytest_prodgate.gating.gates import LockKind, gate_report
from pytest_prodgate.gating.registry import (
    LOCKED,
    SEALED_DATASET,
    SEALED_SET,
    SLICE_FLOOR,
    lock_comparator,
    locked_keywords,
)
from pytest_prodgate.schema.report import GateReport

__all__ = ["integrity_gates", "loosened_targets", "subset_rows", "unrun_sealed"]


def _looser(kind: LockKind, locked: float, current: float | None) -> bool:
    if kind == "floor":
        return current is None or current < locked
    if kind == "max_regression":
        # Removed, it falls back to the default 0.0: never looser than a locked value.
        return current is not None and current > locked
    if kind == "budget":
        return current is None or current > locked
    # trials: removed falls back to --prodgate-trials, which is at least 1.
    return current < locked if current is not None else locked > 1


def loosened_targets(
    locked: Mapping[str, Any], current: Mapping[str, Any]
) -> list[tuple[str, Any, Any]]:
    """``(keyword, locked value, current value or None)`` for every target looser than locked.

    In table order; a slice floor is reported as ``slice_floor[TAG]``, like its
    gate. ``None`` values count as absent (see the module docs for what is looser).
    """
    out: list[tuple[str, Any, Any]] = []
    for keyword, kind in locked_keywords():
        if kind.keyword == SLICE_FLOOR.keyword:
            locked_slices: Mapping[str, Any] = locked.get(keyword) or {}
            current_slices: Mapping[str, Any] = current.get(keyword) or {}
            for tag in sorted(locked_slices):
                lv, cv = locked_slices[tag], current_slices.get(tag)
                if lv is not None and _looser("floor", lv, cv):
                    out.append((f"{kind.name}[{tag}]", lv, cv))
            continue
        lv = locked.get(keyword)
        if lv is None:
            continue
        cv = current.get(keyword)
        assert kind.lock is not None
        if _looser(kind.lock, lv, cv):
            out.append((keyword, lv, cv))
    return out


def _num(x: Any) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return repr(x)


def _loosened_reason(keyword: str, locked: Any, current: Any) -> str:
    if current is None:
        what = f"{keyword} removed (locked at {_num(locked)})"
    else:
        verb = "raised" if current > locked else "lowered"
        what = f"{keyword} {verb} from {_num(locked)} (locked) to {_num(current)}"
    return f"{what}; rewrite the lock on purpose with {REWRITE_COMMAND}"


def integrity_gates(
    suite: str,
    locked_suite: Mapping[str, Any] | None,
    current_targets: Mapping[str, Any],
    dataset_checks: Mapping[str, DatasetCheck],
    suite_sources: Iterable[str],
    root: str | os.PathLike[str],
) -> list[GateReport]:
    """The ``TAMPERED`` and ``LOOSENED`` rows of one suite (empty when all is sealed).

    ``suite_sources`` are the absolute paths of the datasets the suite's cases
    came from; each one the lock seals and :func:`verify_datasets` found
    tampered gives one ``sealed_dataset`` row (comparator ``<=``, target 0:
    no case may differ) whose reason lists the changed, added and removed
    case ids. Datasets the lock does not seal give no row
    (:func:`~pytest_prodgate.data.sealing.unsealed_sources`). ``locked_suite``
    is the suite's entry in the lock (``None`` for a new suite: no ``LOOSENED``
    rows); each looser target gives one row named ``locked:KEYWORD``, with
    comparator ``>=`` for floors and trials, ``<=`` for budgets, and the
    current target (the locked one when it was removed). Every row has ``n=0``
    and no estimate; whether it fails the run is decided by :mod:`~.run`.
    """
    rows: list[GateReport] = []
    for key in sorted({lock_key(root, src) for src in suite_sources}):
        check = dataset_checks.get(key)
        if check is None or not check.tampered:
            continue
        reason = (
            f"{check.describe()}. If the change is intended, review it and rewrite "
            f"the lock: {REWRITE_COMMAND}"
        )
        gate = f"{SEALED_DATASET.name}[{key}]"
        rows.append(
            gate_report(suite, gate, SEALED_DATASET.comparator, 0.0, "TAMPERED", None, reason)
        )
    if locked_suite is None:
        return rows
    for keyword, locked, current in loosened_targets(locked_suite, current_targets):
        comparator = lock_comparator(keyword)
        target = float(locked if current is None else current)
        reason = _loosened_reason(keyword, locked, current)
        gate = f"{LOCKED.name}:{keyword}"
        rows.append(gate_report(suite, gate, comparator, target, "LOOSENED", None, reason))
    return rows


def unrun_sealed(
    lock: Mapping[str, Any], ran: Mapping[str, set[str]]
) -> dict[str, tuple[int, int]]:
    """``{dataset key: (cases run, cases sealed)}`` of sealed datasets this run ran only part of.

    ``ran`` maps each dataset key this run gated to the case ids of it that ran
    (in any suite). A dataset none of whose cases ran is not listed: a run may
    pick some suites (a path, ``-k``) as long as it runs each one's sealed set whole.
    """
    out = {}
    for key, ids in ran.items():
        entry = lock.get("datasets", {}).get(key)
        if entry is None:
            continue
        sealed = set(entry.get("cases", {}))
        if sealed - ids:
            out[key] = (len(sealed & ids), len(sealed))
    return out


def subset_rows(
    suite: str,
    partial: Mapping[str, tuple[int, int]],
    keys: Iterable[str],
    skipped: Mapping[str, int] | None = None,
) -> list[GateReport]:
    """One ``sealed_set[KEY]`` row, ``INCOMPLETE``, per dataset of ``keys`` run in part.

    A sealed suite is gated on its whole sealed set: a run that picked a subset
    (``-k``, ``--lf``, a node id, any deselection) cannot pass it. The other gates
    of the suite become INCOMPLETE with the same reason (:mod:`~.run`).
    """
    rows = []
    for key in sorted(set(keys) & set(partial)):
        ran, sealed = partial[key]
        n_skipped = (skipped or {}).get(key, 0)
        if not n_skipped:
            why = "-k, --lf, a node id or a deselection picked a subset"
        else:
            why = f"{n_skipped:,} skipped (in the test, by a skip or xfail mark)"
            if ran + n_skipped < sealed:
                why += "; -k, --lf, a node id or a deselection left out the rest"
        reason = (
            f"ran {ran:,} of {sealed:,} sealed cases of {key} ({why}); a sealed suite is "
            "gated on its whole set. Run them all, or give --prodgate-subset to gate this "
            "subset on purpose."
        )
        row = gate_report(
            suite, f"{SEALED_SET.name}[{key}]", ">=", float(sealed), "INCOMPLETE", None, reason
        )
        row.estimate, row.n = float(ran), ran
        rows.append(row)
    return rows
