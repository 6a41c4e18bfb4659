"""A report read from disk holds only numbers gating can use, each case once (SPEC §7, §8, §14).

Real reports (a pytest run's, and ``report_factory``'s with a load run and a drill)
are edited by hand, as a tester would, and read by every way in: a bad value is
one line naming the file and where it is, exit 2 from the command and 4 from
``--prodgate-baseline``, never a traceback.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_prodgate.errors import ReportError
from pytest_prodgate.schema.files import load_report, write_report
from pytest_prodgate.schema.values import LIST_RULES, RULES
from regate_check import run_gate
from report_factory import reports as factory_reports

#: Gates with an unbounded side (p99 of 12 calls) and no data (no cost recorded):
#: the report holds nulls, which read back.
SUITE = """
import pytest

@pytest.mark.prodgate("qa", accuracy_floor=0.5, latency_p99_ms=1000, cost_per_call_usd=0.01)
@pytest.mark.parametrize("i", range(12))
def test_case(prodgate_model, i):
    prodgate_model(i)
    assert i != 3
"""

NAN, INF = float("nan"), float("inf")
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``base.json`` of a real run, shards ``s1.json``/``s2.json`` of it, ``svc.json``
    (the factory's, with a load run and a drill); made once for the module."""
    root = tmp_path_factory.mktemp("values")
    (root / "mymodel.py").write_text("def echo(x):\n    return x\n")
    (root / "test_suite.py").write_text(SUITE)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    cmd += ["--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-mode=report"]
    for name, extra in {"base.json": [], "s1.json": ["1/2"], "s2.json": ["2/2"]}.items():
        shard = [f"--prodgate-shard={extra[0]}"] if extra else []
        done = subprocess.run(
            [*cmd, *shard, f"--prodgate-report={name}"], cwd=root, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    write_report(root / "svc.json", factory_reports(20)[0])
    return root


def _edited(saved: Path, src: str, edit: Edit, name: str = "bad.json") -> Path:
    data = json.loads((saved / src).read_text())
    edit(data)
    out = saved / name
    out.write_text(json.dumps(data))  # NaN and Infinity as Python's json writes them
    return out


def _set(path: str, value: Any) -> Edit:
    """An edit setting the value at a dotted path (``suites.0.cases.3.trials.0.score``)."""

    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return edit


def _error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    return lines[0]


CASE3 = "suites[0].cases[3]"
TRIAL = f"{CASE3}.trials[0]"
CALL = f"{TRIAL}.calls[0]"
ABOUT = "(suite 'qa', case '3')"

#: (source report, edit, where, what): each kind of value, corrupted.
BAD: list[tuple[str, Edit, str, str]] = [
    ("base.json", _set("suites.0.cases.3.trials.0.score", NAN), f"{TRIAL}.score {ABOUT}",
     "nan is not a score in [0, 1]"),
    ("base.json", _set("suites.0.cases.3.trials.0.score", INF), f"{TRIAL}.score {ABOUT}",
     "inf is not a score in [0, 1]"),
    ("base.json", _set("suites.0.cases.3.trials.0.score", 2.0), f"{TRIAL}.score {ABOUT}",
     "2.0 is not a score in [0, 1]"),
    ("base.json", _set("suites.0.cases.3.trials.0.score", -1), f"{TRIAL}.score {ABOUT}",
     "-1.0 is not a score in [0, 1]"),
    ("base.json", _set("suites.0.cases.3.pass_rate", 1.5), f"{CASE3}.pass_rate {ABOUT}",
     "1.5 is not a score in [0, 1]"),
    ("base.json", _set("suites.0.cases.3.trials.0.calls.0.latency_ms", NAN),
     f"{CALL}.latency_ms {ABOUT}", "nan is not a finite number >= 0"),
    ("base.json", _set("suites.0.cases.3.trials.0.calls.0.latency_ms", -5),
     f"{CALL}.latency_ms {ABOUT}", "-5.0 is not a finite number >= 0"),
    ("base.json", _set("suites.0.cases.3.trials.0.calls.0.cost_usd", -0.01),
     f"{CALL}.cost_usd {ABOUT}", "-0.01 is not a finite number >= 0"),
    ("base.json", _set("suites.0.cases.3.trials.0.calls.0.cost_usd", INF),
     f"{CALL}.cost_usd {ABOUT}", "inf is not a finite number >= 0"),
    ("base.json", _set("suites.0.cases.3.trials.0.calls.0.input_tokens", -1),
     f"{CALL}.input_tokens {ABOUT}", "-1 is not a count >= 0"),
    ("base.json", _set("suites.0.cases.3.trials.0.duration_s", -INF),
     f"{TRIAL}.duration_s {ABOUT}", "-inf is not a finite number >= 0"),
    ("base.json", _set("suites.0.cases.3.trials.0.added_cost_usd", -1),
     f"{TRIAL}.added_cost_usd {ABOUT}", "-1.0 is not a finite number >= 0"),
    ("base.json", _set("suites.0.cases.3.cost_usd", NAN), f"{CASE3}.cost_usd {ABOUT}",
     "nan is not a finite number >= 0"),
    ("base.json", lambda d: d["suites"][0]["cases"].append(copy.deepcopy(d["suites"][0]["cases"][1])),  # noqa: E501
     "suites[0].cases[12] (suite 'qa', case '1')",
     "case '1' is held twice in the suite (also suites[0].cases[1])"),
    ("base.json", lambda d: d["suites"].append(copy.deepcopy(d["suites"][0])),
     "suites[1] (suite 'qa')", "the suite name is also that of suites[0]"),
    ("base.json", _set("suites.0.gates.0.estimate", NAN),
     "suites[0].gates[0].estimate (suite 'qa', gate 'accuracy_floor')",
     "nan is not a finite number or null"),
    ("base.json", _set("suites.0.gates.0.upper", INF),
     "suites[0].gates[0].upper (suite 'qa', gate 'accuracy_floor')",
     "inf is not a finite number or null"),
    ("base.json", _set("suites.0.gates.0.target", NAN),
     "suites[0].gates[0].target (suite 'qa', gate 'accuracy_floor')", "nan is not a finite number"),
    ("base.json", _set("suites.0.targets.accuracy_floor", 2.0),
     "suites[0].targets.accuracy_floor (suite 'qa')",
     "2.0: Input should be less than or equal to 1"),
    ("base.json", _set("suites.0.targets.latency_p99_ms", INF),
     "suites[0].targets.latency_p99_ms (suite 'qa')", "inf: Input should be a finite number"),
    ("base.json", _set("run.confidence", NAN), "run.confidence",
     "nan is not a confidence level in (0.5, 1)"),
    ("base.json", _set("run.duration_s", -1), "run.duration_s", "-1.0 is not a finite number >= 0"),
    ("svc.json", _set("suites.1.cases.0.trials.0.load_runs.0.calls.5", [0.1, NAN, True, None]),
     "suites[1].cases[0].trials[0].load_runs[0].calls[5] (suite 'service', case 'load')",
     "[0.1, nan] are not finite times"),
    ("svc.json", _set("suites.1.cases.0.trials.0.load_runs.0.calls.5", [0.5, 0.2, True, None]),
     "suites[1].cases[0].trials[0].load_runs[0].calls[5] (suite 'service', case 'load')",
     "ends at 0.2 s, before its start at 0.5 s"),
    ("svc.json", _set("suites.1.cases.0.trials.0.load_runs.0.duration_s", NAN),
     "suites[1].cases[0].trials[0].load_runs[0].duration_s (suite 'service', case 'load')",
     "nan is not a finite number >= 0"),
    ("svc.json", _set("suites.1.cases.0.trials.0.drills.0.recovered_s", -4.5),
     "suites[1].cases[0].trials[0].drills[0].recovered_s (suite 'service', case 'load')",
     "-4.5 is not a finite number >= 0"),
    ("svc.json", _set("suites.1.cases.0.trials.0.drills.0.steps.1.elapsed_s", INF),
     "suites[1].cases[0].trials[0].drills[0].steps[1].elapsed_s (suite 'service', case 'load')",
     "inf is not a finite number >= 0"),
]  # fmt: skip


@pytest.mark.parametrize(("src", "edit", "where", "what"), BAD, ids=[b[2] + b[3] for b in BAD])
def test_gate_refuses_a_bad_value_naming_file_and_location(
    saved: Path, src: str, edit: Edit, where: str, what: str
) -> None:
    bad = _edited(saved, src, edit)
    code, out, err = run_gate("gate", str(bad))
    assert code == 2, out + err
    assert out == ""
    assert _error_line(err) == (
        f"prodgate gate: error: {bad}: invalid prodgate report at {where}: {what}"
    )


NAN_SCORE = _set("suites.0.cases.3.trials.0.score", NAN)
#: Not fnmatch patterns: it would read the location's brackets as character sets.
AT_FIRST = ": invalid prodgate report at suites[0].cases[0].trials[0].score (suite 'qa', case "
NOT_A_SCORE = "): nan is not a score in [0, 1]"


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["show", "nan.json"], "prodgate show: error: "),
        (["gate", "base.json", "--baseline", "nan.json"], "prodgate gate: error: --baseline "),
        (["compare", "base.json", "nan.json"], "prodgate compare: error: "),
        (["compare", "nan.json", "base.json"], "prodgate compare: error: "),
        (["merge", "s1.json", "nan.json"], "prodgate merge: error: "),
        (["html", "nan.json", "-o", "out.html"], "prodgate html: error: "),
        (["comment", "base.json", "--baseline", "nan.json"],
         "prodgate comment: error: --baseline "),
        (["plan", "--from", "nan.json"], "prodgate plan: error: --from "),
    ],
)  # fmt: skip
def test_every_command_that_reads_a_report_exits_2_with_one_line(
    saved: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], start: str
) -> None:
    monkeypatch.chdir(saved)
    src = "s2.json" if args[0] == "merge" else "base.json"
    _edited(saved, src, _set("suites.0.cases.0.trials.0.score", NAN), "nan.json")
    code, out, err = run_gate(*args)
    assert code == 2, out + err
    line = _error_line(err)
    assert line.startswith(f"{start}{saved}/nan.json{AT_FIRST}"), line
    assert line.endswith(NOT_A_SCORE), line
    assert not (saved / "out.html").exists()


