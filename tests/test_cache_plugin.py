"""``--prodgate-cache`` in real runs: pay once, honest replays, resume, bad input (SPEC §12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import RunFn, read_report

CONFTEST = """
import os
import random

import pytest
from pytest_prodgate import Model, Pricing

CALLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.txt")


def answer(x):
    with open(CALLS, "a", encoding="utf-8") as fh:
        fh.write(f"{x}\\n")
    text = x if not x.startswith("coin") else random.choice(["heads", "tails"])
    return {"text": text, "usage": {"prompt_tokens": len(x), "completion_tokens": 2}}


@pytest.fixture(scope="session")
def prodgate_model():
    return Model(
        answer,
        name="echo",
        version=os.environ.get("ECHO_VERSION", "1"),
        pricing=Pricing(input_per_mtok=1000, output_per_mtok=2000),
    )
"""

SUITES = {
    "test_det": """
        import pytest

        pytestmark = pytest.mark.prodgate(
            "det", accuracy_floor=0.5, latency_p95_ms=10_000, cost_per_call_usd=1.0,
            cost_cap_usd=0.01, error_rate_max=0.5,
        )

        @pytest.mark.parametrize("i", range(80))
        def test_det(prodgate_model, i):
            assert prodgate_model(f"q{i}")["text"] == f"q{i}"
            assert i % 7, f"case {i} missed"
        """,
    "test_coin": """
        import pytest

        pytestmark = pytest.mark.prodgate("coin", accuracy_floor=0.05, trials=3)

        @pytest.mark.parametrize("i", range(12))
        def test_coin(prodgate_model, i):
            assert prodgate_model(f"coin{i}")["text"] == "heads"
        """,
}


def _calls(project: pytest.Pytester) -> int:
    path = project.path / "calls.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _gates(report: dict[str, Any], suite: str | None = None) -> list[tuple[Any, ...]]:
    return [
        (s["name"], g["gate"], g["estimate"], g["lower"], g["upper"], g["n"], g["verdict"])
        for s in report["suites"]
        if suite is None or s["name"] == suite
        for g in s["gates"]
    ]


def _cases(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            c["id"],
            c["scores"],
            c["latencies_ms"],
            c["cost_usd"],
            c["input_tokens"],
            c["output_tokens"],
            [t["outcome"] for t in c["trials"]],
        )
        for s in report["suites"]
        for c in s["cases"]
    ]


@pytest.fixture
def cached(project: pytest.Pytester) -> pytest.Pytester:
    project.makeconftest(CONFTEST)
    project.makepyfile(**SUITES)
    return project


@pytest.mark.xdist_modes
def test_a_second_run_calls_nothing_and_replays_every_figure_as_recorded(
    run: RunFn, cached: pytest.Pytester
) -> None:
    plain = run("--prodgate", "--prodgate-report=r0.json")
    outcomes = plain.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("missed", 0) == 80 + 36
    assert _calls(cached) == 80 + 36
    first = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r1.json")
    assert first.ret == plain.ret
    assert _calls(cached) == 2 * (80 + 36)
    second = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r2.json")
    assert second.ret == first.ret
    assert _calls(cached) == 2 * (80 + 36)  # the model was not called at all
    r0, r1, r2 = (read_report(cached.path / f"r{i}.json") for i in range(3))
    # Every figure replays as recorded, timings and random answers included.
    assert _gates(r2) == _gates(r1)
    assert _cases(r2) == _cases(r1)
    # And a run without the cache gives the same non-timing figures.
    untimed = [g for g in _gates(r0, "det") if not g[1].startswith("latency_")]
    assert [g for g in _gates(r1, "det") if not g[1].startswith("latency_")] == untimed
    calls = [
        c for s in r2["suites"] for case in s["cases"] for t in case["trials"] for c in t["calls"]
    ]
    assert len(calls) == 116
    assert all(c["replayed"] and c["recorded_at"] for c in calls)
    assert all(
        case["replayed_calls"] == len(case["trials"]) for s in r2["suites"] for case in s["cases"]
    )
    det1 = next(s for s in r1["suites"] if s["name"] == "det")
    det2 = next(s for s in r2["suites"] if s["name"] == "det")
    assert (det1["fresh_calls"], det1["replayed_calls"]) == (80, 0)
    assert (det2["fresh_calls"], det2["replayed_calls"]) == (0, 80)
    assert det2["fresh_cost_usd"] is None
    assert det2["replayed_cost_usd"] == pytest.approx(det1["fresh_cost_usd"], rel=1e-12)
    latency = next(g for g in det2["gates"] if g["gate"] == "latency_p95_ms")
    assert latency["replayed"] == 80
    assert "80 of 80 latencies are replays" in latency["reason"]
    assert all(g["replayed"] == 0 for g in det2["gates"] if g["gate"] != "latency_p95_ms")
    second.stdout.fnmatch_lines(
        [
            "det    latency_p95_ms * PASS (replayed)",
            "prodgate: note: cache: *cache: 116 of 116 model calls replayed"
            " (fresh spend $0.0000, saved $*)",
        ]
    )


def test_an_interrupted_run_resumes_paying_only_for_what_it_had_not_done(
    run: RunFn, cached: pytest.Pytester
) -> None:
    run("--prodgate", "--prodgate-cache=cache", "-k", "test_det and (1 or 2)")
    done = _calls(cached)
    assert 0 < done < 80
    result = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r.json", "test_det.py")
    assert _calls(cached) == 80
    det = read_report(cached.path / "r.json")["suites"][0]
    assert (det["fresh_calls"], det["replayed_calls"]) == (80 - done, done)
    result.stdout.fnmatch_lines(["*latency_p95_ms * PASS (replayed)"])


def test_exclude_leaves_replays_out_of_latency_and_nothing_else(
    run: RunFn, cached: pytest.Pytester
) -> None:
    run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r1.json", "test_det.py")
    result = run(
        "--prodgate",
        "--prodgate-cache=cache",
        "--prodgate-cache-latency=exclude",
        "--prodgate-report=r2.json",
        "test_det.py",
    )
    assert result.ret == 1
    r1, r2 = read_report(cached.path / "r1.json"), read_report(cached.path / "r2.json")
    gates = {g["gate"]: g for g in r2["suites"][0]["gates"]}
    assert gates["latency_p95_ms"]["verdict"] == "NO_DATA"
    assert "every call was replayed from the cache" in gates["latency_p95_ms"]["reason"]
    others = [g for g in _gates(r1) if not g[1].startswith("latency_")]
    assert [g for g in _gates(r2) if not g[1].startswith("latency_")] == others
    assert r2["run"]["cache_latency"] == "exclude"


def test_exclude_gates_latency_on_the_fresh_calls_only(run: RunFn, cached: pytest.Pytester) -> None:
    run("--prodgate", "--prodgate-cache=cache", "test_det.py", "-k", "1 or 2 or 3")
    run(
        "--prodgate",
        "--prodgate-cache=cache",
        "--prodgate-cache-latency=exclude",
        "--prodgate-report=r.json",
        "test_det.py",
    )
    det = read_report(cached.path / "r.json")["suites"][0]
    latency = next(g for g in det["gates"] if g["gate"] == "latency_p95_ms")
    assert latency["n"] == det["fresh_calls"] == 80 - det["replayed_calls"]
    assert latency["replayed"] == 0
    assert f"{det['replayed_calls']:,} replayed calls are left out" in latency["reason"]


def test_a_new_model_version_or_refresh_calls_everything_again(
    run: RunFn, cached: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("--prodgate", "--prodgate-cache=cache", "test_det.py")
    monkeypatch.setenv("ECHO_VERSION", "2")
    run("--prodgate", "--prodgate-cache=cache", "test_det.py")
    assert _calls(cached) == 160
    run("--prodgate", "--prodgate-cache=cache", "--prodgate-cache-mode=refresh", "test_det.py")
    assert _calls(cached) == 240
    run("--prodgate", "--prodgate-cache=cache", "--prodgate-cache-mode=off", "test_det.py")
    assert _calls(cached) == 320
    run("--prodgate", "--prodgate-cache=cache", "test_det.py")
    assert _calls(cached) == 320


def test_the_spend_cap_counts_only_fresh_calls(run: RunFn, cached: pytest.Pytester) -> None:
    run("--prodgate", "--prodgate-cache=cache", "test_det.py")
    result = run(
        "--prodgate",
        "--prodgate-cache=cache",
        "--prodgate-max-spend-usd=0.001",
        "--prodgate-report=r.json",
        "test_det.py",
    )
    det = read_report(cached.path / "r.json")["suites"][0]
    assert det["counts"].get("not_run", 0) == 0
    assert det["replayed_calls"] == 80
    assert result.ret == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("file", "is a file, not a directory"),
        ("under-file", "cannot write the journal"),
    ],
)
def test_an_unusable_cache_directory_exits_4_before_any_call(
    run: RunFn, cached: pytest.Pytester, make: str, message: str
) -> None:
    (cached.path / "afile").write_text("x")
    target = "afile" if make == "file" else "afile/sub"
    result = run("--prodgate", f"--prodgate-cache={target}")
    assert result.ret == 4
    lines = [line for line in result.stderr.lines if "prodgate" in line]
    assert len(lines) == 1
    assert f"--prodgate-cache={cached.path / target}: " in lines[0]
    assert message in lines[0]
    assert _calls(cached) == 0
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.xdist_modes
def test_a_corrupt_journal_is_named_line_by_line_and_its_good_entries_still_replay(
    run: RunFn, cached: pytest.Pytester
) -> None:
    run("--prodgate", "--prodgate-cache=cache", "test_det.py")
    journal = cached.path / "cache" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    lines[3] = "{garbage"
    lines[10] = json.dumps({"v": 1, "key": "x"})
    journal.write_text("\n".join(lines) + "\n" + lines[20][:30])  # and a torn last record
    result = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r.json", "test_det.py")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            f"prodgate: WARNING: cache: {journal}:4: not valid JSON*: skipped",
            f"prodgate: WARNING: cache: {journal}:11: not a prodgate cache record*: skipped",
            f"prodgate: WARNING: cache: {journal}:81: incomplete last record*: skipped",
        ]
    )
    assert _calls(cached) == 82  # the two lost records were called again, nothing else
    det = read_report(cached.path / "r.json")["suites"][0]
    assert det["replayed_calls"] == 78
    assert "INTERNALERROR" not in result.stdout.str()


def test_a_response_the_journal_cannot_store_is_noted_once_and_still_recorded(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(
        test_opaque="""
        import pytest
        from pytest_prodgate import Model

        class Reply:
            def __init__(self, text):
                self.text = text

        CALLS = []

        @pytest.fixture(scope="session")
        def prodgate_model():
            def fn(x):
                CALLS.append(x)
                return Reply(x)
            return Model(fn, name="opaque", version="1")

        @pytest.mark.prodgate("op", accuracy_floor=0.1)
        @pytest.mark.parametrize("i", range(5))
        def test_op(prodgate_model, i):
            assert prodgate_model(f"q{i}").text == f"q{i}"
        """
    )
    for name in ("r1.json", "r2.json"):
        result = run("--prodgate", "--prodgate-cache=cache", f"--prodgate-report={name}")
        assert result.ret == 0
        result.stdout.fnmatch_lines(
            ["prodgate: note: cache: model 'opaque': not cached: a Reply is not JSON*"]
        )
        assert result.stdout.str().count("not cached") == 1
    report = read_report(project.path / "r2.json")
    calls = [c for case in report["suites"][0]["cases"] for t in case["trials"] for c in t["calls"]]
    assert len(calls) == 5
    assert not any(c["replayed"] for c in calls)
    assert all(c["ok"] and "not cached" in c["cache_note"] for c in calls)
    assert (project.path / "cache" / "journal.jsonl").read_text() == ""


def test_an_unversioned_model_is_warned_about_once(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_unversioned="""
        import pytest

        @pytest.mark.prodgate("u", accuracy_floor=0.1)
        @pytest.mark.parametrize("i", range(4))
        def test_u(prodgate_model, i):
            assert prodgate_model(f"q{i}") == f"q{i}"
        """
    )
    result = run("--prodgate", "--prodgate-cache=cache", "--prodgate-model=mymodel:echo")
    assert result.ret == 0
    assert result.stdout.str().count("has no version") == 1
    result.stdout.fnmatch_lines(["prodgate: note: cache: model 'mymodel:echo' has no version*"])


def test_without_the_option_nothing_is_journaled(run: RunFn, cached: pytest.Pytester) -> None:
    result = run("--prodgate", "test_det.py", "--prodgate-report=r.json")
    assert result.ret == 0
    assert "cache" not in result.stdout.str()
    report = read_report(cached.path / "r.json")
    assert report["run"]["cache_dir"] is None
    assert not list(Path(cached.path).glob("**/journal.jsonl"))


def test_prodgate_gate_regates_a_saved_report_without_its_replayed_latencies(
    run: RunFn, cached: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_prodgate.cli.main import main

    run("--prodgate", "--prodgate-cache=cache", "test_det.py")
    run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r.json", "test_det.py")
    capsys.readouterr()
    path = str(cached.path / "r.json")
    assert main(["gate", path]) == 0
    assert "PASS (replayed)" in capsys.readouterr().out
    assert main(["gate", path, "--cache-latency", "exclude"]) == 1
    out = capsys.readouterr().out
    assert "latency_p95_ms" in out
    assert "every call was replayed from the cache" in out


# ------------------------------------------------------------------------- damaged records

PRICED = """
import os

