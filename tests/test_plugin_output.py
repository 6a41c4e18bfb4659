"""``prodgate_output`` through the official openai SDK against the loopback server (SPEC §11).

Every scenario runs a real ``openai.OpenAI`` (or ``AsyncOpenAI``) client over a
socket to ``examples/llm/server.py``, started here in the test process; the
pytester project's conftest reads its URL from the environment (xdist workers
inherit it). The server counts requests, so "at most one call per case and
trial (plus retries), none for cases that do not run" is checked on the wire.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import gate_figures, read_report

_SERVER = Path(__file__).resolve().parents[1] / "examples" / "llm" / "server.py"


def _load_server() -> Any:
    name = "prodgate_llm_loopback_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _SERVER)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


server_module = _load_server()
ChatServer = server_module.ChatServer
count_tokens = server_module.count_tokens

N_CASES = 16
WRONG = {"q3", "q11"}  # the table answers these wrongly

CONFTEST = """
import os
import openai
import pytest
from pytest_prodgate import Model, Pricing

@pytest.fixture(scope="session")
def prodgate_model():
    kw = dict(base_url=os.environ["LOOPBACK_URL"], api_key="loopback", max_retries=0,
              timeout=60.0)  # connect included: a loaded machine may accept slowly
    asynchronous = os.environ.get("LOOPBACK_ASYNC") == "1"
    client = (openai.AsyncOpenAI if asynchronous else openai.OpenAI)(**kw)
    if asynchronous:
        async def ask(q):
            return await client.chat.completions.create(
                model="loopback", messages=[{"role": "user", "content": q}])
    else:
        def ask(q):
            return client.chat.completions.create(
                model="loopback", messages=[{"role": "user", "content": q}])
    return Model(
        ask, name="loopback", version="v1",
        pricing=Pricing(input_per_mtok=1.0, output_per_mtok=2.0),
        timeout_s=float(os.environ.get("LOOPBACK_TIMEOUT", "10")),
        retries=int(os.environ.get("LOOPBACK_RETRIES", "0")),
    )
"""

TEST_MODULE = """
import pytest
from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate(
    "chat", accuracy_floor=0.5, cost_per_call_usd=0.001, cost_cap_usd=0.001,
    error_rate_max=0.5{extra})

@pytest.mark.parametrize("case", load_cases("cases.jsonl"))
def test_chat(prodgate_output, case):
{body}
"""

BODY = "    assert prodgate_output.choices[0].message.content == case.expected\n"


def prompt(i: int) -> str:
    return f"q{i}"


def table() -> dict[str, str]:
    return {prompt(i): f"answer {i}" + (" wrong" if prompt(i) in WRONG else "") for i in range(99)}


def expected_cost(i: int) -> float:
    return (count_tokens(prompt(i)) * 1.0 + count_tokens(table()[prompt(i)]) * 2.0) / 1e6


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with ChatServer(table(), service_time_s=0.01) as srv:
        monkeypatch.setenv("LOOPBACK_URL", srv.base_url)
        monkeypatch.delenv("LOOPBACK_ASYNC", raising=False)
        yield srv


def make_project(
    pytester: pytest.Pytester, n: int = N_CASES, body: str = BODY, extra: str = ""
) -> None:
    pytester.makeconftest(CONFTEST)
    lines = [
        json.dumps({"id": prompt(i), "input": prompt(i), "expected": f"answer {i}"})
        for i in range(n)
    ]
    pytester.path.joinpath("cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pytester.makepyfile(test_eval=TEST_MODULE.format(body=body, extra=extra))


def calls_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c for s in report["suites"] for k in s["cases"] for t in k["trials"] for c in t["calls"]
    ]


def case_figures(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Everything about the cases that is not a timing."""
    out = []
    for s in report["suites"]:
        for k in s["cases"]:
            calls = [
                (c["ok"], c["error"], c["retries"], c["cost_usd"], c["input_tokens"],
                 c["output_tokens"], c["timed_out"], c["ahead"])
                for t in k["trials"] for c in t["calls"]
            ]  # fmt: skip
            out.append((k["id"], k["scores"], k["cost_usd"], k["error"], tuple(calls)))
    return sorted(out)


