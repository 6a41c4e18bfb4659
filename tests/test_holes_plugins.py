"""With the plugins people already run, and secrets (issue 11, SPEC §18).

pytest-repeat, pytest-rerunfailures, pytest-sugar and stepwise: each scenario asserts
what the report and the terminal say. pytest-sugar switches itself on process-wide
(a module global), so its scenario runs in a subprocess.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import RunFn, read_report

KEY = "sk-proj-ABCdef0123456789XYZ"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fw"
ENV_SECRET = "s3cr3t-from-the-environment"

LEAKY_MODEL = f"""
class AuthenticationError(Exception):
    pass

def leaky(x):
    if x % 2:
        raise AuthenticationError(
            "Incorrect API key provided: {KEY}.\\n"
            "request headers: Authorization: Bearer {BEARER}; "
            "env {ENV_SECRET}"
        )
    return x
"""


@pytest.mark.xdist_modes
def test_secrets_in_a_provider_error_are_redacted_everywhere(
    run: RunFn, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_SECRET)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project.path / "summary.md"))
    project.makepyfile(leakymodel=LEAKY_MODEL)
    project.makepyfile(
        test_suite=f"""
        import pytest

        @pytest.mark.prodgate(accuracy_floor=0.9, error_rate_max=0.01)
        @pytest.mark.parametrize("i", range(6))
        def test_case(prodgate_model, i):
            assert prodgate_model(i) == i

        @pytest.mark.prodgate("bug", accuracy_floor=0.9)
        def test_bug():
            assert False, "api_key=hunter2hunter2 and {KEY}"
        """
    )
    result = run(
        "--prodgate",
        "--prodgate-model=leakymodel:leaky",
        "--prodgate-report=r.json",
        "--junitxml=j.xml",
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["MISSED *test_case[[]1[]] - model error: AuthenticationError*"])
    written = {
        "terminal": result.stdout.str() + result.stderr.str(),
        "json": (project.path / "r.json").read_text(),
        "junit": (project.path / "j.xml").read_text(),
        "markdown": (project.path / "summary.md").read_text(),
    }
    for where, text in written.items():
        for secret in (KEY, BEARER, ENV_SECRET, "hunter2hunter2"):
            assert secret not in text, f"{secret} in the {where}"
    assert "[REDACTED]" in written["terminal"]
    report = json.loads(written["json"])
    (suite,) = [s for s in report["suites"] if s["name"] == "test_suite.py::test_case"]
    trial = suite["cases"][1]["trials"][0]
    assert trial["reason"].startswith("model error: AuthenticationError: Incorrect API key")
    message = trial["calls"][0]["error_message"]
    assert "\n" in message  # the lines after the first are kept, redacted
    assert message.count("[REDACTED]") == 3


@pytest.mark.xdist_modes
def test_secrets_in_ids_tags_and_notes_stay_out_of_the_files(
    run: RunFn, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_SECRET)
    project.makepyfile(
        test_suite=f"""
        import os
        import pytest

        @pytest.mark.prodgate("leaky", accuracy_floor=0.1)
        @pytest.mark.parametrize("tok", ["{KEY}", "plain"])
        def test_case(prodgate_case, tok):
            t = os.environ["MY_SERVICE_TOKEN"]
            prodgate_case.tag("user:" + t)
            prodgate_case.note("nested", {{"x": t, "list": [t, "{KEY}"]}})
            prodgate_case.note(t, 1)
        """
    )
    result = run("--prodgate", "--prodgate-report=r.json", "--prodgate-html=r.html")
    assert result.ret == 0, result.stdout.str()
    for name in ("r.json", "r.html"):
        text = (project.path / name).read_text()
        for secret in (KEY, ENV_SECRET):
            assert secret not in text, f"{secret} in {name}"
    report = json.loads((project.path / "r.json").read_text())
    (suite,) = report["suites"]
    assert sorted(c["id"] for c in suite["cases"]) == ["[REDACTED]", "plain"]
    case = suite["cases"][0]
    assert case["tags"] == ["user:[REDACTED]"]
    assert case["notes"]["nested"] == {"x": "[REDACTED]", "list": ["[REDACTED]", "[REDACTED]"]}
    assert "[REDACTED]" in case["notes"]
    assert list(suite["slices"]) == ["user:[REDACTED]"]


def test_a_note_that_cannot_be_printed_is_kept_as_a_placeholder(
    run: RunFn, project: pytest.Pytester
) -> None:
    """A note json cannot write and whose ``__repr__`` raises was a traceback in the
    test; it is the placeholder, and a long repr is cut, redacted."""
    project.makepyfile(
        test_suite=f"""
        import pytest

        class Unprintable:
            def __repr__(self):
                raise RuntimeError("no repr")

        class Long:
            def __repr__(self):
                return "{KEY} " + "x" * 5000

        @pytest.mark.prodgate(accuracy_floor=0.1)
        def test_case(prodgate_case):
            prodgate_case.note("bad", Unprintable())
            prodgate_case.note("long", Long())
        """
    )
    result = run("--prodgate", "--prodgate-report=r.json", "--prodgate-inconclusive=warn")
    assert result.ret == 0, result.stdout.str()
    result.stdout.no_fnmatch_line("*RuntimeError*")
    (case,) = read_report(project.path / "r.json")["suites"][0]["cases"]
    assert case["notes"]["bad"] == "<unprintable Unprintable>"
    assert case["notes"]["long"].startswith("[REDACTED] xxx")
    assert len(case["notes"]["long"]) == 1000


@pytest.mark.xdist_modes
def test_a_report_with_secrets_in_ids_and_slices_reads_back_and_pairs_as_a_baseline(
    run: RunFn, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids that differ only in a secret stay distinct in the report (`` #2``), a slice
    named after a secret tag is redacted in its gate and target too, and the report
    gates again (the conftest's re-gate check) and pairs with the run as a baseline."""
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_SECRET)
    project.makepyfile(
        test_suite=f"""
        import pytest

        IDS = [f"u{{i}}-{ENV_SECRET}" if i < 10 else f"{KEY}{{i}}" for i in range(20)]

        @pytest.mark.prodgate("s", accuracy_floor=0.5, max_regression=0.0,
                              slice_floors={{"team:{ENV_SECRET}": 0.5}})
        @pytest.mark.parametrize("i", range(20), ids=IDS)
        def test_case(prodgate_model, prodgate_case, i):
            prodgate_case.tag("team:{ENV_SECRET}")
            assert prodgate_model(i) == i
        """
    )
    args = ("--prodgate", "--prodgate-model=mymodel:echo")
    first = run(*args, "--prodgate-report=base.json", "--junitxml=j.xml")
    assert first.ret == 0, first.stdout.str()
    # The plugin's gate rows (pytest's own rows: test_a_secret_in_a_suite_name_or_...).
    xml = (project.path / "j.xml").read_text()
    rows = [line for line in xml.split("<testcase") if 'classname="prodgate' in line]
    assert len(rows) == 2  # accuracy_floor, slice_floor[...] (no baseline yet)
    for text in [(project.path / "base.json").read_text(), *rows]:
        assert ENV_SECRET not in text
        assert KEY not in text
    report = json.loads((project.path / "base.json").read_text())
    ids = [c["id"] for c in report["suites"][0]["cases"]]
    assert len(set(ids)) == 20
    assert "slice_floor[team:[REDACTED]]" in [g["gate"] for g in report["suites"][0]["gates"]]
    second = run(*args, "--prodgate-baseline=base.json", "--prodgate-report=r.json")
    assert second.ret == 0, second.stdout.str()
    regression = read_report(project.path / "r.json")["suites"][0]["regression"]
    # u0-... u9-... stay apart when redacted and pair; the ten KEY ids all become
    # "[REDACTED]", "[REDACTED] #2", ...: which is which depends on the cases that ran,
    # so they are never paired.
    ambiguous = ["[REDACTED]", *(f"[REDACTED] #{k}" for k in range(2, 11))]
    assert regression["paired"] == 10
    assert sorted(regression["only_current"]) == sorted(regression["only_baseline"])
    assert sorted(regression["only_current"]) == sorted(ambiguous)
    assert "differ only in a redacted secret" in regression["note"]