def test_merge_refuses_a_shard_holding_a_case_twice(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(saved)
    cases = json.loads((saved / "s2.json").read_text())["suites"][0]["cases"]
    dup = _edited(saved, "s2.json", lambda d: d["suites"][0]["cases"].append(cases[0]), "dup.json")
    code, _, err = run_gate("merge", "s1.json", "dup.json")
    assert code == 2
    line = _error_line(err)
    assert line.startswith(f"prodgate merge: error: {dup}: invalid prodgate report at suites[0]")
    assert f"(suite 'qa', case {cases[0]['id']!r}): case {cases[0]['id']!r} is held twice" in line


def test_compare_no_longer_reports_a_score_of_2(saved: Path) -> None:
    bad = _edited(saved, "base.json", _set("suites.0.cases.3.trials.0.score", 2.0))
    code, out, err = run_gate("compare", str(saved / "base.json"), str(bad))
    assert (code, out) == (2, "")
    assert "2.0 is not a score in [0, 1]" in _error_line(err)


@pytest.mark.parametrize(
    "edit",
    [NAN_SCORE, _set("suites.0.cases.3.trials.0.score", 2.0),
     lambda d: d["suites"][0]["cases"].append(d["suites"][0]["cases"][0])],
    ids=["nan", "score2", "dupcase"],
)  # fmt: skip
def test_baseline_option_exits_4_before_any_case_runs(
    project: pytest.Pytester, saved: Path, edit: Edit
) -> None:
    shutil.copy(saved / "test_suite.py", project.path / "test_suite.py")
    _edited(saved, "base.json", edit, "b.json")
    shutil.copy(saved / "b.json", project.path / "b.json")
    result = project.runpytest(
        "-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo",
        "--prodgate-baseline=b.json",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [x for x in result.stderr.lines if x.startswith("ERROR")]
    assert len(errors) == 1, result.stderr.str()
    assert errors[0].startswith(f"ERROR: prodgate: --prodgate-baseline: {project.path}/b.json: ")
    assert "invalid prodgate report at suites[0]" in errors[0]
    _no_run(result)


def test_baseline_ini_key_is_named_and_xdist_exits_4_too(
    project: pytest.Pytester, saved: Path
) -> None:
    shutil.copy(saved / "test_suite.py", project.path / "test_suite.py")
    _edited(saved, "base.json", NAN_SCORE, "b.json")
    shutil.copy(saved / "b.json", project.path / "b.json")
    project.makeini("[pytest]\nprodgate_baseline = b.json\n")
    result = project.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        f"ERROR: prodgate: prodgate_baseline (ini): {project.path}/b.json: invalid prodgate "
        f"report at {TRIAL}.score {ABOUT}: nan is not a score in [0, 1]"
    ) in result.stderr.lines
    assert "--prodgate-baseline" not in result.stderr.str()
    _no_run(result)


def _no_run(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text
    assert "Traceback" not in text
    assert "passed" not in result.stdout.str()  # no case ran


def test_reports_the_plugin_writes_read_back(saved: Path) -> None:
    for name in ("base.json", "s1.json", "s2.json", "svc.json"):
        load_report(saved / name)
    gates = json.loads((saved / "base.json").read_text())["suites"][0]["gates"]
    by_name = {g["gate"]: g for g in gates}
    assert by_name["latency_p99_ms"]["upper"] is None  # unbounded: null, which reads
    assert by_name["cost_per_call_usd"]["estimate"] is None  # no data
    code, _, err = run_gate(
        "gate", str(saved / "base.json"), "--baseline", str(saved / "base.json")
    )
    assert (code, err) == (0, "")


def test_load_report_raises_one_report_error(saved: Path) -> None:
    bad = _edited(saved, "base.json", _set("suites.0.cases.3.trials.0.calls.0.latency_ms", NAN))
    with pytest.raises(ReportError, match=r"latency_ms \(suite 'qa', case '3'\): nan is not"):
        load_report(bad)


def _numeric(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    return any(_numeric(a) for a in typing.get_args(annotation) if a is not bool)


#: Numbers not in RULES, and why: checked apart, or not numbers gating reads.
_APART = {
    ("GateReport", "estimate"), ("GateReport", "lower"), ("GateReport", "upper"),  # raw JSON
    ("LoadRunReport", "calls"),  # each call's start and end
    ("SuiteReport", "counts"),
}  # fmt: skip


def test_every_number_of_the_schema_has_a_rule() -> None:
    """A field added to the schema must say what its values may be."""
    from pytest_prodgate.schema import report

    missing = []
    for cls in vars(report).values():
        fields = getattr(cls, "__pydantic_fields__", None)
        if not isinstance(cls, type) or cls.__module__ != report.__name__ or not fields:
            continue
        rules = RULES.get(cls, ())
        named = {n for n, _ in rules} | {n for n, _ in LIST_RULES.get(cls, ())}
        for name, info in fields.items():
            if (cls.__name__, name) in _APART or info.annotation is bool:
                continue
            if _numeric(info.annotation) and name not in named:
                missing.append(f"{cls.__name__}.{name}")
    assert not missing


def test_the_rules_accept_the_edges() -> None:
    from pytest_prodgate.schema.values import _amount, _score

    assert [_score(x) for x in (0.0, 1.0, 1)] == [None] * 3
    assert [_amount(x) for x in (0.0, 1e300, 0)] == [None] * 3
    assert all(_score(x) for x in (math.nan, -0.001, 1.001, math.inf))
    assert all(_amount(x) for x in (math.nan, -1e-9, math.inf))
