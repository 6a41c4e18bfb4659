"""The pull-request comment and the workflow annotations (SPEC §16), and ``prodgate comment``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_prodgate.output.annotations import (
    enabled,
    escape_data,
    escape_property,
    gate_annotations,
)
from pytest_prodgate.output.comment import LIMIT, MARKER, code, comment, prose
from pytest_prodgate.schema.report import GateReport, RunReport
from regate_check import run_gate
from report_factory import reports


@pytest.fixture(scope="module")
def pair() -> tuple[RunReport, RunReport]:
    return reports(300, flipped=30)


def test_comment_has_the_gates_what_resolves_them_and_the_flipped_cases(
    pair: tuple[RunReport, RunReport],
) -> None:
    current, _ = pair
    text = comment(current)
    assert text.startswith(MARKER + "\n")
    for s in current.suites:
        for g in s.gates:
            row = next(
                ln for ln in text.splitlines() if ln.startswith(f"| `{s.name}` | `{g.gate}`")
            )
            assert row.endswith(f" {g.verdict} |")
    open_gates = [g for s in current.suites for g in s.gates if g.verdict != "PASS"]
    assert open_gates, "the factory's report has gates that do not pass"
    resolve = text.split("#### What would resolve the open gates", 1)[1].split("####", 1)[0]
    for g in open_gates:
        assert f"`{g.gate}` **{g.verdict}**" in resolve
        if g.hint:
            assert "To resolve:" in resolve
    suite = current.suites[0]
    assert suite.regression is not None
    assert f"{len(suite.regression.regressed):,} regressed" in text
    assert f"<summary>{len(suite.regression.regressed):,} regressed cases" in text
    for cid in suite.regression.regressed + suite.regression.fixed:
        assert f"- `{cid}`" in text
    assert text.count("<details>") == text.count("</details>") == 2


def test_comment_verdicts_are_the_reports_own(pair: tuple[RunReport, RunReport]) -> None:
    tampered = pair[0].model_copy(deep=True)
    for g in tampered.suites[0].gates:
        g.verdict = "TAMPERED"
    text = comment(tampered)
    rows = [ln for ln in text.splitlines() if ln.startswith("| `support-bot` |")]
    assert rows
    assert all(r.endswith("❌ TAMPERED |") for r in rows)


@pytest.mark.parametrize(("flipped", "id_len"), [(5_000, 14), (100_000, 14), (200, 3_000)])
def test_comment_stays_under_githubs_limit_at_any_size(
    pair: tuple[RunReport, RunReport], flipped: int, id_len: int
) -> None:
    big = pair[0].model_copy(deep=True)
    regression = big.suites[0].regression
    assert regression is not None
    regression.regressed = [f"{i:0{id_len}d}" for i in range(flipped)]
    regression.fixed = [f"f{i:0{id_len}d}" for i in range(flipped // 2)]
    text = comment(big)
    assert len(text) <= LIMIT
    assert "more regressed cases not shown" in text
    assert "more fixed cases not shown" in text
    assert text.count("<details>") == text.count("</details>") == 2
    assert "| `support-bot` | `accuracy_floor` |" in text  # the gates always come first


def test_a_comment_with_more_gates_than_fit_is_cut_at_a_line_and_says_so(
    pair: tuple[RunReport, RunReport],
) -> None:
    big = pair[0].model_copy(deep=True)
    template = big.suites[0].gates[0]
    big.suites[0].gates = [
        template.model_copy(update={"gate": f"slice_floor[tag-{i}]", "verdict": "FAIL"})
        for i in range(3_000)
    ]
    text = comment(big)
    assert len(text) <= LIMIT
    assert text.rstrip().endswith("and the HTML report.")
    assert "comment truncated at 65,536 characters" in text
    assert all(ln.endswith("|") for ln in text.splitlines() if ln.startswith("| `"))


def test_user_data_in_the_comment_is_inert() -> None:
    evil = "<script>x</script> @octocat | `tick` *b* [l](http://e)"
    current, _ = reports(30, flipped=4, ids=lambda i: f"{evil}{i}", suite=f"s{evil}",
                         service=False)  # fmt: skip
    current.notes.append(f"note {evil}")
    text = comment(current)
    # Drop every code span (a run of N backticks up to the next run of exactly N).
    plain = re.sub(r"(?<!`)(`+)(?!`)(.*?)(?<!`)\1(?!`)", "", text)
    assert "<script>" not in plain
    assert "@octocat" not in plain  # neither a mention nor a link outside code
    assert "](http" not in plain
    assert code("a|b", cell=True) == "`a\\|b`"
    assert code("`x`") == "`` `x` ``"
    assert prose("<b>*x*</b> @me") == "&lt;b&gt;\\*x\\*&lt;/b&gt; @\u2060me"


def _save(tmp_path: Path, report: RunReport, name: str) -> Path:
    path = tmp_path / name
    path.write_text(report.model_dump_json(), encoding="utf-8")
    return path


def test_prodgate_comment_prints_writes_and_regates_against_a_baseline(
    pair: tuple[RunReport, RunReport], tmp_path: Path
) -> None:
    current, baseline = pair
    bare = current.model_copy(deep=True)
    for s in bare.suites:  # as a run without --prodgate-baseline saved it
        s.regression = None
        s.gates = [g for g in s.gates if g.gate != "regression"]
    src = _save(tmp_path, bare, "r.json")
    base = _save(tmp_path, baseline, "main.json")
    code_, out, err = run_gate("comment", str(src))
    assert (code_, err) == (0, "")
    assert out == comment(bare)
    assert "Against the baseline" not in out
    code_, out, err = run_gate("comment", str(src), "--baseline", str(base))
    assert (code_, err) == (0, "")
    assert "Against the baseline" in out
    assert "| `support-bot` | `regression` |" in out
    target = tmp_path / "c.md"
    code_, out, err = run_gate("comment", str(src), "-o", str(target))
    assert code_ == 0
    assert out == f"prodgate: comment written to {target}\n"
    assert target.read_text(encoding="utf-8") == comment(bare)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["comment", "nope.json"], "*nope.json: no such file"),
        (["comment", "r.json", "--baseline", "v99.json"],
         "--baseline *v99.json: report schema_version 99 is not supported*"),
        (["comment", "r.json", "-o", "."], "-o *: is a directory, not a file"),
    ],
)  # fmt: skip
def test_prodgate_comment_usage_errors_exit_2_with_one_line(
    pair: tuple[RunReport, RunReport],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    from fnmatch import fnmatch

    monkeypatch.chdir(tmp_path)
    _save(tmp_path, pair[0], "r.json")
    (tmp_path / "v99.json").write_text('{"schema_version": 99}')
    code_, out, err = run_gate(*args)
    assert code_ == 2, out + err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert fnmatch(lines[0], f"prodgate comment: error: {message}"), lines[0]


# -- annotations -----------------------------------------------------------------------


def test_annotations_one_per_gate_that_did_not_pass(pair: tuple[RunReport, RunReport]) -> None:
    current = pair[0]
    lines = gate_annotations(current)
    open_gates = [(s, g) for s in current.suites for g in s.gates if g.verdict != "PASS"]
    assert len(lines) == len(open_gates) > 0
    for line, (s, g) in zip(lines, open_gates, strict=True):
        level = "error" if g.fails_run and current.fails_run else "warning"
        assert line.startswith(f"::{level} file=tests/test_{s.name}.py,title=prodgate ")
        assert f"{g.gate} {g.verdict}".replace(":", "%3A") in line
        assert "\n" not in line


def test_a_warned_gate_is_a_warning_and_report_mode_never_an_error(
    pair: tuple[RunReport, RunReport],
) -> None:
    report = pair[0].model_copy(deep=True)
    gate = report.suites[0].gates[0]
    report.suites[0].gates = [
        gate.model_copy(update={"verdict": "INCONCLUSIVE", "fails_run": False}),
        gate.model_copy(update={"verdict": "FAIL", "fails_run": True}),
        gate.model_copy(update={"verdict": "PASS", "fails_run": False}),
    ]
    report.suites = report.suites[:1]
    report.fails_run = True
    warn, error = gate_annotations(report)
    assert warn.startswith("::warning ")
    assert warn.endswith("(does not fail the run)")
    assert error.startswith("::error ")
    # Report mode: the gate's own flag still says FAIL fails a run; the run's says not.
    report.run.mode = "report"
    report.fails_run = False
    assert all(ln.startswith("::warning ") for ln in gate_annotations(report))
    assert gate_annotations(report)[1].endswith("(report mode: does not fail the run)")


def test_annotations_escape_as_github_does() -> None:
    assert escape_data("50% done\r\nnext::x") == "50%25 done%0D%0Anext::x"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    gate = GateReport(suite="s", gate="g", comparator=">=", target=0.9, verdict="FAIL",
                      fails_run=True, reason="line one\n::error::injected")  # fmt: skip
    report = reports(3, service=False)[0].model_copy(deep=True)
    report.suites[0].name = "x:y,z"
    report.suites[0].gates = [gate]
    report.fails_run = True
    (line,) = gate_annotations(report)
    assert line.count("\n") == 0
    assert line.split("::")[1].startswith("error ")
    assert "title=prodgate x%3Ay%2Cz g FAIL" in line
    assert line.endswith("::line one%0A::error::injected")
    assert enabled({"GITHUB_ACTIONS": "true"})
    assert not enabled({})


SUITE = """
import pytest

