"""``prodgate merge``: the reports of a run's shards, gated as one run (SPEC §14, §15).

Pure: no pytest. :func:`merge_shards` checks that the reports are shards
``1..N`` of one run — each a shard (``run.shard``), one ``N``, no shard twice
and none missing, the same settings, collection, lock, datasets and baseline,
each holding the cases it was assigned and no case in two of them — and refuses
the first problem with one :class:`~pytest_prodgate.errors.MergeError` line
naming the files. It then pools every suite's cases in the order an unsharded
run sorts them, carries the integrity rows (``TAMPERED``, ``LOOSENED``) the
shards found, and gates the whole through :func:`~.run.regate` with the run's
seed: the figures and verdicts are those of one unsharded run of the same cases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytest_prodgate.errors import MergeError
from pytest_prodgate.gating.aggregate import natural_key
from pytest_prodgate.gating.registry import SEALED_DATASET, kind_of
from pytest_prodgate.gating.run import regate
from pytest_prodgate.schema.report import (
    CaseReport,
    GateReport,
    RunInfo,
    RunReport,
    ShardInfo,
    SuiteReport,
)

__all__ = ["MergeError", "Shard", "merge_shards"]

#: Run settings every shard of one run shares: another value gives other figures.
SHARED_SETTINGS = (
    "seed",
    "confidence",
    "resamples",
    "ci_method",
    "mode",
    "inconclusive",
    "cache_latency",
    "plugin_version",
    "git_commit",
)
_UNSEALED_NOTE = re.compile(r"^dataset .* is not sealed in prodgate\.lock")


@dataclass(frozen=True)
class Shard:
    """One shard's report and the name it was given as (a file path)."""

    name: str
    report: RunReport

    @property
    def info(self) -> ShardInfo:
        assert self.report.run.shard is not None
        return self.report.run.shard


def merge_shards(
    shards: Sequence[Shard],
    *,
    baseline: RunReport | None = None,
    baseline_name: str | None = None,
    baseline_sha256: str | None = None,
) -> RunReport:
    """Check the shards are one whole run, pool their cases and gate them as one run.

    ``baseline`` (read from ``baseline_name``, whose bytes hash to
    ``baseline_sha256``) must be the baseline the shards ran with, if they ran
    with one; without one the run has no regression gate.
    """
    ordered = _check_shards(shards)
    _check_baseline(ordered[0], baseline, baseline_sha256)
    merged = RunReport(
        run=_merged_run([s.report.run for s in ordered]),
        verdict=None,
        fails_run=False,
        suites=_merged_suites(ordered),
        notes=_union(n for s in ordered for n in s.report.notes),
    )
    return regate(merged, baseline=baseline, baseline_name=baseline_name)


def _check_shards(shards: Sequence[Shard]) -> list[Shard]:
    if not shards:
        raise MergeError("no shard reports given")
    for s in shards:
        if s.report.run.shard is None:
            raise MergeError(f"{s.name}: not a shard report (run with --prodgate-shard=K/N)")
        if not s.info.collected_sha256:
            raise MergeError(
                f"{s.name}: shard {s.info.label} recorded no collection "
                "(did every process of its run crash before collecting?)"
            )
    first = shards[0]
    by_index: dict[int, Shard] = {}
    for s in shards:
        if s.info.total != first.info.total:
            raise MergeError(
                f"{s.name} is shard {s.info.label} but {first.name} is shard "
                f"{first.info.label}: shards of different splits"
            )
        if s.info.index in by_index:
            raise MergeError(
                f"{by_index[s.info.index].name} and {s.name} are both shard {s.info.label}: "
                "overlapping shards"
            )
        by_index[s.info.index] = s
    total = first.info.total
    missing = [f"{k}/{total}" for k in range(1, total + 1) if k not in by_index]
    if missing:
        raise MergeError(
            f"missing shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(given: {', '.join(f'{s.info.label} {s.name}' for s in shards)})"
        )
    ordered = [by_index[k] for k in range(1, total + 1)]
    for s in ordered[1:]:
        _check_same(ordered[0], s)
    _check_cases(ordered)
    return ordered


