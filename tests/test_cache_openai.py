"""The cache end to end through the official ``openai`` SDK and a loopback server (SPEC §12).

The server (``examples/llm/server.py``) counts every request it gets: a second
run with the cache must send none, and still give every figure (latency,
tokens, cost, scores) exactly as recorded. The SDK's responses are pydantic
models (``ChatCompletion``), replayed as such. The API key is never journaled.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import RunFn, read_report

pytest.importorskip("openai")

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-loopback-secret-0123456789abcdef"
TABLE = {f"What is {i} + {i}?": str(2 * i) for i in range(80)}


def _server_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "prodgate_llm_server", ROOT / "examples/llm/server.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    chat = _server_module().ChatServer(TABLE, service_time_s=0.01)
    with chat:
        monkeypatch.setenv("LOOPBACK_URL", chat.base_url)
        monkeypatch.setenv("LOOPBACK_API_KEY", SECRET)
        yield chat


CONFTEST = """
import os

import openai
import pytest
from pytest_prodgate import Model, Pricing


@pytest.fixture(scope="session")
def prodgate_model():
    client = openai.OpenAI(
        base_url=os.environ["LOOPBACK_URL"], api_key=os.environ["LOOPBACK_API_KEY"], max_retries=0
    )

    def ask(prompt):
        return client.chat.completions.create(
            model="loopback", messages=[{"role": "user", "content": prompt}]
        )

    return Model(
        ask, name="loopback", version="2026-12",
        pricing=Pricing(input_per_mtok=1000, output_per_mtok=2000),
    )
"""

TEST = """
import pytest

pytestmark = pytest.mark.prodgate(
    "llm", accuracy_floor=0.5, latency_p95_ms=10_000, cost_per_call_usd=0.1,
    cost_cap_usd=0.04,  # prompts of <= 20 tokens at $1000/M, answers of <= 10 at $2000/M
)

@pytest.mark.parametrize("i", range(80))
def test_llm(prodgate_model, i):
    reply = prodgate_model(f"What is {i} + {i}?")
    assert type(reply).__name__ == "ChatCompletion"
    expected = str(2 * i) if i % 5 else "not the answer"
    assert reply.choices[0].message.content == expected
"""


def _figures(report: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    gates = [
        (g["gate"], g["estimate"], g["lower"], g["upper"], g["n"], g["verdict"])
        for s in report["suites"]
        for g in s["gates"]
    ]
    cases = [
        (
            c["id"],
            c["scores"],
            c["latencies_ms"],
            c["cost_usd"],
            c["input_tokens"],
            c["output_tokens"],
        )
        for s in report["suites"]
        for c in s["cases"]
    ]
    return gates, cases


@pytest.mark.xdist_modes
def test_the_openai_sdk_pays_once_and_replays_as_recorded(
    run: RunFn, project: pytest.Pytester, server: Any
) -> None:
    project.makeconftest(CONFTEST)
    project.makepyfile(test_llm=TEST)
    first = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r1.json")
    assert first.ret == 0
    assert first.parseoutcomes() == {"passed": 64, "missed": 16}
    assert server.requests == 80
    second = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r2.json")
    assert second.ret == 0
    assert second.parseoutcomes() == {"passed": 64, "missed": 16}
    assert server.requests == 80  # nothing reached the server
    r1, r2 = read_report(project.path / "r1.json"), read_report(project.path / "r2.json")
    assert _figures(r2) == _figures(r1)
    suite = r2["suites"][0]
    assert (suite["fresh_calls"], suite["replayed_calls"]) == (0, 80)
    assert suite["replayed_cost_usd"] == pytest.approx(r1["suites"][0]["fresh_cost_usd"], rel=1e-12)
    second.stdout.fnmatch_lines(["llm    latency_p95_ms * PASS (replayed)"])
    journal = (project.path / "cache" / "journal.jsonl").read_text()
    assert len(journal.splitlines()) == 80
    assert "openai.types.chat.chat_completion:ChatCompletion" in journal
    assert SECRET not in journal
    assert "authorization" not in journal.lower()


OUTPUT_TEST = """
import pytest
from pytest_prodgate import Case

pytestmark = pytest.mark.prodgate(
    "llm", accuracy_floor=0.5, cost_per_call_usd=0.1, cost_cap_usd=0.04
)

@pytest.mark.parametrize("case", [Case(id=f"c{i}", input=f"What is {i} + {i}?") for i in range(80)])
def test_llm(prodgate_output, case):
    i = int(case.id[1:])
    expected = str(2 * i) if i % 5 else "not the answer"
    assert prodgate_output.choices[0].message.content == expected
"""


@pytest.mark.xdist_modes
def test_calls_made_ahead_are_journaled_by_their_case_and_replayed(
    run: RunFn, project: pytest.Pytester, server: Any
) -> None:
    """prodgate_output's calls run outside the test body: the cache keys them by their case."""
    project.makeconftest(CONFTEST)
    project.makepyfile(test_llm=OUTPUT_TEST)
    args = ("--prodgate", "--prodgate-cache=cache", "--prodgate-concurrency=8")
    first = run(*args, "--prodgate-report=r1.json")
    assert first.ret == 0, first.stdout.str()
    assert first.parseoutcomes() == {"passed": 64, "missed": 16}
    assert server.requests == 80
    second = run(*args, "--prodgate-report=r2.json")
    assert second.ret == 0, second.stdout.str()
    assert second.parseoutcomes() == {"passed": 64, "missed": 16}
    assert server.requests == 80  # every call ahead was replayed: none reached the server
    r1, r2 = read_report(project.path / "r1.json"), read_report(project.path / "r2.json")
    assert _figures(r2) == _figures(r1)
    assert r2["suites"][0]["replayed_calls"] == 80