@pytest.mark.prodgate("qa", accuracy_floor=0.99)
@pytest.mark.parametrize("i", range(20))
def test_case(prodgate_model, i):
    prodgate_model(i)
    assert i != 3
"""


@pytest.mark.parametrize("actions", [True, False])
def test_the_run_prints_annotations_only_under_github_actions(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, actions: bool
) -> None:
    project.makepyfile(test_suite=SUITE)
    if actions:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
    else:
        monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    result = project.runpytest("-p", "no:cacheprovider", "--prodgate",
                               "--prodgate-model=mymodel:echo")  # fmt: skip
    assert result.ret == 1
    found = [ln for ln in result.stdout.lines if ln.startswith("::")]
    if actions:
        assert len(found) == 1
        assert found[0].startswith("::error file=test_suite.py,title=prodgate qa accuracy_floor ")
        report_mode = project.runpytest("-p", "no:cacheprovider", "--prodgate",
                                        "--prodgate-model=mymodel:echo",
                                        "--prodgate-mode=report")  # fmt: skip
        assert report_mode.ret == 0
        (line,) = [ln for ln in report_mode.stdout.lines if ln.startswith("::")]
        assert line.startswith("::warning file=test_suite.py,title=prodgate qa accuracy_floor ")
        assert line.endswith("(report mode: does not fail the run)")
    else:
        assert found == []


def test_prodgate_show_prints_the_annotations_under_github_actions(
    pair: tuple[RunReport, RunReport], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _save(tmp_path, pair[0], "r.json")
    _, out, _ = run_gate("show", str(src))
    assert "::error" not in out
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code_, out, err = run_gate("show", str(src))
    assert (code_, err) == (0, "")
    assert out.splitlines()[-len(gate_annotations(pair[0])) :] == gate_annotations(pair[0])