def _check_same(a: Shard, b: Shard) -> None:
    """``b`` is a shard of the same run as ``a``: settings, collection, lock, data."""
    for field in SHARED_SETTINGS:
        va, vb = getattr(a.report.run, field), getattr(b.report.run, field)
        if va != vb:
            raise MergeError(
                f"{b.name}: {field} {vb!r} differs from {a.name}'s {va!r} "
                "(the shards of one run share their settings)"
            )
    ia, ib = a.info, b.info
    if (ia.collected, ia.collected_sha256) != (ib.collected, ib.collected_sha256):
        raise MergeError(
            f"{b.name} collected other eval cases than {a.name} ({ib.collected} vs "
            f"{ia.collected}: another -k, path or dataset?)"
        )
    if ia.lock_sha256 != ib.lock_sha256:
        raise MergeError(f"{b.name} read another prodgate.lock than {a.name}")
    for key in sorted(set(ia.datasets) & set(ib.datasets)):
        if ia.datasets[key] != ib.datasets[key]:
            raise MergeError(f"{b.name} read another {key} than {a.name} (dataset digests differ)")
    if ia.baseline_sha256 != ib.baseline_sha256:
        raise MergeError(f"{b.name} ran against another baseline than {a.name}")
    targets = {s.name: s.targets for s in a.report.suites}
    for suite in b.report.suites:
        if suite.name in targets and targets[suite.name] != suite.targets:
            raise MergeError(f"{b.name}: suite {suite.name!r} has other targets than in {a.name}")


def _check_cases(ordered: list[Shard]) -> None:
    """Each shard holds the cases it was assigned, no case is in two, none is missing."""
    owner: dict[tuple[str, str], str] = {}
    for s in ordered:
        held = sum(len(suite.cases) for suite in s.report.suites)
        if held != s.info.assigned:
            raise MergeError(
                f"{s.name}: shard {s.info.label} was assigned {s.info.assigned} eval cases "
                f"but its report holds {held}"
            )
        for suite in s.report.suites:
            for case in suite.cases:
                key = (suite.name, case.id)
                if key in owner:
                    raise MergeError(
                        f"{owner[key]} and {s.name} both hold case {case.id!r} of suite "
                        f"{suite.name!r}: overlapping shards"
                    )
                owner[key] = s.name
    collected = ordered[0].info.collected
    if len(owner) != collected:
        raise MergeError(
            f"the shards hold {len(owner)} of the {collected} eval cases collected "
            "(a shard ran other cases?)"
        )


def _check_baseline(first: Shard, baseline: RunReport | None, sha256: str | None) -> None:
    expected = first.info.baseline_sha256
    if expected is None:
        return
    if baseline is None:
        raise MergeError(
            f"the shards ran against a baseline (sha256 {expected[:12]}…): give it with --baseline"
        )
    if sha256 is not None and sha256 != expected:
        raise MergeError(
            f"--baseline: not the baseline the shards ran against (sha256 {sha256[:12]}… "
            f"vs {expected[:12]}…)"
        )


def _merged_run(runs: list[RunInfo]) -> RunInfo:
    def joined(values: list[str | None]) -> str | None:
        names = sorted({n.strip() for v in values if v for n in v.split(",") if n.strip()})
        return ", ".join(names) or None

    first = runs[0]
    return first.model_copy(
        update={
            "started_at": min(r.started_at for r in runs),
            "finished_at": max(r.finished_at for r in runs),
            "duration_s": max(r.duration_s for r in runs),
            "model_name": joined([r.model_name for r in runs]),
            "model_version": joined([r.model_version for r in runs]),
            "xdist_workers": max(r.xdist_workers for r in runs),
            "interrupted": any(r.interrupted for r in runs),
            "warmup_calls": sum(r.warmup_calls for r in runs),
            "shard": None,
        }
    )


def _merged_suites(ordered: list[Shard]) -> list[SuiteReport]:
    parts: dict[str, list[SuiteReport]] = {}
    for s in ordered:
        for suite in s.report.suites:
            parts.setdefault(suite.name, []).append(suite)
    out = []
    for name in sorted(parts):
        pieces = parts[name]
        cases: list[CaseReport] = [c for p in pieces for c in p.cases]
        cases.sort(key=lambda c: natural_key(c.id))
        notes = _union(n for p in pieces for n in p.notes)
        unsealed = sorted(n for n in notes if _UNSEALED_NOTE.match(n))
        out.append(
            SuiteReport(
                name=name,
                targets=pieces[0].targets,
                verdict="SHARD",
                gates=_carried_rows(pieces),
                notes=unsealed + [n for n in notes if not _UNSEALED_NOTE.match(n)],
                cases=cases,
            )
        )
    return out


def _carried_rows(pieces: list[SuiteReport]) -> list[GateReport]:
    """Integrity rows (and rows a hook added) of every shard, once each, as one run orders them.

    A shard checks the datasets its own cases came from: together the shards
    checked every one. Sealed-dataset rows come sorted by dataset, then the
    others in the order the shards give them.
    """
    seen: dict[str, GateReport] = {}
    for p in pieces:
        for g in p.gates:
            if kind_of(g.gate).carried:
                seen.setdefault(g.gate, g)
    sealed = sorted((g for g in seen.values() if kind_of(g.gate) is SEALED_DATASET), key=_gate)
    rest = [g for g in seen.values() if kind_of(g.gate) is not SEALED_DATASET]
    return sealed + rest


def _gate(g: GateReport) -> str:
    return g.gate


def _union(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
