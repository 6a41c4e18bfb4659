"""The cost gate end to end: without ``cost_cap_usd`` it never PASSes (SPEC §6)."""

from __future__ import annotations

import pytest

from conftest import RunFn, read_report

CONFTEST = """
import pytest
from pytest_prodgate import Model

PRICE = float(__import__("os").environ.get("PRICE", "0.00002"))


@pytest.fixture(scope="session")
def prodgate_model():
    return Model(lambda x: x, name="flat", version="1", cost=lambda _out: PRICE)
"""

SUITE = """
import pytest

pytestmark = pytest.mark.prodgate("bill", cost_per_call_usd=0.00005{cap})

@pytest.mark.parametrize("i", range(40))
def test_bill(prodgate_model, i):
    assert prodgate_model(i) == i
"""

NO_CAP = "declare cost_cap_usd (the most one call can cost) to let this gate pass."


@pytest.mark.xdist_modes
def test_without_a_cap_a_cost_under_budget_is_inconclusive_and_asks_for_the_cap(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makeconftest(CONFTEST)
    project.makepyfile(test_bill=SUITE.format(cap=""))
    result = run("--prodgate", "--prodgate-report=r.json")
    result.stdout.fnmatch_lines(
        [
            "bill*cost_per_call_usd*<= 5.00e-05*2.00e-05*[[]1.*e-05, ∞[]]*40*INCONCLUSIVE",
            "bill cost_per_call_usd INCONCLUSIVE: mean cost per call (USD) 0.00002; without "
            f"a cap it has no upper bound: {NO_CAP}",
            "*No number of calls shows an uncapped mean cost within budget*",
            "prodgate: FAILED — 1 inconclusive gate*",
        ]
    )
    assert result.ret == 1
    (gate,) = read_report(project.path / "r.json")["suites"][0]["gates"]
    assert (gate["verdict"], gate["method"], gate["upper"], gate["to_resolve"]) == (
        "INCONCLUSIVE",
        "betting-lower",
        None,
        None,
    )


def test_with_the_cap_the_same_costs_pass(run: RunFn, project: pytest.Pytester) -> None:
    project.makeconftest(CONFTEST)
    project.makepyfile(test_bill=SUITE.format(cap=", cost_cap_usd=0.00002"))
    result = run("--prodgate", "--prodgate-report=r.json")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["bill*cost_per_call_usd*<= 5.00e-05*2.00e-05*40*PASS"])
    gates = read_report(project.path / "r.json")["suites"][0]["gates"]
    (cost,) = [g for g in gates if g["gate"] == "cost_per_call_usd"]
    assert (cost["verdict"], cost["method"]) == ("PASS", "betting")


def test_without_a_cap_a_cost_clearly_over_budget_fails(
    run: RunFn, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRICE", "0.0001")
    project.makeconftest(CONFTEST)
    project.makepyfile(test_bill=SUITE.format(cap=""))
    result = run("--prodgate")
    result.stdout.fnmatch_lines(
        [
            "bill*cost_per_call_usd*<= 5.00e-05*1.00e-04*[[]8.*e-05, ∞[]]*40*FAIL",
            "bill cost_per_call_usd FAIL: mean cost per call (USD) 0.0001; the 95% "
            "interval's lower bound * > 0.00005.",
        ]
    )
    assert result.ret == 1


def test_inconclusive_warn_lets_the_uncapped_gate_through(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makeconftest(CONFTEST)
    project.makepyfile(test_bill=SUITE.format(cap=""))
    result = run("--prodgate", "--prodgate-inconclusive=warn")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"bill cost_per_call_usd INCONCLUSIVE: *{NO_CAP}"])
