"""conftest.example.py works as shipped: token pricing, timeout and retries on a chat client."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import RunFn, read_report

EXAMPLE = Path(__file__).resolve().parents[1] / "conftest.example.py"

SUITE = '''
import itertools
from types import SimpleNamespace

import pytest
from conftest import answer_text

pytestmark = pytest.mark.prodgate("llm", accuracy_floor=0.5, cost_per_call_usd=0.01)


class FakeCompletions:
    """Shaped like a chat SDK's client.chat.completions; the second call to q1 fails once."""

    def __init__(self):
        self.calls = itertools.count()

    def create(self, *, model, temperature, messages):
        question = messages[-1]["content"]
        if question == "q1" and next(self.calls) == 0:
            raise ConnectionError("transient")
        return SimpleNamespace(
            choices=[SimpleNamespace(message=SimpleNamespace(content=question.upper()))],
            usage=SimpleNamespace(prompt_tokens=1000, completion_tokens=200),
        )


@pytest.fixture(scope="session")
def llm_client():
    # Overrides the conftest's real SDK client: no network, same response shape.
    completions = FakeCompletions()
    return SimpleNamespace(chat=SimpleNamespace(completions=completions))


@pytest.mark.parametrize("q", ["q0", "q1", "q2"])
def test_answers(prodgate_model, q):
    assert answer_text(prodgate_model(q)) == q.upper()
'''


def test_conftest_example_prices_and_retries(run: RunFn, project: pytest.Pytester) -> None:
    project.makeconftest(EXAMPLE.read_text(encoding="utf-8"))
    project.makepyfile(test_llm=SUITE)
    result = run("--prodgate", "--prodgate-report=r.json", "--prodgate-inconclusive=warn")
    assert result.ret == 0, result.stdout.str()
    report = read_report(project.path / "r.json")
    cases = {c["id"]: c for c in report["suites"][0]["cases"]}
    # 1,000 prompt tokens at $0.15/M + 200 completion tokens at $0.60/M
    assert cases["q0"]["cost_usd"] == pytest.approx(1000 * 0.15e-6 + 200 * 0.60e-6)
    assert cases["q0"]["input_tokens"] == 1000
    call = cases["q1"]["trials"][0]["calls"][0]
    assert call["retries"] == 1
    assert call["ok"] is True
    assert report["run"]["model_name"] == "gpt-4o-mini-2024-07-18"
    assert report["run"]["model_version"] == "v1"
