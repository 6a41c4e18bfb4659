"""The HTML report (SPEC §16): sections, verdicts as recorded, escaping, scale, no plots, files."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest

from pytest_prodgate.output.html import INSTALL_HINT, html_report
from pytest_prodgate.output.html_cases import MAX_ROWS, cases_html
from pytest_prodgate.schema.files import load_report
from pytest_prodgate.schema.report import RunReport
from regate_check import run_gate
from report_factory import reports

SECTIONS = (
    "Accuracy and slice floors",
    "Latency",
    "Cost per call",
    "Regression against the baseline",
    "Throughput per time window",
    "Drills",
    "Cases",
)
EVIL = '<script>alert("id")</script>'


@pytest.fixture(scope="module")
def pair() -> tuple[RunReport, RunReport]:
    return reports(300, flipped=30)


def _rows(page: str) -> list[str]:
    return re.findall(r"<tr data-k=\"[^\"]*\"", page)


def test_page_has_every_section_plots_and_the_run(pair: tuple[RunReport, RunReport]) -> None:
    current, _ = pair
    page = html_report(current)
    for title in SECTIONS:
        assert f"<h3>{title}" in page, title
    # accuracy+slice forest, latency, cost, regression, throughput, drill
    assert page.count("<svg") >= 6
    assert "0123456789abcdef0123456789abcdef01234567" in page  # git commit
    assert INSTALL_HINT not in page
    assert page.rstrip().endswith("</html>")


def test_every_verdict_is_the_reports_own_never_recomputed(
    pair: tuple[RunReport, RunReport],
) -> None:
    """Flip recorded verdicts the figures contradict: the page shows what the report says."""
    current, _ = pair
    tampered = current.model_copy(deep=True)
    for g in tampered.suites[0].gates:
        g.verdict = "LOOSENED" if g.verdict == "PASS" else "PASS"
    page = html_report(tampered)
    recorded = [g.verdict for s in tampered.suites for g in s.gates]
    assert "LOOSENED" in recorded
    table = page.split("<h2>Gates</h2>", 1)[1].split("</table>", 1)[0]
    assert re.findall(r'class="v v-(\w+)"', table) == recorded
    assert "prodgate: FAILED" in page  # the recorded run verdict line, not a recomputed one


def test_user_data_is_escaped_everywhere() -> None:
    current, _ = reports(
        40,
        flipped=6,
        ids=lambda i: f'{EVIL}-{i}"><img src=x onerror=alert(1)>',
        suite=f"bot{EVIL}",
        service=False,
    )
    current.suites[0].notes.append(f"note {EVIL}")
    case = current.suites[0].cases[1]
    case.tags = (*case.tags, f'"><b onmouseover=alert(1)>{EVIL}')
    page = html_report(current)
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "<b onmouseover" not in page
    assert "&lt;script&gt;alert(&quot;id&quot;)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # the page's own, at the end


def test_the_page_can_make_no_request(pair: tuple[RunReport, RunReport]) -> None:
    page = html_report(pair[0])
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page
    # No attribute may name anything but a fragment or inline data.
    refs = re.findall(r"\b(?:src|href|action|srcset)\s*=\s*[\"']?([^\"'\s>]*)", page)
    assert all(r.startswith(("#", "data:")) for r in refs), refs
    assert "@import" not in page
    assert "url(http" not in page


def test_case_table_is_bounded_and_puts_errors_missed_and_flipped_first(
    pair: tuple[RunReport, RunReport],
) -> None:
    suite = pair[0].suites[0]
    table = cases_html(suite, "c", max_rows=40)
    rows = _rows(table)
    assert len(rows) == 40
    kinds = [r.split('"')[1].split() for r in rows]
    assert kinds[0] == ["model_error"]
    assert all("passed" not in k for k in kinds)  # 30 errors/missed/flipped fill 40 first
    assert f"Showing 40 of {len(suite.cases):,} cases" in table
    # The aggregate counts every case, not only the rows shown.
    assert f'<td>all cases</td><td class="num">{suite.counts["passed"]:,}</td>' in table
    full = cases_html(suite, "c")
    assert len(_rows(full)) == len(suite.cases) <= MAX_ROWS
    assert "Showing" not in full


def test_flipped_cases_are_marked_and_filterable(pair: tuple[RunReport, RunReport]) -> None:
    suite = pair[0].suites[0]
    assert suite.regression is not None
    page = html_report(pair[0])
    flipped = len(re.findall(r'<tr data-k="[^"]*\bflipped\b', page))
    assert flipped == len(suite.regression.regressed) + len(suite.regression.fixed) > 0
    assert '<input type="checkbox" value="flipped" checked>' in page


def test_without_matplotlib_every_table_is_there_and_the_page_says_how_to_plot(
    pair: tuple[RunReport, RunReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    page = html_report(pair[0])
    assert "<svg" not in page
    assert INSTALL_HINT in page
    assert "pip install 'pytest-prodgate[html]'" in page
    for title in SECTIONS:
        assert f"<h3>{title}" in page, title
    with_plots = html_report(pair[0], with_plots=True)
    assert with_plots == page  # still no matplotlib: the same page
    monkeypatch.undo()
    assert len(_rows(page)) == len(_rows(html_report(pair[0])))


def _save(tmp_path: Path, report: RunReport, name: str = "r.json") -> Path:
    path = tmp_path / name
    path.write_text(report.model_dump_json(), encoding="utf-8")
    return path


def test_prodgate_html_writes_atomically_with_the_umask(
    pair: tuple[RunReport, RunReport], tmp_path: Path
) -> None:
    src = _save(tmp_path, pair[0])
    out = tmp_path / "sub" / "report.html"
    old = os.umask(0o027)
    try:
        code, stdout, err = run_gate("html", str(src), "-o", str(out))
    finally:
        os.umask(old)
    assert (code, err) == (0, ""), err
    assert f"prodgate: HTML report written to {out}" in stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert out.read_text(encoding="utf-8") == html_report(load_report(src))
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary left


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, ["html", "missing.json", "-o", "o.html"], "missing.json: no such file"),
        ("{not json", ["html", "bad.json", "-o", "o.html"], "bad.json: not valid JSON"),
        ('{"schema_version": 99}', ["html", "bad.json", "-o", "o.html"],
         "bad.json: report schema_version 99 is not supported"),
        ('{"suites": []}', ["html", "bad.json", "-o", "o.html"], "bad.json: not a prodgate report"),
        ("{}", ["html", "bad.json", "-o", "."], "-o"),
        ("{}", ["html", "bad.json"], "the following arguments are required: -o"),
    ],
)  # fmt: skip
def test_prodgate_html_usage_errors_exit_2_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str | None,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "bad.json").write_text(content)
    code, out, err = run_gate(*args)
    assert code == 2, out + err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("usage:", " "))]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert message in lines[0]
    assert not (tmp_path / "o.html").exists()


SUITE = """
import pytest