def assert_counts(result: pytest.RunResult, **expected: int) -> None:
    """The summary line's counts (``missed`` included), warnings aside."""
    counts = {k: v for k, v in result.parseoutcomes().items() if k not in ("warnings", "warning")}
    assert counts == expected, result.stdout.str()[-3000:]


def run_eval(pytester: pytest.Pytester, xdist_args: list[str], *args: str) -> pytest.RunResult:
    return pytester.runpytest(*xdist_args, "-p", "no:cacheprovider", "--prodgate", *args)


@pytest.mark.xdist_modes
def test_figures_are_the_same_at_concurrency_1_and_32(
    pytester: pytest.Pytester, server: Any, xdist_args: list[str]
) -> None:
    make_project(pytester)
    reports = []
    for c in ("1", "32"):
        server.reset_counts()
        result = run_eval(
            pytester, xdist_args, f"--prodgate-concurrency={c}", f"--prodgate-report=r{c}.json"
        )
        assert_counts(result, passed=N_CASES - len(WRONG), missed=len(WRONG))
        assert result.ret == 0
        # exactly one request per case, and each prompt once
        assert server.requests == N_CASES
        assert set(server.by_prompt.values()) == {1}
        reports.append(read_report(pytester.path / f"r{c}.json"))
    one, many = reports
    assert gate_figures(one) == gate_figures(many)
    assert case_figures(one) == case_figures(many)
    assert one["run"]["concurrency"] == 1
    assert many["run"]["concurrency"] == 32
    gates = {g["gate"]: g for g in many["suites"][0]["gates"]}
    assert gates["accuracy_floor"]["estimate"] == pytest.approx(1 - len(WRONG) / N_CASES)
    mean_cost = sum(expected_cost(i) for i in range(N_CASES)) / N_CASES
    assert gates["cost_per_call_usd"]["estimate"] == pytest.approx(mean_cost)
    calls = calls_of(many)
    assert len(calls) == N_CASES
    assert all(c["ahead"] and c["ok"] and c["in_flight"] >= 1 for c in calls)
    by_id = {k["id"]: k for k in many["suites"][0]["cases"]}
    assert by_id["q5"]["cost_usd"] == pytest.approx(expected_cost(5))
    assert by_id["q5"]["input_tokens"] == count_tokens("q5")


def test_only_cases_that_run_are_called(pytester: pytest.Pytester, server: Any) -> None:
    make_project(pytester, n=8)
    pytester.makepyfile(
        test_more="""
        import pytest
        from pytest_prodgate import load_cases

        pytestmark = pytest.mark.prodgate("more")
        CASES = load_cases("cases.jsonl")

        @pytest.mark.skip(reason="not today")
        @pytest.mark.parametrize("case", CASES)
        def test_skipped(prodgate_output, case):
            pass

        @pytest.mark.skipif(True, reason="never")
        @pytest.mark.parametrize("case", CASES)
        def test_skipif(prodgate_output, case):
            pass
        """
    )
    result = run_eval(pytester, [], "-k", "not q2 and not q6", "--prodgate-mode=report")
    assert_counts(result, passed=5, missed=1, skipped=12, deselected=6)
    assert server.requests == 6
    assert sorted(server.by_prompt) == ["q0", "q1", "q3", "q4", "q5", "q7"]


