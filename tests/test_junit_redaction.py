"""pytest's --junitxml file after a --prodgate run: redacted as XML, gate rows named whole."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_prodgate.output.junit import gate_name, redact_junit_file

from conftest import RunFn

KEY = "sk-proj-ABCdef0123456789XYZ"

XML = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="2" '
    'failures="1"><testcase classname="t" name="test_x[' + KEY + ']" time="0.1"/>'
    '<testcase classname="t" name="failures"><failure message="api_key=&quot;abcd1234efgh&quot;">'
    "Authorization: Bearer abcdefghijklmnop &amp; more</failure></testcase>"
    "</testsuite></testsuites>"
)


def test_the_file_is_redacted_as_xml_and_stays_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A secret that spells a tag or attribute name ("failures") never touches the markup.
    monkeypatch.setenv("A_TOKEN", "failures")
    path = tmp_path / "j.xml"
    path.write_text(XML, encoding="utf-8")
    assert redact_junit_file(path) is True
    root = ET.parse(path).getroot()  # still XML
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["test_x[[REDACTED]]", "[REDACTED]"]
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == 'api_key="[REDACTED]"'  # found through the escape
    assert failure.text == "Authorization: [REDACTED] & more"
    text = path.read_text(encoding="utf-8")
    assert KEY not in text
    assert "abcd1234efgh" not in text


def test_a_file_with_nothing_to_redact_is_left_as_pytest_wrote_it(tmp_path: Path) -> None:
    path = tmp_path / "j.xml"
    clean = (
        XML.replace(KEY, "plain").replace("api_key", "note").replace("Authorization: Bearer ", "")
    )
    path.write_text(clean, encoding="utf-8")
    assert redact_junit_file(path) is False
    assert path.read_text(encoding="utf-8") == clean


def test_a_gate_name_keeps_its_brackets_only_at_the_end() -> None:
    assert gate_name("x[y]z", "accuracy_floor") == "x(y)z::accuracy_floor"
    assert gate_name(f"team-{KEY}", f"slice_floor[lang:{KEY}]") == (
        "team-(REDACTED)::slice_floor[lang:[REDACTED]]"
    )


@pytest.mark.xdist_modes
def test_gate_rows_and_the_summary_name_a_bracketed_suite_whole_and_redacted(
    run: RunFn, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No files but --junitxml: the short summary's gate lines are redacted too (they
    once were only when a report was written), and pytest does not cut the id at '['."""
    monkeypatch.setenv("MY_SERVICE_TOKEN", "s3cr3t-from-the-environment")
    project.makepyfile(
        test_suite="""
        import os
        import pytest

        T = os.environ["MY_SERVICE_TOKEN"]

        @pytest.mark.prodgate("x[y]z", accuracy_floor=0.99, slice_floors={"lang:" + T: 0.99})
        @pytest.mark.parametrize("i", range(3))
        def test_case(prodgate_case, i):
            prodgate_case.tag("lang:" + T)
            prodgate_case.score(1.0)
        """
    )
    result = run("--prodgate", "--junitxml=j.xml")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "FAILED prodgate::x(y)z::accuracy_floor - INCONCLUSIVE",
            "FAILED prodgate::x(y)z::slice_floor[[]lang:[[]REDACTED[]][]] - INCONCLUSIVE",
        ]
    )
    assert "s3cr3t-from-the-environment" not in result.stdout.str()
    rows = [
        (c.get("classname"), c.get("name"))
        for c in ET.parse(project.path / "j.xml").getroot().iter("testcase")
        if (c.get("classname") or "").startswith("prodgate")
    ]
    assert rows == [
        ("prodgate.x(y)z", "accuracy_floor"),
        ("prodgate.x(y)z", "slice_floor[lang:[REDACTED]]"),
    ]