@pytest.mark.xdist_modes
def test_ids_that_differ_only_in_a_secret_never_pair_with_the_wrong_baseline_case(
    run: RunFn, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ids that redact alike: with one of them deselected, the other must not be
    paired with its sibling's baseline result (that invented a 'fixed' case)."""
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_SECRET)
    project.makepyfile(
        test_suite=f"""
        import pytest

        IDS = ["case-{KEY}", "case-{ENV_SECRET}", *(f"plain{{i}}" for i in range(8))]

        @pytest.mark.prodgate("s", accuracy_floor=0.1, max_regression=0.0)
        @pytest.mark.parametrize("cid", IDS, ids=IDS)
        def test_case(prodgate_model, cid):
            assert prodgate_model(cid) == cid and cid != "case-{ENV_SECRET}"
        """
    )
    args = ("--prodgate", "--prodgate-model=mymodel:echo")
    assert run(*args, "--prodgate-report=base.json").ret == 0
    second = run(
        *args, "--prodgate-baseline=base.json", "--prodgate-report=r.json",
        f"--deselect=test_suite.py::test_case[case-{ENV_SECRET}]",
    )  # fmt: skip
    regression = read_report(project.path / "r.json")["suites"][0]["regression"]
    assert (regression["regressed"], regression["fixed"]) == ([], [])
    assert regression["paired"] == 8
    assert regression["only_baseline"] == ["case-[REDACTED]", "case-[REDACTED] #2"]
    assert regression["only_current"] == ["case-[REDACTED]"]
    second.stdout.fnmatch_lines(["*vs baseline*over 8 paired cases; 0 regressed, 0 fixed*"])


