"""A suite's scored trials as the gates read them, from one pass (:func:`columns`).

Pure: no pytest. The accuracy, error-rate, latency and cost gates each used to walk
every scored trial and its calls; at 100,000 cases those walks were most of the
gating time. :attr:`pytest_prodgate.gating.gates.SuiteContext.columns` computes
this once per suite, in the order the walks had (case order, then trial, then call),
so every figure is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_prodgate.schema.report import TrialReport

__all__ = ["CostSamples", "ScoredColumns", "columns", "erred", "latency_samples"]

#: Call kinds whose failure is a model error (the error-rate gate).
_TIMED_KINDS = frozenset({"call", "benchmark"})


@dataclass
class CostSamples:
    """What the cost gate prices: one value per successful call (plus its share of
    ``add_cost``), clustered by case (its trials and calls are one cluster: they are
    not independent draws), and why some calls have no price."""

    values: list[float] = field(default_factory=list)
    clusters: list[int] = field(default_factory=list)
    #: ``(nodeid, cost error)`` of calls whose cost function failed.
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: ``(nodeid, why)`` of unpriced calls (no cost, no added cost): unknown beside
    #: priced ones, else $0.
    unpriced: list[tuple[str, str]] = field(default_factory=list)
    #: Some call has a cost or a cost error (then an unpriced call is unknown).
    priced: bool = False
    #: Some cost was recorded at all.
    known: bool = False


@dataclass
class ScoredColumns:
    """Per scored trial (:attr:`SuiteContext.scored` order): its score, case index and
    whether its model call failed; the latency samples; the cost samples."""

    scores: np.ndarray[Any, Any]
    case_idx: np.ndarray[Any, Any]
    erred: np.ndarray[Any, Any]
    #: Every scored trial's :func:`latency_samples`, in order.
    latencies: np.ndarray[Any, Any]
    #: Each latency sample's case index (its cluster: a case's calls over its trials
    #: are alike); pytest-benchmark rounds are each their own (negative) label.
    latency_cases: np.ndarray[Any, Any]
    #: Some call of a scored trial was replayed from the cache.
    any_replayed: bool
    cost: CostSamples


def latency_samples(trial: TrialReport, replayed: bool = True, load: bool = True) -> list[float]:
    """A trial's latency samples: pytest-benchmark's rounds when it measured, else its calls.

    A benchmarked test usually calls the model in every round, so counting both
    would weigh that one case twice. Calls under load count only when the test
    asked for it (``prodgate_load(..., count_latency=True)``; ``load=False`` leaves
    them out). ``replayed=False`` leaves out calls replayed from the cache
    (``--prodgate-cache-latency=exclude``).
    """
    bench = [c.latency_ms for c in trial.calls if c.kind == "benchmark"]
    samples = bench or [
        c.latency_ms for c in trial.calls if c.kind == "call" and (replayed or not c.replayed)
    ]
    for run in trial.load_runs if load else ():
        if run.count_latency:
            samples.extend(run.ok_latencies_ms())
    return samples


def erred(t: TrialReport) -> float:
    """1.0 when the trial's model call failed (the error-rate gate's indicator), else 0.0."""
    return float(
        t.outcome == "model_error" or any(not c.ok for c in t.calls if c.kind in _TIMED_KINDS)
    )


def columns(scored: Sequence[tuple[int, TrialReport]], keep_replayed: bool) -> ScoredColumns:
    """One pass over ``scored`` (case index, trial) for everything :class:`ScoredColumns` holds."""
    n = len(scored)
    scores = np.empty(n, dtype=float)
    case_idx = np.empty(n, dtype=np.int64)
    errors = np.zeros(n, dtype=float)
    latencies: list[float] = []
    latency_cases: list[int] = []
    cost = CostSamples()
    values, clusters = cost.values, cost.clusters
    priced = known = any_replayed = False
    for k, (i, t) in enumerate(scored):
        scores[k] = t.score
        case_idx[k] = i
        calls = t.calls
        added = t.added_cost_usd
        if added > 0:
            known = True
        if len(calls) == 1 and not t.load_runs:  # nearly every trial: one model call
            c = calls[0]
            kind = c.kind
            if t.outcome == "model_error" or (not c.ok and kind in _TIMED_KINDS):
                errors[k] = 1.0
            if c.replayed:
                any_replayed = True
            if kind == "benchmark" or (kind == "call" and (keep_replayed or not c.replayed)):
                latency_cases.append(i if kind == "call" else -1 - len(latencies))
                latencies.append(c.latency_ms)
            if kind != "call":
                if added > 0:
                    values.append(added)
                    clusters.append(i)
                continue
            if c.cost_usd is not None or c.cost_error is not None:
                priced = True
            if not c.ok:
                if added > 0:
                    values.append(added)
                    clusters.append(i)
                continue
            _price(cost, t, c, added, i)
            continue
        errors[k] = erred(t)
        if not any_replayed and any(c.replayed for c in calls):
            any_replayed = True
        # A case's model calls are one cluster; benchmark rounds (repeated timings of
        # one operation) and load requests (many inputs) each their own.
        samples = latency_samples(t, keep_replayed, load=False)
        if any(c.kind == "benchmark" for c in calls):
            _own_labels(latency_cases, len(latencies), len(samples))
        else:
            latency_cases.extend([i] * len(samples))
        latencies.extend(samples)
        for run in t.load_runs:
            if run.count_latency:
                load = run.ok_latencies_ms()
                _own_labels(latency_cases, len(latencies), len(load))
                latencies.extend(load)
        ok_calls = []
        for c in calls:
            if c.kind == "call":
                if c.cost_usd is not None or c.cost_error is not None:
                    priced = True
                if c.ok:
                    ok_calls.append(c)
        if not ok_calls:
            # A failed call returned nothing to price: leave it out rather than count $0.
            if added > 0:
                values.append(added)
                clusters.append(i)
            continue
        share = added / len(ok_calls)
        for c in ok_calls:
            _price(cost, t, c, share, i)
    cost.priced = priced
    cost.known = known or cost.known
    return ScoredColumns(
        scores,
        case_idx,
        errors,
        np.array(latencies, dtype=float),
        np.array(latency_cases, dtype=np.int64),
        any_replayed,
        cost,
    )


def _own_labels(labels: list[int], start: int, n: int) -> None:
    """Give ``n`` samples from index ``start`` on labels no other sample has."""
    labels.extend(range(-1 - start, -1 - start - n, -1))


def _price(cost: CostSamples, t: TrialReport, c: Any, share: float, cluster: int) -> None:
    """One successful call's cost sample (or why it has none)."""
    if c.cost_error is not None:
        cost.failed.append((t.nodeid, c.cost_error))
        return
    if c.cost_usd is None:
        if not share:
            # Beside priced calls an unpriced one is unknown (the gate reads
            # ``unpriced`` only then); alone, it is free.
            cost.unpriced.append((t.nodeid, f"{c.model or 'a model'} has no cost= or pricing="))
        cost.values.append(share)
    else:
        cost.known = True
        cost.values.append(c.cost_usd + share)
    cost.clusters.append(cluster)
