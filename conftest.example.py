"""How a team wraps a hosted LLM client for pytest-prodgate. Copy into your conftest.py.

The eval cases only ever see ``prodgate_model``: a :class:`pytest_prodgate.Model`
that times every call, retries transient failures, enforces a timeout and prices
each call from the token usage the provider reports. Nothing here needs a network
to be imported; the client is built on first use.

Run the suite with::

    pytest evals/ --prodgate --prodgate-report=prodgate-report.json
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from pytest_prodgate import Model, Pricing

#: The model you ship, pinned to a dated version so a silent upgrade shows in the report.
LLM_MODEL = os.environ.get("LLM_MODEL", "gpt-4o-mini-2024-07-18")
#: Your provider's list price, USD per million tokens (input, output).
LLM_PRICING = Pricing(input_per_mtok=0.15, output_per_mtok=0.60)


@pytest.fixture(scope="session")
def llm_client() -> Any:
    """The provider's SDK client. Its own retries are off: Model(retries=...) counts them."""
    from openai import OpenAI  # or anthropic.Anthropic, or your own HTTP client

    return OpenAI(api_key=os.environ["OPENAI_API_KEY"], max_retries=0, timeout=30.0)


@pytest.fixture(scope="session")
def prodgate_model(llm_client: Any) -> Model:
    """The model under test. Its response keeps ``.usage``, so pricing applies per call."""

    def ask(question: str) -> Any:
        return llm_client.chat.completions.create(
            model=LLM_MODEL,
            temperature=0,
            messages=[
                {"role": "system", "content": "Answer in one short sentence."},
                {"role": "user", "content": question},
            ],
        )

    return Model(
        ask,
        name=LLM_MODEL,
        version=os.environ.get("PROMPT_VERSION", "v1"),
        pricing=LLM_PRICING,  # reads usage.prompt_tokens / usage.completion_tokens
        timeout_s=20.0,  # a hung call is a model error with 20 s of latency
        retries=2,  # retried calls count once, with their latency and cost summed
    )


def answer_text(response: Any) -> str:
    """The text of a chat completion (keep the response itself for cost accounting)."""
    return str(response.choices[0].message.content or "")
