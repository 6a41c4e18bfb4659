"""Wire the LLM example into pytest-prodgate: the official ``openai`` SDK, a real socket.

A session fixture starts :class:`~.server.ChatServer` (OpenAI's chat-completions
API, answering from ``evals/answers.json`` after a fixed service time) on a free
port of 127.0.0.1; ``prodgate_model`` is an ``openai.OpenAI`` client pointed at
it, wrapped in :class:`pytest_prodgate.Model`. The SDK's own retries are off
(``max_retries=0``) so that ``Model`` sees every 429 and handles it: it waits
for ``Retry-After``, lowers the calls in flight and reports the waiting apart
from latency. (Under xdist each worker runs its own server.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from pytest_prodgate import Model, Pricing

from .server import ChatServer

SERVICE_TIME_S = 0.02
#: A small model's list prices (USD per million tokens).
PRICING = Pricing(input_per_mtok=0.15, output_per_mtok=0.60)
#: No answer is longer than this (the request says so; the sealed answers are <= 4 tokens).
MAX_TOKENS = 16
#: No prompt is longer than this: the system message and the longest sealed question.
MAX_PROMPT_TOKENS = 64
#: The most one completion can cost, the cost gate's cap (USD).
COST_CAP_USD = PRICING.cost(MAX_PROMPT_TOKENS, MAX_TOKENS)


@pytest.fixture(scope="session")
def chat_server() -> Iterator[ChatServer]:
    answers = json.loads((Path(__file__).parent / "evals" / "answers.json").read_text())
    with ChatServer(answers, service_time_s=SERVICE_TIME_S, capacity=64) as server:
        yield server


@pytest.fixture(scope="session")
def prodgate_model(chat_server: ChatServer) -> Iterator[Model]:
    client = openai.OpenAI(
        base_url=chat_server.base_url, api_key="loopback-no-key", max_retries=0, timeout=10.0
    )

    def ask(question: str) -> Any:
        return client.chat.completions.create(
            model="loopback-small",
            max_tokens=MAX_TOKENS,
            messages=[
                {"role": "system", "content": "Answer with one number."},
                {"role": "user", "content": question},
            ],
        )

    yield Model(
        ask,
        name="loopback-small (openai SDK)",
        version="answers-v1",
        pricing=PRICING,
        timeout_s=5.0,
        retries=1,
        rate_limit_errors=(openai.RateLimitError,),
    )
    client.close()
