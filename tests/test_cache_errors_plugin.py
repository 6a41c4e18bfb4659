"""``--prodgate-cache-errors`` in real runs: failed calls journaled, replayed only on request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import RunFn, read_report

CONFTEST = """
import os
import pathlib

import pytest
from pytest_prodgate import Model, Pricing

HERE = pathlib.Path(__file__).parent


def answer(x):
    with open(HERE / "calls.txt", "a", encoding="utf-8") as fh:
        fh.write(f"{x}\\n")
    failing = HERE / "failing.txt"
    if failing.exists() and x in failing.read_text().split():
        raise ConnectionError(f"upstream refused {x} for key {os.environ['SVC_API_KEY']}")
    return {"text": x, "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


@pytest.fixture(scope="session")
def prodgate_model():
    return Model(answer, name="flaky", version="1",
                 pricing=Pricing(input_per_mtok=1000, output_per_mtok=1000))
"""

DIRECT = """
import pytest

pytestmark = pytest.mark.prodgate("flaky", accuracy_floor=0.3, error_rate_max=0.5)

@pytest.mark.parametrize("i", range(20))
def test_flaky(prodgate_model, i):
    assert prodgate_model(f"q{i}")["text"] == f"q{i}"
"""

AHEAD = """
import pytest
from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate("ahead", accuracy_floor=0.3, error_rate_max=0.5)

@pytest.mark.parametrize("case", load_cases("cases.jsonl"))
def test_ahead(prodgate_output, case):
    assert prodgate_output["text"] == case.expected
"""

FAILING = ["q0", "q5", "q10", "q15"]
SECRET = "supersecretvalue123"


@pytest.fixture
def flaky(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("SVC_API_KEY", SECRET)
    project.makeconftest(CONFTEST)
    project.makepyfile(test_ce_flaky=DIRECT)
    rows = [json.dumps({"id": f"a{i}", "input": f"q{i}", "expected": f"q{i}"}) for i in range(20)]
    project.path.joinpath("cases.jsonl").write_text("\n".join(rows) + "\n")
    project.makepyfile(test_ce_ahead=AHEAD)
    (project.path / "failing.txt").write_text(" ".join(FAILING))
    return project


def _calls(project: pytest.Pytester) -> list[str]:
    path = project.path / "calls.txt"
    return path.read_text().splitlines() if path.exists() else []


def _all_calls(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for s in report["suites"]
        for case in s["cases"]
        for t in case["trials"]
        for c in t["calls"]
    ]


def _gates(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (s["name"], g["gate"], g["estimate"], g["lower"], g["upper"], g["n"], g["verdict"])
        for s in report["suites"]
        for g in s["gates"]
    ]


def _trials(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (case["id"], t["outcome"], t["reason"])
        for s in report["suites"]
        for case in s["cases"]
        for t in case["trials"]
    )


def _failed(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (c["error"], c["error_message"], c["timed_out"], c["latency_ms"], c["retries"])
        for c in _all_calls(report)
        if not c["ok"]
    )


@pytest.mark.xdist_modes
def test_with_cache_errors_a_recorded_failure_replays_as_that_failure(
    run: RunFn, flaky: pytest.Pytester
) -> None:
    first = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r1.json")
    assert len(_calls(flaky)) == 40
    journal = flaky.path / "cache" / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sum(not r["call"].get("ok", True) for r in records) == 8
    assert SECRET not in journal.read_text()
    second = run(
        "--prodgate",
        "--prodgate-cache=cache",
        "--prodgate-cache-errors",
        "--prodgate-report=r2.json",
    )
    assert second.ret == first.ret
    assert len(_calls(flaky)) == 40  # not one call: the failures replayed too
    r1, r2 = read_report(flaky.path / "r1.json"), read_report(flaky.path / "r2.json")
    assert (r1["run"].get("cache_errors", False), r2["run"]["cache_errors"]) == (False, True)
    assert _gates(r2) == _gates(r1)  # the error-rate gate counts the replayed failures
    assert _trials(r2) == _trials(r1)  # the same model errors, named the same
    assert _failed(r2) == _failed(r1)
    message = "upstream refused q0 for key [REDACTED]"
    assert ("ConnectionError", message) in {(f[0], f[1]) for f in _failed(r2)}
    calls = _all_calls(r2)
    assert len(calls) == 40
    assert all(c["replayed"] and c["recorded_at"] for c in calls)
    assert sum(not c["ok"] for c in calls) == 8
    for suite in r2["suites"]:
        assert (suite["fresh_calls"], suite["replayed_calls"]) == (0, 20)
        assert suite["fresh_cost_usd"] is None
        errors = next(g for g in suite["gates"] if g["gate"] == "error_rate_max")
        assert errors["estimate"] == pytest.approx(4 / 20)
    second.stdout.fnmatch_lines(
        [
            "prodgate: note: cache: *cache: 40 of 40 model calls replayed (fresh spend $0.0000,"
            " saved $*); 8 of them replay recorded failures (--prodgate-cache-errors)"
        ]
    )
    assert SECRET not in second.stdout.str()
    assert journal.read_text().count("\n") == 40  # a replay writes nothing


@pytest.mark.xdist_modes
def test_without_cache_errors_a_recorded_failure_is_called_again_and_a_success_then_wins(
    run: RunFn, flaky: pytest.Pytester
) -> None:
    run("--prodgate", "--prodgate-cache=cache")
    assert len(_calls(flaky)) == 40
    again = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r2.json")
    assert sorted(_calls(flaky)[40:]) == sorted(FAILING * 2)  # the failures, nothing else
    again.stdout.fnmatch_lines(
        [
            "prodgate: note: cache: 8 model calls whose recorded call had failed were made again"
            " (--prodgate-cache-errors replays recorded failures instead)"
        ]
    )
    r2 = read_report(flaky.path / "r2.json")
    assert sorted(c["replayed"] for c in _all_calls(r2) if not c["ok"]) == [False] * 8
    (flaky.path / "failing.txt").unlink()  # the service is back
    run("--prodgate", "--prodgate-cache=cache")
    assert len(_calls(flaky)) == 40 + 8 + 8
    last = run(
        "--prodgate",
        "--prodgate-cache=cache",
        "--prodgate-cache-errors",
        "--prodgate-report=r4.json",
    )
    assert last.ret == 0
    assert len(_calls(flaky)) == 56  # the successes recorded last replay, not the failures
    calls = _all_calls(read_report(flaky.path / "r4.json"))
    assert all(c["replayed"] and c["ok"] for c in calls)
    assert "recorded failures" not in last.stdout.str()


def test_refresh_with_cache_errors_calls_everything(run: RunFn, flaky: pytest.Pytester) -> None:
    run("--prodgate", "--prodgate-cache=cache", "test_ce_flaky.py")
    run(
        "--prodgate",
        "--prodgate-cache=cache",
        "--prodgate-cache-mode=refresh",
        "--prodgate-cache-errors",
        "test_ce_flaky.py",
    )
    assert len(_calls(flaky)) == 40


def test_the_option_has_an_ini_key(run: RunFn, flaky: pytest.Pytester) -> None:
    run("--prodgate", "--prodgate-cache=cache", "test_ce_flaky.py")
    flaky.makeini("[pytest]\nprodgate_cache_errors = true\n")
    result = run("--prodgate", "--prodgate-cache=cache", "test_ce_flaky.py")
    assert len(_calls(flaky)) == 20
    result.stdout.fnmatch_lines(["*4 of them replay recorded failures (--prodgate-cache-errors)"])


def test_a_damaged_failed_record_is_named_by_field_and_its_call_made_again(
    run: RunFn, flaky: pytest.Pytester
) -> None:
    run("--prodgate", "--prodgate-cache=cache", "test_ce_flaky.py")
    journal = flaky.path / "cache" / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    bad = [n for n, r in enumerate(records) if r["call"].get("ok") is False]
    records[bad[0]]["call"]["error"] = "os.system('echo hacked')"
    records[bad[1]]["call"]["cost_usd"] = -5
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run(
        "--prodgate", "--prodgate-cache=cache", "--prodgate-cache-errors", "test_ce_flaky.py"
    )
    warning = f"prodgate: WARNING: cache: {journal}"
    result.stdout.fnmatch_lines(
        [
            f"{warning}:{bad[0] + 1}: bad call.error (\"os.system('echo hacked')\": a failed"
            " call's must be the name of its exception class): skipped",
            f"{warning}:{bad[1] + 1}: bad call.cost_usd (-5: a failed call returned no"
            " response, so it must be null): skipped",
        ]
    )
    assert len(_calls(flaky)) == 20 + 2  # the two damaged records were called again
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_cache_errors_without_a_cache_is_inert(run: RunFn, flaky: pytest.Pytester) -> None:
    result = run("--prodgate", "--prodgate-cache-errors", "test_ce_flaky.py")
    assert "prodgate: note: cache" not in result.stdout.str()
    assert not list(Path(flaky.path).glob("**/journal.jsonl"))
    assert len(_calls(flaky)) == 20
