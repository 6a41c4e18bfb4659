"""write_atomic's temporary files: named by their writer, removed when it is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_prodgate.schema import atomic
from pytest_prodgate.schema.atomic import write_atomic


def test_write_atomic_removes_the_temporary_files_of_dead_writers(tmp_path: Path) -> None:
    target = tmp_path / "big.json"
    target.write_text("old")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tag = atomic._writer_tag()
    day_ago = time.time() - atomic.STALE_TEMP_AGE_S - 60
    names = {
        "dead": f".big.json.{dead.pid}.{tag}.abcd_123.tmp",
        "alive": f".big.json.1.{tag}.abcd_123.tmp",  # pid 1 runs
        "other host, fresh": f".big.json.{dead.pid}.0badc0de.abcd_123.tmp",
        "other host, old": f".big.json.{dead.pid}.0badc0df.abcd_123.tmp",
        "old naming, fresh": ".big.json.moyblpd2.tmp",
        "old naming, old": ".big.json.zzyblpd2.tmp",
        "another file": ".big.json.notours.tmp",
        "another target": f".other.json.{dead.pid}.{tag}.abcd_123.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_text("partial")
    for key in ("other host, old", "old naming, old", "another file"):
        os.utime(tmp_path / names[key], (day_ago, day_ago))
    write_atomic(target, "new")
    assert target.read_text() == "new"
    left = {p.name for p in tmp_path.iterdir()} - {"big.json"}
    gone = {"dead", "other host, old", "old naming, old"}
    assert left == {name for key, name in names.items() if key not in gone}


def test_the_temporary_file_names_its_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def chunks():  # type: ignore[no-untyped-def]
        seen.extend(p.name for p in tmp_path.iterdir())
        yield b"x"

    write_atomic(tmp_path / "r.json", chunks())
    tmp = [n for n in seen if n.endswith(".tmp")]
    assert len(tmp) == 1
    assert tmp[0].startswith(f".r.json.{os.getpid()}.{atomic._writer_tag()}.")
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


KILLED_WRITER = """
import os, signal, sys
from pytest_prodgate.schema.atomic import write_atomic

def chunks():
    yield b"x" * 1_000_000
    os.kill(os.getpid(), signal.SIG{sig})
    yield b"y" * 1_000_000

write_atomic(sys.argv[1], chunks())
"""


@pytest.mark.parametrize("sig", ["TERM", "KILL"])
def test_a_writer_killed_mid_write_keeps_the_old_file_and_leaves_no_temporary_file(
    tmp_path: Path, sig: str
) -> None:
    """SIGTERM removes its own temporary file; after SIGKILL the next write removes it."""
    target = tmp_path / "big.json"
    target.write_text("old report")
    script = KILLED_WRITER.format(sig=sig)
    proc = subprocess.run([sys.executable, "-c", script, str(target)], check=False)
    assert proc.returncode == -getattr(signal, f"SIG{sig}")
    assert target.read_text() == "old report"
    left = sorted(p.name for p in tmp_path.iterdir())
    if sig == "TERM":
        assert left == ["big.json"]
    else:
        assert len(left) == 2  # what SIGKILL leaves; the next write removes it
        write_atomic(target, "new report")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["big.json"]
        assert target.read_text() == "new report"


def test_write_atomic_restores_the_sigterm_handler(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    write_atomic(tmp_path / "r.json", "x")
    assert signal.getsignal(signal.SIGTERM) is before
