"""The one-pass columns the gates read equal a trial-by-trial walk, for every trial shape."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pytest_prodgate.gating.columns import columns, erred, latency_samples
from pytest_prodgate.schema.report import CallReport, LoadRunReport, TrialReport


def _trial(rng: random.Random, i: int) -> TrialReport:
    calls = []
    for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
        calls.append(
            CallReport(
                latency_ms=rng.uniform(1, 100),
                ok=rng.random() > 0.2,
                kind=rng.choice(["call", "call", "call", "benchmark", "warmup"]),
                replayed=rng.random() < 0.3,
                cost_usd=rng.choice([None, 0.0, rng.uniform(0, 0.01)]),
                cost_error=rng.choice([None] * 9 + ["price lookup failed"]),
                model=rng.choice([None, "m"]),
            )
        )
    runs = ()
    if rng.random() < 0.15:
        runs = (
            LoadRunReport(
                calls=[(0.0, rng.uniform(0.01, 0.2), rng.random() > 0.1, None) for _ in range(3)],
                count_latency=rng.random() < 0.5,
            ),
        )
    return TrialReport(
        nodeid=f"t[c{i}]",
        outcome=rng.choice(["passed", "missed", "model_error"]),
        score=rng.choice([0.0, 1.0, 0.5]),
        calls=calls,
        added_cost_usd=rng.choice([0.0, 0.0, 0.0, 0.002]),
        load_runs=runs,
    )


def _walked(scored: list[tuple[int, TrialReport]], keep: bool) -> dict[str, object]:
    """The walks each gate made before the columns existed (cost as ``gating/cost.py`` had it)."""
    priced = any(
        c.cost_usd is not None or c.cost_error is not None
        for _, t in scored
        for c in t.calls
        if c.kind == "call"
    )
    values: list[float] = []
    clusters: list[int] = []
    failed: list[tuple[str, str]] = []
    unpriced: list[tuple[str, str]] = []
    known = False
    for i, t in scored:
        ok = [c for c in t.calls if c.kind == "call" and c.ok]
        known = known or t.added_cost_usd > 0
        if not ok:
            if t.added_cost_usd > 0:
                values.append(t.added_cost_usd)
                clusters.append(i)
            continue
        share = t.added_cost_usd / len(ok)
        for c in ok:
            if c.cost_error is not None:
                failed.append((t.nodeid, c.cost_error))
                continue
            if c.cost_usd is None and priced and not share:
                unpriced.append((t.nodeid, f"{c.model or 'a model'} has no cost= or pricing="))
                continue
            known = known or c.cost_usd is not None
            values.append((c.cost_usd or 0.0) + share)
            clusters.append(i)
    return {
        "scores": [t.score for _, t in scored],
        "case_idx": [i for i, _ in scored],
        "erred": [erred(t) for _, t in scored],
        "latencies": [ms for _, t in scored for ms in latency_samples(t, keep)],
        "any_replayed": any(c.replayed for _, t in scored for c in t.calls),
        "failed": failed + unpriced,
        "known": known,
        # Read only when nothing failed: then they are the gate's samples.
        "samples": (values, clusters) if not failed + unpriced else None,
    }


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("keep", [True, False])
def test_columns_equal_the_walks(seed: int, keep: bool) -> None:
    rng = random.Random(seed)
    n = rng.choice([1, 5, 30])
    scored = [(i // rng.choice([1, 2]), _trial(rng, i)) for i in range(n)]
    cols = columns(scored, keep)
    cost = cols.cost
    failed = cost.failed + (cost.unpriced if cost.priced else [])
    got = {
        "scores": cols.scores.tolist(),
        "case_idx": cols.case_idx.tolist(),
        "erred": cols.erred.tolist(),
        "latencies": cols.latencies.tolist(),
        "any_replayed": cols.any_replayed,
        "failed": failed,
        "known": cost.known,
        "samples": (cost.values, cost.clusters) if not failed else None,
    }
    assert got == _walked(scored, keep)


def test_columns_of_no_trials_are_empty() -> None:
    cols = columns([], True)
    assert cols.scores.size == cols.latencies.size == 0
    assert cols.cost.values == []
    assert not cols.cost.known
    assert np.asarray(cols.erred).dtype == float


@pytest.mark.parametrize("seed", range(20))
def test_tally_fast_path_equals_the_general_one(seed: int) -> None:
    """Cases of one trial and one call take a short path; a tag sends them down the general
    one, which must count the same (tag rates aside)."""
    from dataclasses import replace

    from pytest_prodgate.gating.tally import tally
    from pytest_prodgate.schema.report import CaseReport

    rng = random.Random(seed)
    plain = []
    for i in range(40):
        t = _trial(rng, i)
        if rng.random() < 0.7:  # mostly the short path's shape
            t = replace(t, calls=t.calls[:1] or [CallReport(latency_ms=1.0, ok=True)])
            t = replace(t, added_cost_usd=0.0, outcome=rng.choice(["passed", "missed", "error"]))
        plain.append(CaseReport(id=f"c{i}", trials=[t]))
    tagged = [replace(c, tags=("x",)) for c in plain]
    fast, general = tally(plain), tally(tagged)
    assert general.tag_rates.keys() == {"x"}
    general.tag_rates = {}
    assert fast == general