def test_redact_option_adds_patterns(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate(accuracy_floor=0.5)
        def test_case():
            assert False, "customer ACME-4711-XY said no"
        """
    )
    result = project.runpytest(
        "--prodgate", "--prodgate-redact=ACME-\\d+-[A-Z]+", "--prodgate-report=r.json"
    )
    assert "ACME-4711-XY" not in result.stdout.str()
    assert "ACME-4711-XY" not in (project.path / "r.json").read_text()
    result.stdout.fnmatch_lines(["MISSED *customer [[]REDACTED[]] said no"])
    bad = project.runpytest("--prodgate", "--prodgate-redact=(")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["ERROR: prodgate: --prodgate-redact=*not a regular expression*"])
    for empty in ("", "a|", "x*"):  # would garble every line printed
        bad = project.runpytest("--prodgate", f"--prodgate-redact={empty}")
        assert bad.ret == pytest.ExitCode.USAGE_ERROR
        bad.stderr.fnmatch_lines(["ERROR: prodgate: --prodgate-redact=*matches the empty string*"])


@pytest.mark.xdist_modes
def test_slices_whose_tags_redact_alike_stay_apart(run: RunFn, project: pytest.Pytester) -> None:
    # Customer ids as slice tags, redacted: two slices, two gates, in the run and its
    # report, and `prodgate gate` on the report agrees (the conftest re-gates it).
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate(slice_floors={"ACME-1": 0.1, "ACME-2": 0.9})
        @pytest.mark.parametrize("i", range(40))
        def test_case(prodgate_model, prodgate_case, i):
            prodgate_case.tag("ACME-1" if i % 2 else "ACME-2")
            prodgate_model(i)
            assert i % 2, "ACME-2 cases all miss"
        """
    )
    result = run(
        "--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-redact=ACME-\\d+",
        "--prodgate-report=r.json",
    )  # fmt: skip
    assert "ACME-" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.re_match_lines([
        r".*slice_floor\[\[REDACTED\]\] .*PASS",
        r".*slice_floor\[\[REDACTED\] #2\] .*FAIL",
    ])  # fmt: skip
    suite = read_report(project.path / "r.json")["suites"][0]
    gates = {g["gate"]: (g["verdict"], g["n"]) for g in suite["gates"]}
    assert gates == {
        "slice_floor[[REDACTED]]": ("PASS", 20),
        "slice_floor[[REDACTED] #2]": ("FAIL", 20),
    }
    assert suite["targets"]["slice_floors"] == {"[REDACTED]": 0.1, "[REDACTED] #2": 0.9}
    assert {k: v["n"] for k, v in suite["slices"].items()} == {
        "[REDACTED]": 20,
        "[REDACTED] #2": 20,
    }
    assert "ACME" not in (project.path / "r.json").read_text()


REPEATED = """
import pytest
from pytest_prodgate import load_cases

@pytest.mark.prodgate(accuracy_floor=0.1)
@pytest.mark.parametrize("i", range(4))
def test_plain(prodgate_model, i):
    prodgate_model(i)

@pytest.mark.prodgate("loaded", accuracy_floor=0.1)
@pytest.mark.parametrize("case", load_cases("cases.jsonl"))
def test_loaded(prodgate_model, case):
    prodgate_model(case.input)
"""


def _write_cases(path: Path, n: int) -> None:
    rows = [json.dumps({"id": f"c{i}", "input": i, "expected": i}) for i in range(n)]
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.xdist_modes
def test_pytest_repeat_repetitions_are_trials(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=REPEATED)
    _write_cases(project.path / "cases.jsonl", 3)
    result = run(
        "--prodgate", "--prodgate-model=mymodel:echo", "--count=3", "--prodgate-report=r.json"
    )
    assert result.ret == 0, result.stdout.str()
    report = read_report(project.path / "r.json")
    for suite, ids in (
        ("test_suite.py::test_plain", ["0", "1", "2", "3"]),
        ("loaded", ["c0", "c1", "c2"]),
    ):
        (s,) = [s for s in report["suites"] if s["name"] == suite]
        assert [c["id"] for c in s["cases"]] == ids
        for c in s["cases"]:
            assert sorted(t["trial"] for t in c["trials"]) == [0, 1, 2]
        assert s["trials"] == 3
        (gate,) = s["gates"]
        assert gate["n"] == len(ids)


