"""The sealed eval suite of an LLM support bot, its calls made ahead of the cases.

Run with ``pytest examples/llm --prodgate``. ``prodgate_output`` is the model's
response to the case's input: the plugin calls the model for the cases ahead of
them, up to ``--prodgate-concurrency`` (default 8) in flight, and each test
body only reads its answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_prodgate import Case, load_cases

from .conftest import COST_CAP_USD

pytestmark = pytest.mark.prodgate(
    "support-bot",
    accuracy_floor=0.85,  # 1. quality floor on the sealed set
    latency_p95_ms=1000,  # 2. p95 of one completion (service time 20 ms; room for loaded CI)
    cost_per_call_usd=0.00001,  # 3. mean cost of one completion, priced from its token usage
    cost_cap_usd=COST_CAP_USD,  # the most one completion can cost: max_tokens x price + prompt
    error_rate_max=0.05,  # share of cases whose call raised or timed out
)


def answer_text(response: Any) -> str:
    return str(response.choices[0].message.content)


@pytest.mark.parametrize("case", load_cases("evals/support.jsonl"))
def test_answers(prodgate_output: Any, case: Case) -> None:
    assert case.expected in answer_text(prodgate_output)
