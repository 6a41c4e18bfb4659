"""The latency gates count cases, not calls, when a case made several calls (SPEC §6).

A case's trials share its input: pooled as independent calls the p95 bounds erred
13-27% a side (``benchmarks/sim_latency_clusters.py``).
"""

from __future__ import annotations

import pytest

from conftest import RunFn, read_report

SUITE = """
import time
import pytest
from pytest_prodgate import Model

@pytest.fixture(scope="session")
def prodgate_model():
    # A case's latency is set by its input (1-3 ms): its trials are alike.
    return Model(lambda i: time.sleep(0.001 * (1 + i % 3)) or i)

pytestmark = pytest.mark.prodgate("lat", latency_p50_ms=5_000)

@pytest.mark.parametrize("i", range(CASES))
def test_case(prodgate_model, i):
    assert prodgate_model(i) == i
"""


def _latency_gate(project: pytest.Pytester) -> dict[str, object]:
    (gate,) = read_report(project.path / "r.json")["suites"][0]["gates"]
    return gate


@pytest.mark.xdist_modes
def test_trials_of_a_case_are_one_unit_of_the_latency_bounds(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(test_suite=SUITE.replace("CASES", "12"))
    result = run("--prodgate", "--prodgate-trials=4", "--prodgate-report=r.json")
    gate = _latency_gate(project)
    assert (gate["method"], gate["n"]) == ("quantile-cluster-betting", 48)
    assert gate["verdict"] == "PASS", result.stdout.str()
    assert result.ret == 0


def test_too_few_cases_say_so_however_many_trials(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=SUITE.replace("CASES", "2"))
    result = run("--prodgate", "--prodgate-trials=20", "--prodgate-report=r.json")
    gate = _latency_gate(project)
    assert (gate["verdict"], gate["method"]) == ("INCONCLUSIVE", "quantile-cluster-betting")
    result.stdout.fnmatch_lines(["*The 40 calls came from 2 cases*the bounds count cases*"])
    # one call per case: the exact order-statistic bounds, as before
    result = run("--prodgate", "--prodgate-report=r.json")
    assert _latency_gate(project)["method"] == "quantile-order-statistic"