@pytest.mark.prodgate("qa", accuracy_floor=0.99, latency_p95_ms=10000)
@pytest.mark.parametrize("i", range(30))
def test_case(prodgate_model, i):
    prodgate_model(i)
    assert i % 10 != 3
"""


def test_the_run_writes_html_and_comment_with_the_runs_verdicts(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_suite=SUITE)
    result = project.runpytest(
        "-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo",
        "--prodgate-report=r.json", "--prodgate-html=out/r.html", "--prodgate-comment=c.md",
    )  # fmt: skip
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["prodgate: HTML report written to */out/r.html", "prodgate: comment written to */c.md"]
    )
    report = load_report(project.path / "r.json")
    page = (project.path / "out" / "r.html").read_text(encoding="utf-8")
    assert page == html_report(report)
    table = page.split("<h2>Gates</h2>", 1)[1].split("</table>", 1)[0]
    assert re.findall(r'class="v v-(\w+)"', table) == [g.verdict for g in report.suites[0].gates]
    text = (project.path / "c.md").read_text(encoding="utf-8")
    assert "| `qa` | `accuracy_floor` |" in text
    assert json.loads((project.path / "r.json").read_text())["fails_run"] is True


@pytest.mark.parametrize("flag", ["--prodgate-html", "--prodgate-comment"])
def test_an_output_path_that_is_a_directory_exits_4_before_any_case(
    project: pytest.Pytester, flag: str
) -> None:
    project.makepyfile(test_suite=SUITE)
    project.mkdir("adir")
    result = project.runpytest("-p", "no:cacheprovider", "--prodgate", f"{flag}=adir")
    assert result.ret == 4
    errors = [ln for ln in result.stderr.lines if ln.startswith("ERROR")]
    assert len(errors) == 1, result.stderr.lines
    assert f"prodgate: {flag}=" in errors[0]
    assert "is a directory" in errors[0]
    assert "test_case" not in result.stdout.str()
