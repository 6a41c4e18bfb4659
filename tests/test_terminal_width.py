"""The terminal summary fits the width pytest gives, colours verdicts, and formats figures."""

from __future__ import annotations

import re

import pytest

from pytest_prodgate.output.terminal import fit, gate_rows, significant, summary, table_lines
from report_factory import reports

from conftest import RunFn

LONG_SUITE = """
import pytest

pytestmark = pytest.mark.prodgate(
    "the-support-bot-answers-billing-and-account-questions-in-german",
    accuracy_floor=0.99, error_rate_max=0.10,
)

@pytest.mark.parametrize("i", range(40))
def test_answers(prodgate_model, i):
    prodgate_model(i)
    assert i % 10 != 3, f"case {i} answered something other than what the reference says"
"""


def _section(text: str) -> list[str]:
    """The prodgate summary: from its title line to the verdict line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "prodgate: 1 suite, 2 gates" in line)
    end = next(i for i, line in enumerate(lines) if line.startswith("prodgate: FAILED"))
    return lines[start : end + 1]


@pytest.mark.parametrize("width", [60, 80, 200])
def test_the_summary_fits_the_terminal_width(
    run: RunFn, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    project.makepyfile(test_suite=LONG_SUITE)
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1, result.stdout.str()
    section = _section(result.stdout.str())
    too_wide = [line for line in section[1:] if len(line) > width]
    assert not too_wide, too_wide
    header = next(i for i, line in enumerate(section) if line.startswith(("suite ", "gate ")))
    assert section[header].endswith("verdict")
    below = section[header + 1 : header + 5]  # at 60: the suite on lines of its own
    rows = [line for line in below if line.endswith(("PASS", "FAIL"))]
    assert len(rows) == 2, below
    # each verdict on its gate's line, never wrapped onto the next one
    assert re.search(r"\bacc\w*…?\s.*\sFAIL$", rows[0]), rows
    assert re.search(r"\berr\w*…?\s.*\sPASS$", rows[1]), rows
    if width == 200:
        assert rows[0].startswith("the-support-bot-answers-billing-and-account-questions-in-german")
        assert "accuracy_floor" in rows[0]
    else:  # the suite name whole, broken over lines, never cut
        name = "".join(line.strip() for line in below[: below.index(rows[0])])
        assert name == "the-support-bot-answers-billing-and-account-questions-in-german:"
        assert not any("…" in line for line in below)
    reason = "the-support-bot-answers-billing-and-account-questions-in-german accuracy_floor FAIL"
    assert reason in " ".join(section) or width < len(reason)


def test_verdicts_are_coloured_with_color_yes(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=LONG_SUITE)
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--color=yes")
    out = result.stdout.str()
    assert "\x1b[32mPASS\x1b[0m" in out
    assert "\x1b[31mFAIL\x1b[0m" in out


def test_verdicts_are_plain_without_colour(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=LONG_SUITE)
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "--color=no")
    assert "\x1b[" not in "\n".join(_section(result.stdout.str()))


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (5.25e-06, "5.25e-06"),
        (-5.25e-06, "-5.25e-06"),
        (0.0001, "0.000100"),
        (9.9999e-05, "0.000100"),  # rounded first: not 1.00e-04
        (0.00123, "0.00123"),
        (0.0150, "0.0150"),
        (0.2, "0.200"),
        (0.9996, "1.00"),
        (12.345, "12.3"),
        (1234.5, "1,234"),
        (0.0, "0"),
        (None, "-"),
        (float("inf"), "∞"),
        (float("-inf"), "-∞"),
    ],
)
def test_significant_digits(x: float | None, text: str) -> None:
    assert significant(x) == text


def test_cost_figures_share_their_digits() -> None:
    current, _ = reports(60, service=False)
    (row,) = [r for r in gate_rows(current) if r[1] == "cost_per_call_usd"]
    _, _, target, observed, interval, _, _ = row
    assert target == "<= 0.00200"
    bounds = interval.strip("[]").split(", ")
    for figure in [observed, *bounds]:
        digits = re.sub(r"e[-+]\d+$", "", figure).replace(".", "").lstrip("0-")
        assert len(digits) == 3, (figure, row)


def test_fit_wraps_at_the_width_and_breaks_a_long_word() -> None:
    text = "suite gate FAIL: " + "word " * 30 + "x" * 90
    lines = fit(text, 40).split("\n")
    assert len(lines) > 3
    assert all(len(line) <= 40 for line in lines)
    assert all(line.startswith("    ") for line in lines[1:])
    assert "".join(line.strip() for line in lines).endswith("x" * 90)  # broken, not cut
    assert fit("short", 40) == "short"


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_table_lines_fit_any_width(width: int) -> None:
    current, _ = reports(60)
    for line in "\n".join(table_lines(current, width)).split("\n"):
        assert len(line) <= width or width < 60, line
    for _, text in summary(current, width):
        if width >= 60:
            assert all(len(line) <= width for line in text.split("\n")), text


@pytest.mark.parametrize("width", [30, 40, 60, 80, 120])
def test_gate_names_are_never_cut(width: int) -> None:
    """A gate name says which slice or dataset a row is (``slice_floor[lang:de]``): the
    table puts suites on their own lines, then stacks each gate on two lines, before it
    would cut one (at 60 columns names were cut to 3 characters, ``lat…``)."""
    current, _ = reports(60)
    lines = "\n".join(table_lines(current, width)).split("\n")
    gates = [g.gate for s in current.suites for g in s.gates]
    verdicts = {g.gate: g.verdict for s in current.suites for g in s.gates}
    for gate in gates:
        i = next(i for i, line in enumerate(lines) if gate in line.split()[:2])
        if len(gate) + len(verdicts[gate]) + 4 <= width:
            assert lines[i].endswith(verdicts[gate]), lines[i]  # on its name's line
        else:
            assert lines[i + 1] == f"    {verdicts[gate]}", lines[i : i + 2]
    n_table = sum(
        1 for line in lines if line.startswith(("gate ", "suite ")) and line.endswith("verdict")
    )
    assert n_table == (1 if width >= 80 else 0)
    for line in lines:
        assert len(line) <= width, line
    if width < 80:  # stacked: each gate's figures under it, intervals never broken
        text = "\n".join(lines)
        assert "target >= 0.850" in text
        assert ("95% interval [0.754, 0.941]" in text) == (width >= 40), text  # 30: cut


def test_stacked_verdicts_are_coloured() -> None:
    current, _ = reports(60)
    lines = table_lines(current, 40, paint=lambda word, colour: f"<{colour}>{word}</>")
    assert any(line.endswith("<green>PASS</>") for line in lines)


def test_a_cost_row_takes_one_notation() -> None:
    """``<= 5.00e-05  1.00e-04  [8.49e-05, 0.000115]`` mixed two notations in a row."""
    current, _ = reports(60, service=False)
    suite = current.suites[0]
    (i,) = [k for k, g in enumerate(suite.gates) if g.gate == "cost_per_call_usd"]

    def row(**figures: float) -> tuple[str, ...]:
        gates = list(suite.gates)
        gates[i] = gates[i].model_copy(update=figures)
        report = current.model_copy(update={"suites": [suite.model_copy(update={"gates": gates})]})
        (r,) = [r for r in gate_rows(report) if r[1] == "cost_per_call_usd"]
        return r[2:5]

    assert row(target=5e-05, estimate=9.9999e-05, lower=8.49e-05, upper=0.000115) == (
        "<= 5.00e-05",
        "1.00e-04",
        "[8.49e-05, 1.15e-04]",
    )
    assert row(target=0.0002, estimate=9.9999e-05, lower=0.0001, upper=0.000115) == (
        "<= 0.000200",
        "0.000100",
        "[0.000100, 0.000115]",
    )


ALIKE_NAMES = """
import pytest

