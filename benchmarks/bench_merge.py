"""What ``prodgate merge`` costs over gating the same cases once (``prodgate gate``).

Run: ``.venv/bin/python benchmarks/bench_merge.py [--cases 1000 10000] [--shards 3]``

For each size, a synthetic run (one suite, one trial per case, an accuracy floor,
a slice floor and a p95 latency budget; bootstrap resamples 9999) is gated once
with :func:`~pytest_prodgate.gating.run.decide`; its cases are split into shards by
:func:`~pytest_prodgate.plugin.shard.shard_of` and each shard is gated as a shard
report. Then, timed in alternation (medians of ``--repeats``):

* ``regate``: :func:`~pytest_prodgate.gating.run.regate` of the whole report;
* ``merge``: :func:`~pytest_prodgate.gating.merge.merge_shards` of the shards
  (checks, pooling, then the same regate).

The merged gates are checked equal to the unsharded run's before timing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from pytest_prodgate.gating.aggregate import SuiteData
from pytest_prodgate.gating.merge import Shard, merge_shards
from pytest_prodgate.gating.run import GatePolicy, decide, regate
from pytest_prodgate.plugin.shard import collected_digest, shard_of
from pytest_prodgate.schema.report import (
    CallReport,
    CaseReport,
    RunInfo,
    RunReport,
    ShardInfo,
    TrialReport,
)

TARGETS = {"accuracy_floor": 0.8, "latency_p95_ms": 900.0, "slice_floors": {"a": 0.7}}


def _cases(n: int) -> list[CaseReport]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        score = 1.0 if rng.random() < 0.9 else 0.0
        latency = rng.lognormvariate(6.0, 0.3)
        trial = TrialReport(
            nodeid=f"t.py::t[q{i}]",
            outcome="passed" if score else "missed",
            score=score,
            calls=[CallReport(latency_ms=latency, ok=True)],
        )
        out.append(
            CaseReport(
                id=f"q{i}",
                suite="qa",
                tags=["a" if i % 2 else "b"],
                trials=[trial],
                scores=[score],
                latencies_ms=[latency],
                pass_rate=score,
            )
        )
    return out


def _run(shard: ShardInfo | None = None) -> RunInfo:
    return RunInfo(
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
        duration_s=1.0,
        plugin_version="bench",
        pytest_version="-",
        python_version="-",
        platform="-",
        seed=0,
        confidence=0.95,
        resamples=9999,
        ci_method="auto",
        mode="gate",
        shard=shard,
    )


POLICY = GatePolicy(0.95, 9999, 0, "auto", None, "gate")


def _reports(n: int, k: int) -> tuple[RunReport, list[Shard]]:
    cases = _cases(n)
    whole = decide([SuiteData("qa", dict(TARGETS), list(cases))], run=_run(), policy=POLICY)
    keys = {("qa", "t.py::t", c.id) for c in cases}
    shards = []
    for index in range(1, k + 1):
        mine = [c for c in cases if shard_of("qa", c.id, k) == index]
        info = ShardInfo(
            index=index,
            total=k,
            collected=n,
            collected_sha256=collected_digest(keys),
            assigned=len(mine),
        )
        report = decide([SuiteData("qa", dict(TARGETS), mine)], run=_run(info), policy=POLICY)
        shards.append(Shard(f"shard-{index}.json", report))
    return whole, shards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'cases':>8} {'shards':>6} {'regate s':>9} {'merge s':>8} {'merge/regate':>12}")
    for n in args.cases:
        whole, shards = _reports(n, args.shards)
        merged = merge_shards(shards)
        assert [g.model_dump() for g in merged.suites[0].gates] == [
            g.model_dump() for g in whole.suites[0].gates
        ], "merged gates differ from the unsharded run's"
        times: dict[str, list[float]] = {"regate": [], "merge": []}
        for _ in range(args.repeats):
            t = time.perf_counter()
            regate(whole)
            times["regate"].append(time.perf_counter() - t)
            t = time.perf_counter()
            merge_shards(shards)
            times["merge"].append(time.perf_counter() - t)
        r, m = statistics.median(times["regate"]), statistics.median(times["merge"])
        print(f"{n:>8,} {args.shards:>6} {r:>9.3f} {m:>8.3f} {m / r:>12.2f}")


if __name__ == "__main__":
    main()
