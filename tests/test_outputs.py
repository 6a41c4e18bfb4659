"""Output files: writable before any case runs, never one of the run's inputs, never a
silent "written" for a write that failed, no temporary files left behind (SPEC §7, §8)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_prodgate.cli.main import main

from conftest import RunFn

DATA = '{"id": "a", "input": "1", "expected": "1"}\n{"id": "b", "input": "2", "expected": "2"}\n'

SUITE = """
import pytest
from pytest_prodgate import load_cases

@pytest.mark.prodgate(accuracy_floor=0.1)
@pytest.mark.parametrize("case", load_cases("evals/arith.jsonl"))
def test_case(prodgate_model, case):
    open("calls.txt", "a").write("x")
    assert prodgate_model(case.input) == case.expected
"""

MODEL = ["--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-mode=report"]


def _no_crash(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text
    assert "Traceback (most recent call last)" not in text


def _suite(project: pytest.Pytester) -> dict[str, bytes]:
    """The project, and the bytes of every file an output must not touch."""
    project.makepyfile(test_suite=SUITE)
    (project.path / "evals").mkdir()
    (project.path / "evals" / "arith.jsonl").write_text(DATA)
    (project.path / "old.json").write_text("previous run\n")
    return {
        "evals/arith.jsonl": DATA.encode(),
        "old.json": b"previous run\n",
    }


def _unchanged(project: pytest.Pytester, files_before: dict[str, bytes]) -> None:
    for name, data in files_before.items():
        assert (project.path / name).read_bytes() == data, name


# ------------------------------------------------------------ outputs vs inputs


@pytest.mark.xdist_modes
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--prodgate-report=evals/arith.jsonl"],
            "--prodgate-report={p}/evals/arith.jsonl is the same file as the dataset "
            "{p}/evals/arith.jsonl this run evaluates: writing it would overwrite it; "
            "give another path",
        ),
        (
            ["--junitxml=evals/arith.jsonl"],  # pytest writes it; the plugin adds rows
            "--junitxml={p}/evals/arith.jsonl is the same file as the dataset "
            "{p}/evals/arith.jsonl this run evaluates: *",
        ),
        (
            ["--prodgate-html=./evals/../evals/arith.jsonl"],
            "--prodgate-html={p}/evals/../evals/arith.jsonl is the same file as the dataset "
            "{p}/evals/arith.jsonl this run evaluates: *",
        ),
        (
            ["--prodgate-comment=link.jsonl"],  # a symlink to the dataset
            "--prodgate-comment={p}/link.jsonl is the same file as the dataset "
            "{p}/evals/arith.jsonl this run evaluates: *",
        ),
    ],
)
def test_an_output_that_is_a_dataset_exits_4_before_any_case(
    run: RunFn, project: pytest.Pytester, options: list[str], message: str
) -> None:
    before = _suite(project)
    (project.path / "link.jsonl").symlink_to("evals/arith.jsonl")
    result = run(*MODEL, *options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: prodgate: {message.format(p=project.path)}"])
    assert not (project.path / "calls.txt").exists()
    result.stdout.no_fnmatch_line("*written*")
    _unchanged(project, before)
    _no_crash(result)


@pytest.mark.xdist_modes
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--prodgate-report=same.out", "--prodgate-html=same.out"],
            "--prodgate-html={p}/same.out is the same file as --prodgate-report={p}/same.out: "
            "only one of them would survive; give each output its own path",
        ),
        (
            ["--prodgate-report=old.json", "--prodgate-comment=hard.json"],  # a hard link
            "--prodgate-comment={p}/hard.json is the same file as "
            "--prodgate-report={p}/old.json: *",
        ),
        (
            ["--prodgate-report=prodgate.lock"],
            "--prodgate-report={p}/prodgate.lock is the same file as the lock {p}/prodgate.lock: "
            "writing it would overwrite it; give another path",
        ),
        (
            ["--prodgate-report=old.json", "--prodgate-baseline=./old.json"],
            "--prodgate-report={p}/old.json is the same file as "
            "--prodgate-baseline={p}/old.json: *",
        ),
        (
            ["--prodgate-report=cache/r.json", "--prodgate-cache=cache"],
            "--prodgate-report={p}/cache/r.json is inside --prodgate-cache={p}/cache: writing it "
            "could overwrite a file there; give a path outside it",
        ),
        (
            ["--prodgate-report=r.json", "--junitxml=r.json"],
            "--junitxml={p}/r.json is the same file as --prodgate-report={p}/r.json: *",
        ),
    ],
)
def test_an_output_that_is_another_output_or_an_input_exits_4(
    run: RunFn, project: pytest.Pytester, options: list[str], message: str
) -> None:
    before = _suite(project)
    os.link(project.path / "old.json", project.path / "hard.json")
    result = run(*MODEL, *options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: prodgate: {message.format(p=project.path)}"])
    assert not (project.path / "calls.txt").exists()
    assert not (project.path / "prodgate.lock").exists()
    _unchanged(project, before)
    _no_crash(result)


def test_the_lock_being_written_is_not_an_input_but_is_an_output(
    run: RunFn, project: pytest.Pytester
) -> None:
    _suite(project)
    result = run("--prodgate-lock")
    assert result.ret == 0, result.stdout.str()
    assert (project.path / "prodgate.lock").exists()
    lock = (project.path / "prodgate.lock").read_bytes()
    result = run(*MODEL, "--prodgate-lock", "--prodgate-report=prodgate.lock")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: prodgate: --prodgate-lock={project.path}/prodgate.lock is the same file "
            f"as --prodgate-report={project.path}/prodgate.lock: only one of them would survive*"
        ]
    )
    assert (project.path / "prodgate.lock").read_bytes() == lock


@pytest.mark.xdist_modes
def test_a_dataset_read_in_a_test_body_is_never_overwritten(
    run: RunFn, project: pytest.Pytester
) -> None:
    """Known only when the run ends: that output is NOT written and the run fails."""
    project.makepyfile(
        test_body="""
        import pytest
        from pytest_prodgate import load_cases

        @pytest.mark.prodgate(accuracy_floor=0.1)
        def test_reads(prodgate_model):
            load_cases("late.jsonl")
            assert prodgate_model("x") == "x"
        """
    )
    (project.path / "late.jsonl").write_text(DATA)
    result = run(*MODEL, "--prodgate-report=late.jsonl", "--prodgate-comment=c.md")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    p = project.path
    result.stdout.fnmatch_lines(
        [
            f"prodgate: comment written to {p}/c.md",
            f"prodgate: report NOT written to {p}/late.jsonl: --prodgate-report={p}/late.jsonl "
            f"is the same file as the dataset {p}/late.jsonl this run evaluates: *",
        ]
    )
    result.stdout.no_fnmatch_line("*report written*")
    assert (p / "late.jsonl").read_text() == DATA


# ------------------------------------------------------------ prodgate merge / html / comment


def _report(tmp_path: Path) -> Path:
    from pytest_prodgate.schema.files import write_report
    from report_factory import reports

    path = tmp_path / "r.json"
    write_report(path, reports(5)[0])
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["merge", "s1.json", "s2.json", "s3.json", "-o", "s1.json"],
            "prodgate merge: error: --json {p}/s1.json is the same file as the shard "
            "{p}/s1.json: writing it would overwrite it; give another path",
        ),
        (
            ["merge", "s1.json", "s2.json", "--baseline", "r.json", "--json", "./r.json"],
            "prodgate merge: error: --json {p}/r.json is the same file as --baseline {p}/r.json: *",
        ),
        (
            ["html", "r.json", "-o", "link.json"],
            "prodgate html: error: -o {p}/link.json is the same file as the report {p}/r.json: *",
        ),
        (
            ["comment", "r.json", "-o", "r.json"],
            "prodgate comment: error: -o {p}/r.json is the same file as the report {p}/r.json: *",
        ),
        (
            ["gate", "r.json", "--json", "./r.json"],
            "prodgate gate: error: --json {p}/r.json is the same file as the report {p}/r.json: *",
        ),
        (
            ["gate", "s1.json", "--baseline", "r.json", "--json", "link.json"],
            "prodgate gate: error: --json {p}/link.json is the same file as --baseline "
            "{p}/r.json: *",
        ),
        (
            ["comment", "s1.json", "--baseline", "r.json", "-o", "r.json"],
            "prodgate comment: error: -o {p}/r.json is the same file as --baseline {p}/r.json: *",
        ),
    ],
)
def test_the_command_refuses_an_output_that_is_an_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    report = _report(tmp_path)
    for name in ("s1.json", "s2.json", "s3.json"):
        shutil.copy(report, tmp_path / name)
    (tmp_path / "link.json").symlink_to("r.json")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    from fnmatch import fnmatch

    assert fnmatch(err[0], message.format(p=tmp_path)), err[0]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# ------------------------------------------------------------ unwritable outputs


def _as_non_root(cmd: list[str]) -> list[str]:
    """``cmd`` run without the capabilities that let root ignore permission bits."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop CAP_DAC_OVERRIDE")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", *cmd]


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "n2"])
@pytest.mark.parametrize("option", ["report", "html", "comment"])
def test_an_existing_output_in_a_read_only_directory_exits_4(
    project: pytest.Pytester, option: str, xdist: list[str]
) -> None:
    """The atomic write needs a new file beside the target, also when the target exists."""
    _suite(project)
    ro = project.path / "ro"
    ro.mkdir()
    (ro / "old.json").write_text("previous run\n")
    ro.chmod(0o555)
    try:
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *xdist, *MODEL]
        result = project.run(*_as_non_root([*cmd, f"--prodgate-{option}=ro/old.json"]))
    finally:
        ro.chmod(0o755)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: prodgate: --prodgate-{option}={ro}/old.json: cannot create files in {ro} "
            "(Permission denied): replacing the file needs a temporary file beside it"
        ]
    )
    assert (ro / "old.json").read_text() == "previous run\n"
    assert sorted(p.name for p in ro.iterdir()) == ["old.json"]
    assert not (project.path / "calls.txt").exists()


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["gate", "r.json", "--json", "ro/old.json"], "--json"),
        (["merge", "r.json", "-o", "ro/old.json"], "--json"),
        (["html", "r.json", "-o", "ro/old.json"], "-o"),
        (["comment", "r.json", "-o", "ro/old.json"], "-o"),
    ],
)
def test_the_command_refuses_an_output_in_a_read_only_directory_before_any_work(
    tmp_path: Path, argv: list[str], flag: str
) -> None:
    """The command's outputs get the plugin's check (schema/outputs.py output_problem)."""
    _report(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "old.json").write_text("previous run\n")
    ro.chmod(0o555)
    try:
        cmd = _as_non_root([sys.executable, "-m", "pytest_prodgate.cli", *argv])
        result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    finally:
        ro.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1].endswith(
        f"error: {flag} {ro}/old.json: cannot create files in {ro} (Permission denied): "
        "replacing the file needs a temporary file beside it"
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert (ro / "old.json").read_text() == "previous run\n"
    assert sorted(p.name for p in ro.iterdir()) == ["old.json"]


def test_an_output_that_cannot_be_written_at_the_end_fails_the_run(
    run: RunFn, project: pytest.Pytester
) -> None:
    """No "written" line for it, exit 1 (not 0), and the other outputs are still written."""
    project.makepyfile(
        test_block="""
        import pytest

        @pytest.mark.prodgate(accuracy_floor=0.1)
        def test_blocks(prodgate_model):
            open("out", "w").write("a file where the report's directory should be")
            assert prodgate_model("x") == "x"
        """
    )
    result = run(*MODEL, "--prodgate-report=out/r.json", "--prodgate-comment=c.md")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    p = project.path
    result.stdout.fnmatch_lines(
        [
            f"prodgate: comment written to {p}/c.md",
            f"prodgate: report NOT written to {p}/out/r.json: [[]Errno 17[]] File exists: *",
        ]
    )
    result.stdout.no_fnmatch_line("*report written*")
    assert (p / "out").read_text().startswith("a file")


def test_a_failed_write_does_not_hide_another_failure(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_block="""
        def test_blocks():
            open("out", "w").write("x")

        def test_fails():
            assert False
        """
    )
    project.makepyfile(test_case="import pytest\n@pytest.mark.prodgate\ndef test_x(): pass\n")
    result = run(*MODEL, "--prodgate-report=out/r.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["prodgate: report NOT written to *"])