FORMAL = "language:german-formal-register"
REGIONAL = "language:german-formal-regional"

@pytest.mark.prodgate(accuracy_floor=0.5, slice_floors={FORMAL: 0.8, REGIONAL: 0.99})
@pytest.mark.parametrize("i", range(40))
def test_answers_every_question_with_a_long_name_variant_one(prodgate_model, prodgate_case, i):
    prodgate_case.tag(FORMAL if i % 2 else REGIONAL)
    prodgate_model(i)

@pytest.mark.prodgate(accuracy_floor=0.99)
@pytest.mark.parametrize("i", range(40))
def test_answers_every_question_with_a_long_name_variant_two(prodgate_model, i):
    prodgate_model(i)
    assert i % 3
"""


@pytest.mark.parametrize("width", [40, 60, 80])
def test_names_that_differ_only_at_their_ends_stay_whole(
    run: RunFn, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    project.makepyfile(test_suite=ALIKE_NAMES)
    out = run("--prodgate", "--prodgate-model=mymodel:echo").stdout.str()
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "prodgate: 14 missed" in line)
    end = next(i for i, line in enumerate(lines) if line.startswith("prodgate: FAILED"))
    section = lines[start:end]
    assert [line for line in section if len(line) > width] == []
    assert not any("…" in line for line in section if not line.startswith("MISSED"))
    # every name whole once its line breaks are taken out
    flat = "".join(line.strip() for line in section)
    for name in (
        "test_suite.py::test_answers_every_question_with_a_long_name_variant_one:",
        "test_suite.py::test_answers_every_question_with_a_long_name_variant_two:",
        "slice_floor[language:german-formal-register]",
        "slice_floor[language:german-formal-regional]",
        "test_suite.py::test_answers_every_question_with_a_long_name_variant_two[27]",
    ):
        assert name in flat, name
