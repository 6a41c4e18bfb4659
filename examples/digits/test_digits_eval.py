"""The sealed eval suite of the digits classifier, gated on its locked numbers.

Run with ``pytest examples/digits --prodgate``; without ``--prodgate`` these
cases are skipped, so the ordinary test run stays fast.
"""

from __future__ import annotations

import pytest

from pytest_prodgate import Case, Model, load_cases

from .model import PRICE_PER_CALL_USD

pytestmark = pytest.mark.prodgate(
    "digits",
    accuracy_floor=0.92,  # 1. quality floor on the sealed hold-out set
    latency_p95_ms=250,  # 2. p95 of one prediction (idle ~6 ms; headroom for loaded CI runners)
    cost_per_call_usd=0.00005,  # 3. mean cost of one prediction
    cost_cap_usd=PRICE_PER_CALL_USD,  # the most one prediction can cost: its flat price
    error_rate_max=0.02,  # share of cases whose model call raised or timed out
)


@pytest.mark.parametrize("case", load_cases("evals/digits_holdout.jsonl"))
def test_classifies_digit(prodgate_model: Model, case: Case) -> None:
    assert prodgate_model(case.input) == case.expected