def test_a_test_that_also_calls_the_model_records_both(
    pytester: pytest.Pytester, server: Any
) -> None:
    body = "    again = prodgate_model(case.input + ' again')\n    assert again.usage\n" + BODY
    make_project(pytester, n=4, body=body)
    pytester.path.joinpath("test_eval.py").write_text(
        pytester.path.joinpath("test_eval.py")
        .read_text()
        .replace(
            "def test_chat(prodgate_output, case)",
            "def test_chat(prodgate_output, prodgate_model, case)",
        )
    )
    result = run_eval(pytester, [], "--prodgate-report=r.json", "--prodgate-mode=report")
    assert_counts(result, passed=3, missed=1)  # q3 is answered wrongly
    assert server.requests == 8
    report = read_report(pytester.path / "r.json")
    for case in report["suites"][0]["cases"]:
        (trial,) = case["trials"]
        assert [c["ahead"] for c in trial["calls"]] == [True, False]
        assert case["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in trial["calls"]))


def test_errors_timeouts_and_retries_through_the_sdk(
    pytester: pytest.Pytester, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.fail = {"q1": 500}
    server.slow = {"q2": 5.0}
    monkeypatch.setenv("LOOPBACK_TIMEOUT", "0.5")
    monkeypatch.setenv("LOOPBACK_RETRIES", "1")
    make_project(pytester, n=6)
    result = run_eval(pytester, [], "--prodgate-report=r.json", "--prodgate-mode=report")
    assert_counts(result, passed=3, missed=3)  # q3 is answered wrongly
    result.stdout.fnmatch_lines(
        ["*model error: InternalServerError*", "*model error: ModelTimeout*"]
    )
    assert server.by_prompt["q1"] == 2  # the call and its one retry
    assert server.by_prompt["q2"] == 2
    # at most one request per case plus its retry (a loaded machine may time out q0 too)
    assert all(server.by_prompt[prompt(i)] <= 2 for i in range(6))
    report = read_report(pytester.path / "r.json")
    by_id = {k["id"]: k for k in report["suites"][0]["cases"]}
    (failed,) = by_id["q1"]["trials"][0]["calls"]
    assert (failed["ok"], failed["error"], failed["retries"]) == (False, "InternalServerError", 1)
    (timed,) = by_id["q2"]["trials"][0]["calls"]
    assert timed["timed_out"]
    assert timed["latency_ms"] == pytest.approx(1000.0, abs=200)  # two attempts of 0.5 s
    assert timed["cost_usd"] is None
    gate = {g["gate"]: g for g in report["suites"][0]["gates"]}["error_rate_max"]
    assert gate["estimate"] == pytest.approx(2 / 6)


def test_429s_are_waited_out_and_reported_apart(pytester: pytest.Pytester, server: Any) -> None:
    make_project(pytester, n=16)
    result = run_eval(pytester, [], "--prodgate-report=free.json", "--prodgate-concurrency=8")
    assert result.ret == 0
    server.reset_counts()
    server.service_time_s = 0.05
    server.rate_limit_above = 2
    server.retry_after = "0.01"
    result = run_eval(pytester, [], "--prodgate-report=limited.json", "--prodgate-concurrency=8")
    assert result.ret == 0
    free = read_report(pytester.path / "free.json")
    limited = read_report(pytester.path / "limited.json")
    assert gate_figures(free)[0] == gate_figures(limited)[0]  # accuracy
    assert case_figures(free) == case_figures(limited)  # no errors, same costs and tokens
    calls = calls_of(limited)
    assert sum(c["rate_limited"] for c in calls) == server.limited > 0
    assert server.requests == 16 + server.limited
    assert server.max_in_flight <= 2
    assert all(c["retries"] == 0 and c["ok"] for c in calls)
    throttled = [c for c in calls if c["rate_limited"]]
    assert all(c["throttled_ms"] >= 10.0 for c in throttled)  # at least one Retry-After each
    result.stdout.fnmatch_lines(["*rate-limited attempt*throttled*not in latency*"])


@pytest.mark.xdist_modes
def test_exitfirst_starts_no_new_calls(
    pytester: pytest.Pytester, server: Any, xdist_args: list[str]
) -> None:
    body = "    if case.id == 'q2':\n        raise RuntimeError('harness bug')\n"
    make_project(pytester, n=20, body=body)
    result = run_eval(pytester, xdist_args, "-x", "--prodgate-concurrency=4")
    assert result.ret in (1, 2)  # xdist reports -x as interrupted
    workers = 2 if "2" in xdist_args else 1
    outcomes = result.parseoutcomes()
    ran = outcomes.get("passed", 0) + outcomes.get("failed", 0) + outcomes.get("missed", 0)
    assert ran < 20
    # at most the calls in flight (or done, not taken) when the run stopped are wasted
    assert server.requests <= ran + 4 * workers
    if workers == 1:
        assert server.requests <= 3 + 4


@pytest.mark.xdist_modes
def test_the_spend_cap_starts_no_new_call(
    pytester: pytest.Pytester, server: Any, xdist_args: list[str]
) -> None:
    make_project(pytester, n=20)
    cap = expected_cost(0) * 2.5  # reached after three calls
    result = run_eval(
        pytester, xdist_args, f"--prodgate-max-spend-usd={cap}", "--prodgate-concurrency=1",
        "--prodgate-report=r.json",
    )  # fmt: skip
    assert result.ret == 1
    report = read_report(pytester.path / "r.json")
    recorded = calls_of(report)
    workers = 2 if "2" in xdist_args else 1
    # Each process may have one call in flight when the cap is reached.
    assert 3 <= server.requests <= 3 + workers
    assert len(recorded) <= server.requests
    verdicts = {g["verdict"] for g in report["suites"][0]["gates"]}
    assert verdicts == {"INCOMPLETE"}


def test_each_trial_gets_its_own_call(pytester: pytest.Pytester, server: Any) -> None:
    make_project(pytester, n=5, extra=", trials=3")
    result = run_eval(pytester, [], "--prodgate-mode=report")
    assert_counts(result, passed=12, missed=3)
    assert server.requests == 15
    assert set(server.by_prompt.values()) == {3}


def test_an_async_client_runs_on_the_plugins_loop(
    pytester: pytest.Pytester, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_project(pytester, n=12)
    result = run_eval(pytester, [], "--prodgate-report=sync.json")
    assert result.ret == 0
    server.reset_counts()
    monkeypatch.setenv("LOOPBACK_ASYNC", "1")
    result = run_eval(pytester, [], "--prodgate-report=async.json")
    assert result.ret == 0
    assert server.requests == 12
    sync, asynchronous = (read_report(pytester.path / f) for f in ("sync.json", "async.json"))
    assert gate_figures(sync) == gate_figures(asynchronous)
    assert case_figures(sync) == case_figures(asynchronous)


def test_calls_in_flight_are_recorded(pytester: pytest.Pytester, server: Any) -> None:
    server.service_time_s = 0.3
    make_project(pytester, n=8)
    result = run_eval(pytester, [], "--prodgate-report=r.json", "--prodgate-mode=report")
    assert_counts(result, passed=7, missed=1)
    calls = calls_of(read_report(pytester.path / "r.json"))
    assert max(c["in_flight"] for c in calls) > 1
    assert server.max_in_flight > 1


@pytest.mark.parametrize("value", ["0", "-3", "many", "2.5"])
def test_bad_concurrency_is_a_usage_error(
    pytester: pytest.Pytester, server: Any, value: str
) -> None:
    make_project(pytester, n=3)
    result = run_eval(pytester, [], f"--prodgate-concurrency={value}")
    assert result.ret == 4
    assert "--prodgate-concurrency" in result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert server.requests == 0


def test_bad_concurrency_in_ini_names_the_key(pytester: pytest.Pytester, server: Any) -> None:
    make_project(pytester, n=3)
    pytester.makeini("[pytest]\nprodgate_concurrency = 0\n")
    result = run_eval(pytester, [])
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*prodgate_concurrency (ini)*"])
    assert server.requests == 0


def test_output_without_a_case_is_an_error_naming_the_test(
    pytester: pytest.Pytester, server: Any
) -> None:
    make_project(pytester, n=1)
    pytester.makepyfile(
        test_plain="""
        import pytest

        @pytest.mark.prodgate("plain")
        @pytest.mark.parametrize("x", [1])
        def test_plain(prodgate_output, x):
            pass
        """
    )
    result = run_eval(pytester, [], "--prodgate-mode=report", "test_plain.py")
    assert_counts(result, errors=1)
    result.stdout.fnmatch_lines(["*test_plain*prodgate_output needs the case's input*"])
    assert server.requests == 0
