"""``--prodgate-shard=K/N`` then ``prodgate merge`` gives the figures and verdicts of one run.

The project has trials, slices, a baseline and a lock. It runs once unsharded
and once as three shards (without xdist and with ``-n 2``); the merged report
must equal the single run's: every non-timing figure exactly, every verdict
(the latency gate has a wide budget, so its verdict does not depend on timing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_prodgate.cli.main import main

from conftest import is_timing_gate, read_report

ROWS = [
    {
        "id": f"q{i}",
        "input": f"boom{i}" if i % 3 == 0 else f"x{i}",
        "expected": f"x{i}" if i % 5 else f"other{i}",
        "tags": ["a" if i % 2 else "b"],
    }
    for i in range(30)
]

SUITE = """
import pytest
from pytest_prodgate import load_cases

@pytest.mark.prodgate(
    "qa",
    accuracy_floor=0.2,
    slice_floors={"a": 0.1, "b": 0.1},
    latency_p50_ms=60000,
    max_regression=0.0,  # exact McNemar: 8 of 30 regressed FAILs a zero margin
    trials=2,
)
@pytest.mark.parametrize("case", load_cases("evals/qa.jsonl"))
def test_qa(prodgate_model, case):
    assert prodgate_model(case.input) == case.expected

def test_ordinary():
    pass
"""

#: The baseline model answers every case; the current one echoes the "boom" inputs.
QA_MODEL = """
def good(x):
    return "x" + x[4:] if x.startswith("boom") else x

def echo(x):
    return x
"""

#: Gate fields that depend on nothing but the cases' scores and the seed.
TIMING_FREE = ("estimate", "lower", "upper", "reason", "hint", "to_resolve")


@pytest.fixture
def sharded(project: pytest.Pytester) -> pytest.Pytester:
    evals = project.path / "evals"
    evals.mkdir()
    (evals / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    project.makepyfile(test_suite=SUITE, qamodel=QA_MODEL)
    base = ["-p", "no:cacheprovider"]
    assert project.runpytest(*base, "--prodgate-lock").ret == 0
    result = project.runpytest(
        *base, "--prodgate", "--prodgate-model=qamodel:good", "--prodgate-report=base.json"
    )
    assert (project.path / "base.json").exists(), result.stdout.str()
    return project


def _gating_args(project: pytest.Pytester) -> list[str]:
    return [
        "-p",
        "no:cacheprovider",
        "--prodgate",
        "--prodgate-model=qamodel:echo",
        f"--prodgate-baseline={project.path / 'base.json'}",
    ]


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    """What must be equal: every gate (timing figures left out), suite summaries, cases."""
    suites = []
    for s in report["suites"]:
        gates = [
            {k: v for k, v in g.items() if not (is_timing_gate(g["gate"]) and k in TIMING_FREE)}
            for g in s["gates"]
        ]
        cases = [
            (
                c["id"],
                [t["score"] for t in c["trials"]],
                c["tags"],
                c["pass_rate"],
                [t["outcome"] for t in c["trials"]],
            )
            for c in s["cases"]
        ]
        keep = ("name", "targets", "verdict", "counts", "slices", "trials", "pass_all_rate")
        suites.append(
            {
                **{k: s[k] for k in keep},
                "flaky": s["flaky_cases"],
                "regression": s["regression"],
                "notes": s["notes"],
                "gates": gates,
                "cases": cases,
            }
        )
    return {
        "verdict": report["verdict"],
        "fails_run": report["fails_run"],
        "notes": report["notes"],
        "suites": suites,
    }


@pytest.mark.parametrize("shard_xdist", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_merged_shards_equal_one_run(
    sharded: pytest.Pytester, shard_xdist: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _gating_args(sharded)
    single = sharded.runpytest(*args, "--prodgate-report=single.json")
    assert single.ret == 1, single.stdout.str()  # the boom cases regress against the baseline
    shards = []
    for k in (1, 2, 3):
        out = f"shard{k}.json"
        result = sharded.runpytest(
            *shard_xdist, *args, f"--prodgate-shard={k}/3", f"--prodgate-report={out}"
        )
        assert result.ret == 0, result.stdout.str()  # a shard never fails on a gate
        result.stdout.fnmatch_lines([f"prodgate: shard {k}/3 — * measured, not decided*"])
        shards.append(read_report(sharded.path / out))
    ids = [{c["id"] for s in r["suites"] for c in s["cases"]} for r in shards]
    assert all(ids), "every shard got cases"
    assert sum(len(i) for i in ids) == len(set().union(*ids)) == len(ROWS)
    for r in shards:
        assert r["fails_run"] is False
        assert {g["verdict"] for s in r["suites"] for g in s["gates"]} == {"SHARD"}
        assert all(len(c["trials"]) == 2 for s in r["suites"] for c in s["cases"])

    monkeypatch.chdir(sharded.path)
    baseline = str(sharded.path / "base.json")
    files = ["shard3.json", "shard1.json", "shard2.json"]  # any order
    rc = main(["merge", *files, "-o", "merged.json", "--baseline", baseline])
    assert rc == single.ret == 1
    merged = read_report(sharded.path / "merged.json")
    expected = read_report(sharded.path / "single.json")
    assert _comparable(merged) == _comparable(expected)
    verdicts = {g["gate"]: g["verdict"] for g in expected["suites"][0]["gates"]}
    assert verdicts["regression"] == "FAIL", verdicts
    assert verdicts["latency_p50_ms"] == "PASS", verdicts
    assert merged["run"]["shard"] is None
    # and the merged report re-gates to itself, like any report
    assert main(["gate", "merged.json", "--baseline", str(sharded.path / "base.json")]) == 1


def test_merge_needs_the_baseline_the_shards_ran_with(
    sharded: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _gating_args(sharded)
    for k in (1, 2):
        sharded.runpytest(*args, f"--prodgate-shard={k}/2", f"--prodgate-report=s{k}.json")
    monkeypatch.chdir(sharded.path)
    capsys.readouterr()
    assert main(["merge", "s1.json", "s2.json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]]
    assert "the shards ran against a baseline" in err[0]
    assert "give it with --baseline" in err[0]
    Path(sharded.path / "other.json").write_text((sharded.path / "s1.json").read_text())
    assert main(["merge", "s1.json", "s2.json", "--baseline", "other.json"]) == 2
    assert "not the baseline the shards ran against" in capsys.readouterr().err


TWO_SUITES = """
import pytest

