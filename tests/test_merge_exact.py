"""Merged shards give exactly the gate rows of one run, timing figures included.

Pure: the cases are synthetic records (fixed latencies), gated once whole with
``decide`` and once as shards (split by ``shard_of``) that ``merge_shards`` pools.
"""

from __future__ import annotations

import random

import pytest

from pytest_prodgate.errors import MergeError
from pytest_prodgate.gating.aggregate import SuiteData
from pytest_prodgate.gating.merge import Shard, merge_shards
from pytest_prodgate.gating.run import GatePolicy, decide
from pytest_prodgate.plugin.shard import collected_digest, shard_of
from pytest_prodgate.schema.report import (
    CallReport,
    CaseReport,
    RunInfo,
    RunReport,
    ShardInfo,
    TrialReport,
)

TARGETS = {
    "accuracy_floor": 0.8,
    "latency_p95_ms": 900.0,
    "cost_per_call_usd": 0.01,
    "slice_floors": {"a": 0.7},
    "trials": 2,
}
POLICY = GatePolicy(0.95, 2000, 3, "auto", None, "gate")


def _cases(suite: str, n: int) -> list[CaseReport]:
    rng = random.Random(suite)
    out = []
    for i in range(n):
        trials, latencies = [], []
        for t in range(2):
            score = 1.0 if rng.random() < 0.88 else 0.0
            latency = rng.lognormvariate(6.0, 0.4)
            latencies.append(latency)
            trials.append(
                TrialReport(
                    nodeid=f"t.py::t[trial{t}-q{i}]",
                    trial=t,
                    outcome="passed" if score else "missed",
                    score=score,
                    calls=[CallReport(latency_ms=latency, ok=True, cost_usd=0.004)],
                )
            )
        scores = [tr.score for tr in trials]
        out.append(
            CaseReport(
                id=f"q{i}",
                suite=suite,
                tags=["a" if i % 3 else "b"],
                trials=trials,
                scores=scores,
                latencies_ms=latencies,
                cost_usd=0.008,
                pass_rate=sum(s or 0.0 for s in scores) / 2,
                flaky=len(set(scores)) > 1,
            )
        )
    return out


def _run(shard: ShardInfo | None = None) -> RunInfo:
    return RunInfo(
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
        duration_s=1.0,
        plugin_version="test",
        pytest_version="-",
        python_version="-",
        platform="-",
        seed=POLICY.seed,
        confidence=POLICY.confidence,
        resamples=POLICY.resamples,
        ci_method=POLICY.ci_method,
        mode="gate",
        shard=shard,
    )


SUITES = {"qa": 120, "chat": 45}


def _whole_and_shards(
    total: int, baseline: RunReport | None = None
) -> tuple[RunReport, list[Shard]]:
    cases = {s: _cases(s, n) for s, n in SUITES.items()}
    whole = decide(
        [SuiteData(s, dict(TARGETS), list(c)) for s, c in sorted(cases.items())],
        run=_run(),
        policy=POLICY,
        baseline=baseline,
        baseline_name="base.json",
    )
    keys = {(s, "t.py::t", c.id) for s, cs in cases.items() for c in cs}
    shards = []
    for k in range(1, total + 1):
        mine = {s: [c for c in cs if shard_of(s, c.id, total) == k] for s, cs in cases.items()}
        info = ShardInfo(
            index=k,
            total=total,
            collected=len(keys),
            collected_sha256=collected_digest(keys),
            assigned=sum(len(c) for c in mine.values()),
            baseline_sha256="b" * 64 if baseline is not None else None,
        )
        suites = [SuiteData(s, dict(TARGETS), c) for s, c in sorted(mine.items()) if c]
        report = decide(
            suites, run=_run(info), policy=POLICY, baseline=baseline, baseline_name="base.json"
        )
        shards.append(Shard(f"shard-{k}.json", report))
    return whole, shards


def _rows(report: RunReport) -> list[dict[str, object]]:
    return [g.model_dump() for s in report.suites for g in s.gates]


@pytest.mark.parametrize("total", [1, 2, 5])
def test_merged_rows_equal_the_whole_run_exactly(total: int) -> None:
    whole, shards = _whole_and_shards(total)
    merged = merge_shards(list(reversed(shards)))
    assert _rows(merged) == _rows(whole)
    assert [s.model_dump() for s in merged.suites] == [s.model_dump() for s in whole.suites]
    assert (merged.verdict, merged.fails_run) == (whole.verdict, whole.fails_run)
    assert {g.gate for g in _rows_of(whole)} >= {"latency_p95_ms", "cost_per_call_usd"}


def _rows_of(report: RunReport) -> list[object]:
    return [g for s in report.suites for g in s.gates]


def test_merged_regression_rows_equal_the_whole_run_exactly() -> None:
    base, _ = _whole_and_shards(1)
    flipped = base.model_copy(deep=True)
    for case in flipped.suites[0].cases[:30]:  # the baseline passed more of them
        for t in case.trials:
            t.score, t.outcome = 1.0, "passed"
    whole, shards = _whole_and_shards(3, baseline=flipped)
    merged = merge_shards(
        shards, baseline=flipped, baseline_name="base.json", baseline_sha256="b" * 64
    )
    assert [s.regression for s in merged.suites] == [s.regression for s in whole.suites]
    assert _rows(merged) == _rows(whole)
    assert any(g["gate"] == "regression" for g in _rows(whole))


def test_a_shard_split_differently_is_refused() -> None:
    _, two = _whole_and_shards(2)
    _, three = _whole_and_shards(3)
    with pytest.raises(
        MergeError, match=r"shard-1.json is shard 1/3 but shard-1.json is shard 1/2"
    ):
        merge_shards([two[0], three[0]])