def test_pytest_repeat_with_prodgate_trials_numbers_every_trial(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=REPEATED)
    _write_cases(project.path / "cases.jsonl", 2)
    result = project.runpytest(
        "--prodgate",
        "--prodgate-model=mymodel:echo",
        "--count=2",
        "--prodgate-trials=2",
        "--prodgate-report=r.json",
        "--prodgate-inconclusive=warn",  # 2 cases show no floor: only the numbering is checked
        "-k",
        "loaded",
    )
    assert result.ret == 0, result.stdout.str()
    (s,) = read_report(project.path / "r.json")["suites"]
    for c in s["cases"]:
        assert sorted(t["trial"] for t in c["trials"]) == [0, 1, 2, 3]


RERUN = """
import pytest

@pytest.mark.prodgate(accuracy_floor=0.5)
@pytest.mark.parametrize("i", range(2))
def test_case(prodgate_model, prodgate_case, request, i):
    prodgate_model(i)
    prodgate_case.add_cost(0.01)
    path = request.config.rootpath / f"attempt{i}"
    if i == 1 and not path.exists():
        path.write_text("1")
        raise RuntimeError("flaky harness")
"""


@pytest.mark.xdist_modes
def test_rerunfailures_discarded_attempt_keeps_its_calls_and_cost(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(test_suite=RERUN)
    result = run(
        "--prodgate",
        "--prodgate-model=mymodel:echo",
        "--reruns=1",
        "--prodgate-report=r.json",
        "--prodgate-inconclusive=warn",
    )
    assert result.ret == 0, result.stdout.str()
    (s,) = read_report(project.path / "r.json")["suites"]
    by_id = {c["id"]: c["trials"] for c in s["cases"]}
    (kept,) = by_id["1"]
    assert kept["outcome"] == "passed"
    assert len(kept["calls"]) == 2  # the discarded attempt's call and the kept one's
    assert kept["added_cost_usd"] == pytest.approx(0.02)
    assert s["cases"][1]["notes"]["discarded_attempts"] == 1
    assert len(by_id["0"][0]["calls"]) == 1


STEP = """
import pytest

@pytest.mark.prodgate(accuracy_floor=0.5)
@pytest.mark.parametrize("i", range(4))
def test_case(prodgate_model, i):
    prodgate_model(i)
    if i == 3:
        raise RuntimeError("harness bug in the last case")
"""


def test_stepwise_stop_after_the_last_case_is_not_an_interrupted_run(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_suite=STEP)
    result = project.runpytest(
        "--prodgate", "--prodgate-model=mymodel:echo", "--sw", "--prodgate-report=r.json"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest's own status for a stepwise stop
    report = read_report(project.path / "r.json")
    assert report["run"]["interrupted"] is False
    (gate,) = report["suites"][0]["gates"]
    assert gate["verdict"] == "INCOMPLETE"
    assert "1 of 4 cases produced no result (1 error)" in gate["reason"]
    assert "interrupted" not in gate["reason"]


@pytest.mark.xdist_modes
def test_junit_after_x_has_every_gate_row(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate("ju", accuracy_floor=0.5, latency_p95_ms=1000)
        @pytest.mark.parametrize("i", range(6))
        def test_case(prodgate_model, i):
            prodgate_model(i)
            if i == 1:
                raise RuntimeError("harness bug")
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo", "-x", "--junitxml=j.xml")
    assert result.ret in (1, 2)  # -x: 1; under -n 2 xdist reports its stop as interrupted
    root = ET.parse(project.path / "j.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase") if c.get("classname") == "prodgate.ju"}
    assert set(cases) == {"accuracy_floor", "latency_p95_ms"}
    for case in cases.values():
        failure = case.find("failure")
        assert failure is not None
        assert "INCOMPLETE" in (failure.get("message") or "")


def test_report_header_and_red_final_line_after_a_failed_gate(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate(accuracy_floor=0.99)
        @pytest.mark.parametrize("i", range(5))
        def test_case(i):
            assert i < 3
        """
    )
    result = project.runpytest("--prodgate", "--prodgate-seed=7", "--color=yes")
    assert result.ret == 1
    text = result.stdout.str()
    assert "prodgate: mode gate, seed 7, confidence 0.95, 9,999 resamples" in text
    final = [line for line in result.outlines if " in " in line and "missed" in line][-1]
    assert "\x1b[31m" in final  # red, as after a failed test
    assert "3 passed" in final
    assert "2 missed" in final
    plain = project.runpytest("--prodgate-seed=7")
    assert "prodgate: mode" not in plain.stdout.str()


def test_pytest_sugar_counts_misses_as_missed(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate(accuracy_floor=0.1)
        @pytest.mark.parametrize("i", range(5))
        def test_case(i):
            assert i < 3
        """
    )
    result = project.runpytest_subprocess("--prodgate", "--force-sugar", "-p", "no:cacheprovider")
    assert result.ret == 0
    text = result.stdout.str()
    assert "3 passed" in text, text
    assert "2 missed" in text, text
    assert "5 passed" not in text


@pytest.mark.xdist_modes
def test_a_secret_in_a_suite_name_or_a_test_id_reaches_no_output(
    run: RunFn, project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite name is redacted where the marker is read, so the table (whose column
    would cut it short of what redaction recognises), the annotations, every file and
    the commands see it redacted; pytest's own --junitxml rows are redacted after
    pytest writes them."""
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_SECRET)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project.path / "summary.md"))
    project.makepyfile(
        test_suite=f"""
        import os
        import pytest

        T = os.environ["MY_SERVICE_TOKEN"]

        @pytest.mark.prodgate("leak-" + T, accuracy_floor=0.9, slice_floors={{"tag-" + T: 0.1}})
        @pytest.mark.parametrize("tok", ["{KEY}", "plain-" + T, "three"])
        def test_case(prodgate_case, tok):
            prodgate_case.tag("tag-" + T)
            prodgate_case.score(0.0 if tok == "three" else 1.0)
        """
    )
    outputs = ["r.json", "r.html", "c.md", "j.xml", "summary.md"]
    result = run(
        "--prodgate", "--prodgate-report=r.json", "--prodgate-html=r.html",
        "--prodgate-comment=c.md", "--junitxml=j.xml",
    )  # fmt: skip
    assert result.ret == 1, result.stdout.str()
    shown = result.stdout.str() + result.stderr.str()
    for name in outputs:
        text = (project.path / name).read_text()
        assert "leak-[REDACTED]" in text or (name == "j.xml" and "[REDACTED]" in text), name
        for secret in (KEY, ENV_SECRET):
            assert secret not in text, f"{secret} in {name}"
    for secret in (KEY, ENV_SECRET, ENV_SECRET[:6]):
        assert secret not in shown, secret
    assert json.loads((project.path / "r.json").read_text())["suites"][0]["name"] == (
        "leak-[REDACTED]"
    )
    for command in (["show", "r.json"], ["gate", "r.json"], ["comment", "r.json"]):
        out = project.run(sys.executable, "-m", "pytest_prodgate.cli", *command)
        assert "leak-[REDACTED]" in out.stdout.str(), command
        assert ENV_SECRET not in out.stdout.str() + out.stderr.str(), command


def test_slices_named_after_a_secret_keep_their_order_when_gated_again(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slices and slice gates are ordered by the names the report holds (redacted), so
    `prodgate gate` on the report prints them in the run's order."""
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_SECRET)
    project.makepyfile(
        test_suite=f"""
        import pytest

        @pytest.mark.prodgate("s", accuracy_floor=0.1,
                              slice_floors={{"lang:en": 0.1, "lang:{ENV_SECRET}": 0.1}})
        @pytest.mark.parametrize("i", range(6))
        def test_case(prodgate_case, i):
            prodgate_case.tag("lang:en" if i % 2 else "lang:{ENV_SECRET}")
            prodgate_case.score(1.0)
        """
    )
    result = project.runpytest("--prodgate", "--prodgate-report=r.json", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    gated = project.run(
        sys.executable, "-m", "pytest_prodgate.cli", "gate", "r.json", "--json", "g.json"
    )
    assert gated.ret == 0, gated.stderr.str()
    run_suite = read_report(project.path / "r.json")["suites"][0]
    again = read_report(project.path / "g.json")["suites"][0]
    assert list(run_suite["slices"]) == list(again["slices"]) == ["lang:[REDACTED]", "lang:en"]
    names = [g["gate"] for g in run_suite["gates"]]
    assert names == [g["gate"] for g in again["gates"]]
    assert names.index("slice_floor[lang:[REDACTED]]") < names.index("slice_floor[lang:en]")
