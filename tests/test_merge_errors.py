"""``prodgate merge`` refuses what is not one whole sharded run: one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_prodgate.cli.main import main

SUITE = """
import pytest

@pytest.mark.prodgate("qa", accuracy_floor=0.5)
@pytest.mark.parametrize("q", [f"q{i}" for i in range(16)])
def test_qa(prodgate_model, q):
    assert prodgate_model(q) == q
"""


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shard reports of one project, made once for every test of this module."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("shards")
    (root / "mymodel.py").write_text("def echo(x):\n    return x\n")
    (root / "test_suite.py").write_text(SUITE)
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    base += ["--prodgate", "--prodgate-model=mymodel:echo"]
    runs = {
        "s1.json": ["--prodgate-shard=1/2"],
        "s2.json": ["--prodgate-shard=2/2"],
        "s13.json": ["--prodgate-shard=1/3"],
        "seed.json": ["--prodgate-shard=2/2", "--prodgate-seed=7"],
        "fewer.json": ["--prodgate-shard=2/2", "-k", "not q3 and not q4 and not q5"],
        "whole.json": [],
    }
    for name, args in runs.items():
        done = subprocess.run(
            [*base, *args, f"--prodgate-report={name}"], cwd=root, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return root


def _edit(src: Path, dst: Path, change: Any) -> None:
    data = json.loads(src.read_text())
    change(data)
    dst.write_text(json.dumps(data))


def _merge(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *files: str
) -> tuple[int, list[str]]:
    monkeypatch.chdir(root)
    capsys.readouterr()
    rc = main(["merge", *files])
    return rc, capsys.readouterr().err.strip().splitlines()


def test_whole_shards_merge_and_write_the_report(
    reports: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(reports)
    assert main(["merge", "s2.json", "s1.json", "--json", "out/merged.json"]) == 0
    out = capsys.readouterr().out
    assert "prodgate: PASSED — 1 gate" in out
    assert f"prodgate: report written to {reports / 'out' / 'merged.json'}" in out
    merged = json.loads((reports / "out" / "merged.json").read_text())
    whole = json.loads((reports / "whole.json").read_text())
    assert merged["suites"][0]["gates"] == whole["suites"][0]["gates"]
    assert [c["id"] for c in merged["suites"][0]["cases"]] == [
        c["id"] for c in whole["suites"][0]["cases"]
    ]
    assert not [p for p in (reports / "out").iterdir() if p.name != "merged.json"]  # no temp file


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["s1.json"], "prodgate merge: error: missing shard 2/2 (given: 1/2 s1.json)"),
        (["s1.json", "s1.json"], "*s1.json and s1.json are both shard 1/2: overlapping shards"),
        (["s1.json", "s13.json"], "*s13.json is shard 1/3 but s1.json is shard 1/2: *"),
        (["s1.json", "whole.json"], "*whole.json: not a shard report (run with --prodgate-shard*"),
        (["s1.json", "seed.json"], "*seed.json: seed 7 differs from s1.json's 0 *"),
        (["s1.json", "fewer.json"], "*fewer.json collected other eval cases than s1.json (13 vs*"),
        (["s1.json", "nope.json"], "prodgate merge: error: *nope.json: no such file"),
    ],
)  # fmt: skip
def test_bad_shards_are_one_line_and_exit_2(
    reports: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    files: list[str],
    message: str,
) -> None:
    import fnmatch

    rc, err = _merge(reports, capsys, monkeypatch, *files)
    assert rc == 2
    assert len(err) == 1, err
    assert fnmatch.fnmatch(err[0], message), err[0]


def _drop_case(d: dict[str, Any]) -> None:
    d["suites"][0]["cases"].pop()


def _other_target(d: dict[str, Any]) -> None:
    d["suites"][0]["targets"]["accuracy_floor"] = 0.1


def _no_collection(d: dict[str, Any]) -> None:
    d["run"]["shard"]["collected_sha256"] = ""


def _other_lock(d: dict[str, Any]) -> None:
    d["run"]["shard"]["lock_sha256"] = "0" * 64


def _duplicate_case(d: dict[str, Any]) -> None:
    d["suites"][0]["cases"][0]["id"] = "q0" if d["run"]["shard"]["index"] == 2 else "q1"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop_case, "*bad.json: shard 2/2 was assigned * eval cases but its report holds *"),
        (_other_target, "*bad.json: suite 'qa' has other targets than in s1.json"),
        (_no_collection, "*bad.json: shard 2/2 recorded no collection *"),
        (_other_lock, "*bad.json read another prodgate.lock than s1.json"),
    ],
)
def test_edited_shards_are_refused(
    reports: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    edit: Any,
    message: str,
) -> None:
    import fnmatch

    _edit(reports / "s2.json", reports / "bad.json", edit)
    rc, err = _merge(reports, capsys, monkeypatch, "s1.json", "bad.json")
    assert rc == 2
    assert len(err) == 1, err
    assert fnmatch.fnmatch(err[0], message), err[0]


def test_a_case_in_two_shards_is_refused(
    reports: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s1 = json.loads((reports / "s1.json").read_text())
    taken = s1["suites"][0]["cases"][0]["id"]

    def steal(d: dict[str, Any]) -> None:
        d["suites"][0]["cases"][0]["id"] = taken

    _edit(reports / "s2.json", reports / "dup.json", steal)
    rc, err = _merge(reports, capsys, monkeypatch, "s1.json", "dup.json")
    assert rc == 2
    assert err == [
        f"prodgate merge: error: s1.json and dup.json both hold case {taken!r} of suite 'qa': "
        "overlapping shards"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "*corrupt.json: not valid JSON (line 1: *"),
        ('{"schema_version": 3}', "*corrupt.json: report schema_version 3 is not supported*"),
        ("[]", "*corrupt.json: not a prodgate report (no schema_version)"),
    ],
)
def test_unreadable_reports_are_one_line(
    reports: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    message: str,
) -> None:
    import fnmatch

    (reports / "corrupt.json").write_text(text)
    rc, err = _merge(reports, capsys, monkeypatch, "s1.json", "corrupt.json")
    assert rc == 2
    assert len(err) == 1, err
    assert fnmatch.fnmatch(err[0], message), err[0]


def test_output_that_cannot_be_a_file_is_refused_before_reading(
    reports: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rc, err = _merge(reports, capsys, monkeypatch, "s1.json", "s2.json", "-o", ".")
    assert rc == 2
    assert err == [f"prodgate merge: error: --json {reports}: is a directory, not a file"]
