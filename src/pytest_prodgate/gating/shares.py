"""Gates on a share of cases: accuracy floor, slice floors, error rate (SPEC §6)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pytest_prodgate import stats
from pytest_prodgate.gating.gates import GateKind, GatePolicy, SuiteContext, finish, no_data
from pytest_prodgate.schema.redact import redact, redactor, report_tags
from pytest_prodgate.schema.report import CaseReport, GateReport

__all__ = ["accuracy", "error_rate", "report_slices", "share_interval", "slice_floors"]


def report_slices(targets: dict[str, Any], cases: Sequence[CaseReport]) -> dict[str, Any]:
    """Rename a suite's slice tags, in its cases and its ``slice_floors``, to the names
    its report holds (:func:`~pytest_prodgate.schema.redact.report_tags`); the targets
    with the floors renamed are returned.

    Gated on those names, the run prints, writes and re-gates one slice per tag even
    when two tags redact alike. The declared floors come first, then the cases' tags
    in case order, so the same run always names them the same.
    """
    floors: dict[str, Any] = targets.get("slice_floors") or {}
    tags = [*floors, *(t for c in cases for t in c.tags)]
    if not tags:
        return targets
    clean = redactor()
    if clean.many(tags) == tags:  # the common case: nothing to rename
        return targets
    names = report_tags(tags, clean)
    for case in cases:
        if case.tags:
            object.__setattr__(case, "tags", tuple(names[t] for t in case.tags))
    if not floors:
        return targets
    return {**targets, "slice_floors": {names[t]: v for t, v in floors.items()}}


def share_interval(
    values: np.ndarray[Any, Any],
    clusters: np.ndarray[Any, Any] | None,
    policy: GatePolicy,
    seed: np.random.SeedSequence,
) -> stats.Interval:
    """Interval of a share of 0/1 (or graded [0, 1]) values, per SPEC §6.

    ``auto``: Clopper–Pearson for 0/1 values with one trial per case, the
    betting bound of the case means for graded scores or trials (each side's
    error at most ``(1 - confidence) / 2`` at every n). ``wilson`` keeps Wilson
    for 0/1 values, ``bootstrap`` the BCa bootstrap for everything.
    """
    binary = bool(np.all((values == 0.0) | (values == 1.0)))
    method = policy.ci_method
    if binary and clusters is None and method == "wilson":
        return stats.wilson(int(values.sum()), len(values), policy.confidence)
    if binary and clusters is None and method in ("auto", "clopper-pearson"):
        return stats.clopper_pearson(int(values.sum()), len(values), policy.confidence)
    if method != "bootstrap":
        return _case_betting(values, clusters, policy, seed)
    n_cases = stats.distinct_count(clusters) if clusters is not None else len(values)
    if clusters is not None and binary and (values.min() == values.max()):
        # All trials agree everywhere: a cluster bootstrap would be zero-width.
        return stats.wilson(int(values[0]) * n_cases, n_cases, policy.confidence)
    iv = stats.bootstrap_mean(
        values,
        confidence=policy.confidence,
        resamples=policy.resamples,
        seed=seed,
        clusters=clusters,
        binary_fallback=False,
    )
    if iv.lower == iv.upper:
        # Constant graded scores: the bootstrap has no spread to offer. A score in
        # [0, 1] has variance at most p(1 - p), so Wilson on the fractional count
        # is a conservative bound where a zero-width interval would be no bound.
        return stats.wilson_graded(float(values.mean()), n_cases, policy.confidence)
    return iv


def _case_betting(
    values: np.ndarray[Any, Any],
    clusters: np.ndarray[Any, Any] | None,
    policy: GatePolicy,
    seed: np.random.SeedSequence,
) -> stats.Interval:
    """The betting bound over cases: a case's trials are averaged into one value."""
    if clusters is None:
        return stats.betting_mean(values, policy.confidence, seed)
    codes = stats.cluster_codes(clusters)
    means = np.bincount(codes, weights=values) / np.bincount(codes)
    iv = stats.betting_mean(np.clip(means, 0.0, 1.0), policy.confidence, seed)
    est = float(values.mean())  # the mean over every trial, as reported
    return stats.Interval(
        est, min(iv.lower, est), max(iv.upper, est), len(values), "betting-cluster"
    )


def _share_gate(
    ctx: SuiteContext,
    kind: GateKind,
    gate: str,
    target: float,
    values: np.ndarray[Any, Any],
    case_idx: np.ndarray[Any, Any],
    what: str,
    empty_reason: str,
) -> GateReport:
    """A share gate on one value per scored trial (``case_idx``: the trial's case)."""
    if not len(values):
        return no_data(ctx, kind, gate, target, empty_reason)
    n_cases = stats.distinct_count(case_idx)
    multi = n_cases < len(case_idx)
    iv = share_interval(values, case_idx if multi else None, ctx.policy, ctx.seed(gate))
    # n counts cases (trials stay with their case), whatever the method counted.
    iv = stats.Interval(iv.estimate, iv.lower, iv.upper, n_cases, iv.method)
    return finish(ctx, kind, gate, target, iv, what, "case", proportion=True)


def accuracy(ctx: SuiteContext, kind: GateKind) -> list[GateReport]:
    """``accuracy_floor``: the mean score over every scored trial."""
    target = kind.target(ctx.targets)
    if target is None:
        return []
    return [
        _share_gate(
            ctx,
            kind,
            kind.name,
            target,
            ctx.columns.scores,
            ctx.columns.case_idx,
            "accuracy",
            "no eval case of this suite produced a score (all skipped or deselected).",
        )
    ]


def slice_floors(ctx: SuiteContext, kind: GateKind) -> list[GateReport]:
    """``slice_floor[TAG]``: accuracy on the cases tagged TAG, one gate per tag."""
    floors: dict[str, Any] = ctx.targets.get(kind.keyword or "") or {}
    if not floors:
        return []
    # One pass over the scored trials for every slice, not one per slice.
    tagged: dict[str, list[int]] = {tag: [] for tag in floors}
    for k, (i, _) in enumerate(ctx.scored):
        for tag in tagged.keys() & set(ctx.cases[i].tags):
            tagged[tag].append(k)
    cols = ctx.columns
    picked = {tag: np.array(ks, dtype=np.int64) for tag, ks in tagged.items()}
    return [
        _share_gate(
            ctx,
            kind,
            f"{kind.name}[{tag}]",
            float(floor),
            cols.scores[picked[tag]],
            cols.case_idx[picked[tag]],
            f"accuracy on slice {tag!r}",
            f"no scored case is tagged {tag!r}: tag cases in the dataset's tags field "
            "or with prodgate_case.tag().",
        )
        # In the order of the names a report holds (redacted), so a re-gate keeps it.
        for tag, floor in sorted(floors.items(), key=lambda kv: redact(kv[0]))
    ]


def error_rate(ctx: SuiteContext, kind: GateKind) -> list[GateReport]:
    """``error_rate_max``: the share of scored trials whose model call failed."""
    target = kind.target(ctx.targets)
    if target is None:
        return []
    return [
        _share_gate(
            ctx,
            kind,
            kind.name,
            target,
            ctx.columns.erred,
            ctx.columns.case_idx,
            "error rate",
            "no eval case of this suite produced a result.",
        )
    ]
