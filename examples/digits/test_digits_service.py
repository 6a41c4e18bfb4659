"""The served digits model under production conditions: throughput and recovery.

A load test sends 1,200 requests from 8 concurrent clients to the running server; a
recovery drill deploys a bad model version to the running server, detects it
with a canary evaluation, rolls back, and times fault -> healthy again.
"""

from __future__ import annotations

import httpx
import pytest

from pytest_prodgate import Case, Model, load_cases

pytestmark = pytest.mark.prodgate(
    "digits-service",
    throughput_rps=25,  # 4. sustained successful requests/s (idle 400+; headroom for loaded CI)
    recovery_s=15,  # 5. bad version -> detected -> rolled back -> healthy (idle ~0.1 s)
)

CASES: list[Case] = [p.values[0] for p in load_cases("evals/digits_holdout.jsonl")]
CANARY = CASES[:24]


def canary_accuracy(http: httpx.Client) -> float:
    """A small sealed canary eval, run against whatever version is serving."""
    hits = 0
    for case in CANARY:
        response = http.post("/predict", json={"pixels": case.input})
        hits += response.json()["label"] == case.expected
    return hits / len(CANARY)


def test_sustained_throughput(prodgate_load, prodgate_model: Model) -> None:
    run = prodgate_load(
        prodgate_model,
        [case.input for case in CASES],
        concurrency=8,
        # A count, not a duration: a slow runner takes longer but still gets enough
        # time windows for an interval (>= 5 windows of ~5 latencies need ~200 here).
        requests=1200,
        warmup=40,
    )
    assert run.errors() == 0, f"{run.errors()} requests failed under load"


def test_bad_deploy_is_detected_and_rolled_back(prodgate_drill, http: httpx.Client) -> None:
    assert canary_accuracy(http) >= 0.9  # healthy before the fault
    with prodgate_drill("bad-deploy", poll_interval_s=0.02) as drill:
        http.post("/deploy", json={"version": "logreg-shuffled"})  # the fault
        drill.wait_until(lambda: canary_accuracy(http) < 0.5, timeout=10, step="detected")
        http.post("/rollback")
        drill.wait_until(lambda: canary_accuracy(http) >= 0.9, timeout=10, step="recovered")
    assert drill.recovered