@pytest.mark.prodgate("big", accuracy_floor=0.2)
@pytest.mark.parametrize("q", [f"q{i}" for i in range(12)])
def test_big(prodgate_model, q):
    assert prodgate_model(q) == q

@pytest.mark.prodgate("tiny", accuracy_floor=0.02)  # one case: Clopper-Pearson lower 0.025
def test_tiny(prodgate_model):
    assert prodgate_model("t") == "t"
"""


def test_a_locked_suite_in_another_shard_is_not_stale(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard without any case of a locked suite does not call that suite ungated."""
    from pytest_prodgate.plugin.shard import shard_of

    project.makepyfile(test_suite=TWO_SUITES)
    base = ["-p", "no:cacheprovider"]
    assert project.runpytest(*base, "--prodgate-lock").ret == 0
    args = [*base, "--prodgate", "--prodgate-model=mymodel:echo"]
    assert project.runpytest(*args, "--prodgate-report=single.json").ret == 0
    tiny_case = "test_suite.py::test_tiny"
    other = 3 - shard_of("tiny", tiny_case, 2)
    for k in (1, 2):
        project.runpytest(*args, f"--prodgate-shard={k}/2", f"--prodgate-report=s{k}.json")
    without_tiny = read_report(project.path / f"s{other}.json")
    assert [s["name"] for s in without_tiny["suites"]] == ["big"]
    assert without_tiny["notes"] == []
    monkeypatch.chdir(project.path)
    assert main(["merge", "s1.json", "s2.json", "-o", "merged.json"]) == 0
    merged = read_report(project.path / "merged.json")
    assert _comparable(merged) == _comparable(read_report(project.path / "single.json"))


SECRET_IDS = """
import random
import pytest

# Ids whose secret sorts them differently from their redacted form: "[REDACTED] q<i>"
# sorts by i, the raw ids by their random tokens.
TOKENS = [f"sk-{random.Random(i).randrange(10**12):012d}" for i in range(40)]

@pytest.mark.prodgate("graded", accuracy_floor=0.3, cost_per_call_usd=0.01)
@pytest.mark.parametrize("i", range(40), ids=[f"{t} q{i}" for i, t in enumerate(TOKENS)])
def test_graded(prodgate_model, prodgate_case, i):
    prodgate_model(i)
    prodgate_case.add_cost(0.001 * (1 + i % 7))
    prodgate_case.score(random.Random(i).random())
"""


def test_ids_with_secrets_merge_to_the_figures_of_one_run(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The betting bounds depend on the cases' order: the run must gate in the order a
    # merge of its redacted shards can rebuild.
    project.makepyfile(test_suite=SECRET_IDS)
    args = ["-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo"]
    project.runpytest(*args, "--prodgate-report=single.json")
    for k in (1, 2):
        project.runpytest(*args, f"--prodgate-shard={k}/2", f"--prodgate-report=s{k}.json")
    monkeypatch.chdir(project.path)
    main(["merge", "s1.json", "s2.json", "-o", "merged.json"])
    single = read_report(project.path / "single.json")
    assert "sk-" not in (project.path / "single.json").read_text()
    methods = {g["gate"]: g["method"] for g in single["suites"][0]["gates"]}
    assert methods == {"accuracy_floor": "betting", "cost_per_call_usd": "betting-lower"}
    assert _comparable(read_report(project.path / "merged.json")) == _comparable(single)