import pytest
from pytest_prodgate import Model

CALLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.txt")


def answer(x):
    with open(CALLS, "a", encoding="utf-8") as fh:
        fh.write(f"{x}\\n")
    return {"text": x, "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


@pytest.fixture(scope="session")
def prodgate_model():
    return Model(answer, name="priced", version="1", cost=lambda out: 0.003)
"""

COSTLY = """
import pytest

pytestmark = pytest.mark.prodgate(
    "costly", accuracy_floor=0.5, cost_per_call_usd=0.002, cost_cap_usd=0.01
)

@pytest.mark.parametrize("i", range(40))
def test_costly(prodgate_model, i):
    assert prodgate_model(f"q{i}")["text"] == f"q{i}"
"""


def _journal_lines(project: pytest.Pytester) -> tuple[Path, list[dict[str, Any]]]:
    journal = project.path / "cache" / "journal.jsonl"
    return journal, [json.loads(line) for line in journal.read_text().splitlines()]


@pytest.mark.xdist_modes
def test_a_record_with_a_bad_figure_is_named_by_field_and_called_again(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makeconftest(PRICED)
    project.makepyfile(test_costly=COSTLY)
    fresh = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r1.json")
    assert fresh.ret == 1  # $0.003 a call misses cost_per_call_usd=0.002
    fresh.stdout.fnmatch_lines(["costly  cost_per_call_usd * FAIL"])
    journal, records = _journal_lines(project)
    assert len(records) == 40
    records[0]["call"]["cost_usd"] = -5  # would pull the mean cost under the target
    records[1]["call"]["latency_s"] = float("nan")
    records[2]["call"]["latency_s"] = float("inf")
    records[3]["call"]["latency_s"] = 1e308
    records[4]["call"]["input_tokens"] = -3
    records[5]["recorded_at"] = "not a time"
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))  # NaN, Infinity literals
    result = run(
        "--prodgate",
        "--prodgate-cache=cache",
        "--prodgate-inconclusive=warn",
        "--prodgate-report=r2.json",
    )
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out
    day = "must be a number of seconds from 0 to under 86,400, a day"
    warning = f"prodgate: WARNING: cache: {journal}"
    expected = [
        f"{warning}:1: bad call.cost_usd (-5: must be null or a number of USD"
        " from 0 to under 10,000): skipped",
        f"{warning}:2: bad call.latency_s (NaN: {day}): skipped",
        f"{warning}:3: bad call.latency_s (Infinity: {day}): skipped",
        f"{warning}:4: bad call.latency_s (1e+308: {day}): skipped",
        f"{warning}:5: bad call.input_tokens (-3: must be null or a whole number >= 0): skipped",
        f'{warning}:6: bad recorded_at ("not a time": must be an ISO 8601 date and time): skipped',
    ]
    warnings = [line for line in result.stdout.lines if line.startswith("prodgate: WARNING")]
    assert warnings == expected  # one line each, printed once
    assert _calls(project) == 40 + 6  # the six damaged records were called again, nothing else
    assert result.ret == 1  # FAIL, as the fresh run: the damaged cost never reached the gate
    r1, r2 = read_report(project.path / "r1.json"), read_report(project.path / "r2.json")
    assert _gates(r2) == _gates(r1)
    assert r2["suites"][0]["gates"][1]["verdict"] == "FAIL"
    assert (r2["suites"][0]["fresh_calls"], r2["suites"][0]["replayed_calls"]) == (6, 34)
    notes = [n for n in r2["notes"] if "bad " in n]
    assert notes == [f"cache: {line.removeprefix(warning[:26])}" for line in expected]


CODECS = """
import os
import pathlib

import pydantic
import pytest
from pytest_prodgate import Model

HERE = pathlib.Path(__file__).parent


def _never(*args, **kwargs):  # a journal naming os:system must not reach it
    (HERE / "executed.txt").write_text(repr(args))
    return 0


os.system = _never


class Reply(pydantic.BaseModel):
    text: str


def answer(x):
    with open(HERE / "calls.txt", "a", encoding="utf-8") as fh:
        fh.write(f"{x}\\n")
    return Reply(text=x)


@pytest.fixture(scope="session")
def prodgate_model():
    return Model(answer, name="typed", version="1")
"""

TYPED = """
import pytest

pytestmark = pytest.mark.prodgate("typed", accuracy_floor=0.5)

@pytest.mark.parametrize("i", range(6))
def test_typed(prodgate_model, i):
    assert prodgate_model(f"q{i}").text == f"q{i}"
"""


@pytest.mark.xdist_modes
def test_a_response_this_run_cannot_decode_is_one_warning_and_nothing_it_names_runs(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makeconftest(CODECS)
    project.makepyfile(test_typed=TYPED)
    assert run("--prodgate", "--prodgate-cache=cache").ret == 0
    journal, records = _journal_lines(project)
    assert records[0]["response"]["pydantic"] == "conftest:Reply"
    records[0]["response"] = {"pickle": "gASVIAAAAAAAAACMAm9zlIwGc3lzdGVtlJOUjAhlY2hvIGhplIWUUpQu"}
    records[1]["response"] = {"pydantic": "os:system", "data": "echo hacked"}
    records[2]["response"] = {"pydantic": "prodgate_not_imported_xyz:Reply", "data": {}}
    records[3]["response"] = {"pydantic": "conftest:Reply", "data": {"text": 3}}
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r.json")
    assert result.ret == 0
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out
    warning = f"prodgate: WARNING: cache: {journal}"
    cannot = "its recorded response cannot be replayed"
    result.stdout.fnmatch_lines(
        [
            f"{warning}:1: bad response (unknown codec ('pickle'; this run reads 'json' and"
            " 'pydantic' with 'data' and never unpickles)): skipped",
        ]
    )
    late = sorted(
        line for line in result.stdout.lines if line.startswith(warning) and cannot in line
    )
    assert late == [
        f"{warning}:2: {cannot} (os:system is not a pydantic model class): skipped",
        f"{warning}:3: {cannot} (prodgate_not_imported_xyz:Reply: module"
        " 'prodgate_not_imported_xyz' is not imported in this run): skipped",
        f"{warning}:4: {cannot} (ValidationError: 1 validation error for Reply): skipped",
    ]
    assert len([line for line in result.stdout.lines if "WARNING" in line]) == 4
    assert _calls(project) == 6 + 4  # each unusable record was called again
    assert not (project.path / "executed.txt").exists()
    report = read_report(project.path / "r.json")
    assert sum(f"{journal}:" in n for n in report["notes"]) == 4
    assert report["suites"][0]["replayed_calls"] == 2


def test_the_notes_fresh_spend_is_the_reports_add_cost_included(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makeconftest(PRICED)
    project.makepyfile(
        test_added="""
        import pytest

        @pytest.mark.prodgate("added", accuracy_floor=0.5)
        @pytest.mark.parametrize("i", range(40))
        def test_added(prodgate_model, prodgate_case, i):
            prodgate_case.add_cost(0.005)  # e.g. a judge model the plugin does not see
            assert prodgate_model(f"q{i}")["text"] == f"q{i}"
        """
    )
    first = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r1.json")
    second = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r2.json")
    assert first.ret == second.ret == 0
    assert _calls(project) == 40
    for result, name in ((first, "r1.json"), (second, "r2.json")):
        suite = read_report(project.path / name)["suites"][0]
        fresh, saved = suite["fresh_cost_usd"], suite["replayed_cost_usd"] or 0.0
        assert fresh == pytest.approx(0.2 + (0.12 if name == "r1.json" else 0.0))
        note = f"model calls replayed (fresh spend ${fresh:.4f}, saved ${saved:.4f})"
        result.stdout.fnmatch_lines([f"prodgate: note: cache: *: * of 40 {note}"])
    second.stdout.fnmatch_lines(
        [
            "prodgate: note: cache: *: 40 of 40 model calls replayed"
            " (fresh spend $0.2000, saved $0.1200)"
        ]
    )


SECRETS = """
import json
import os
import pathlib

import pytest
from pytest_prodgate import Model

HERE = pathlib.Path(__file__).parent


def answer(x):
    with open(HERE / "calls.txt", "a", encoding="utf-8") as fh:
        fh.write(f"{x}\\n")
    return {
        "debug": "Authorization: Bearer abcdefghijklmnop123",
        "tok": os.environ["SVC_API_KEY"],
        "nested": [{"headers": {"x-api-key": "abcdefghijklmnop123"}}],
        "echo": x,
    }


def cost(output):
    raise LookupError(f"no price for key {os.environ['SVC_API_KEY']}")


@pytest.fixture(scope="session")
def prodgate_model():
    return Model(answer, name="leaky", version="1", cost=cost)
"""

LEAKY = """
import json
import pathlib

import pytest

HERE = pathlib.Path(__file__).parent

pytestmark = pytest.mark.prodgate("leaky", accuracy_floor=0.5)

@pytest.mark.parametrize("i", range(6))
def test_leaky(prodgate_model, i):
    out = prodgate_model(f"q{i}")
    with open(HERE / "outputs.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(out) + "\\n")
    assert out["echo"] == f"q{i}"
"""


@pytest.mark.xdist_modes
def test_no_secret_reaches_the_journal_and_a_replay_returns_the_redacted_text(
    run: RunFn, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVC_API_KEY", "supersecretvalue123")
    project.makeconftest(SECRETS)
    project.makepyfile(test_leaky=LEAKY)
    assert run("--prodgate", "--prodgate-cache=cache").ret == 0
    journal = project.path / "cache" / "journal.jsonl"
    text = journal.read_text()
    assert len(text.splitlines()) == 6
    assert "supersecretvalue123" not in text
    assert "abcdefghijklmnop123" not in text
    assert "Bearer" not in text
    outputs = project.path / "outputs.jsonl"
    fresh = [json.loads(line) for line in outputs.read_text().splitlines()]
    assert all(o["tok"] == "supersecretvalue123" for o in fresh)  # the fresh call is untouched
    outputs.unlink()
    result = run("--prodgate", "--prodgate-cache=cache", "--prodgate-report=r.json")
    assert result.ret == 0
    assert _calls(project) == 6  # every call replayed
    replayed = [json.loads(line) for line in outputs.read_text().splitlines()]
    assert sorted(o["echo"] for o in replayed) == [f"q{i}" for i in range(6)]
    for o in replayed:
        assert o["debug"] == "Authorization: [REDACTED]"
        assert o["tok"] == "[REDACTED]"
        assert o["nested"] == [{"headers": {"x-api-key": "[REDACTED]"}}]
    for record in (json.loads(line) for line in journal.read_text().splitlines()):
        assert record["call"]["cost_error"].endswith("no price for key [REDACTED]")
    assert journal.read_text() == text  # a replay writes nothing
