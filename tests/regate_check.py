"""Every scenario of this suite that writes a report is re-gated by ``prodgate gate``.

A pytest plugin (``pytest_plugins = ["regate_check"]`` in ``tests/conftest.py``).
It wraps ``pytest.Pytester.runpytest_inprocess`` and ``runpytest_subprocess``
(``runpytest`` dispatches to one of them, so each run is checked once): when a run
was given ``--prodgate-report=PATH`` (or ``--prodgate-report PATH``; relative to
``pytester.path``) and wrote that file, the report is loaded and
``prodgate gate REPORT`` (with ``--baseline B`` when the run had
``--prodgate-baseline=B``) runs in-process. The check asserts that

* every gate's figures (suite, gate, estimate, lower, upper, n, method, verdict)
  equal the run's (floats to 1e-9 relative, which a JSON round trip keeps), and
* the command exits 1 exactly when the run's report ``fails_run``, else 0.

A report-mode run (``--prodgate-mode=report``) never fails, and neither does
``prodgate gate`` on its report: the command keeps the mode the report was run
with, as it keeps every other setting. Such a report is also gated with
``--mode gate``, which must exit 1 exactly when one of its gates fails the run.

Not checked: runs whose report was not written (usage errors; the file is absent
or older than the run), and reports named only in an ini file. The number of runs
checked is printed in the terminal summary.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_prodgate.cli.main import main
from pytest_prodgate.schema.files import load_report
from pytest_prodgate.schema.report import RunReport

#: Runs checked in this session (per process).
CHECKED = {"runs": 0, "report_mode": 0}


def _option(args: Sequence[object], flag: str) -> str | None:
    """The value of ``flag`` in ``args`` (``--flag=V`` or ``--flag V``); the last one wins."""
    strs = [str(a) for a in args]
    value = None
    for i, arg in enumerate(strs):
        if arg.startswith(flag + "="):
            value = arg[len(flag) + 1 :]
        elif arg == flag and i + 1 < len(strs):
            value = strs[i + 1]
    return value


def figures(report: RunReport) -> list[tuple[Any, ...]]:
    return [
        (s.name, g.gate, g.estimate, g.lower, g.upper, g.n, g.method, g.verdict)
        for s in report.suites
        for g in s.gates
    ]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def run_gate(*args: str) -> tuple[int, str, str]:
    """``prodgate ARGS`` in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def check_report(report_path: Path, baseline: Path | None = None) -> None:
    """Assert that ``prodgate gate`` reproduces the run's figures, verdicts and exit status."""
    saved = load_report(report_path)
    extra = ["--baseline", str(baseline)] if baseline is not None else []
    if saved.run.shard is not None or not any(s.cases for s in saved.suites):
        # Nothing to gate (a shard: prodgate merge decides; no case measured): refused.
        code, out, err = run_gate("gate", str(report_path), *extra)
        why = "a shard report" if saved.run.shard is not None else "measured no eval case"
        context = f"prodgate gate {report_path} -> {code}\n{out}{err}"
        assert code == 2, context
        assert why in err, context
        CHECKED["runs"] += 1
        return
    with tempfile.TemporaryDirectory(prefix="regate-") as tmp:
        out_path = Path(tmp, "regated.json")
        code, out, err = run_gate("gate", str(report_path), *extra, "--json", str(out_path))
        context = f"prodgate gate {report_path} {' '.join(extra)} -> {code}\n{out}{err}"
        assert code in (0, 1), context
        regated = load_report(out_path)
    before, after = figures(saved), figures(regated)
    assert len(before) == len(after), f"gates differ:\n{before}\n{after}\n{context}"
    for b, a in zip(before, after, strict=True):
        assert all(_same(x, y) for x, y in zip(b, a, strict=True)), (
            f"prodgate gate disagrees with the run:\nrun:     {b}\nregated: {a}\n{context}"
        )
    assert code == (1 if saved.fails_run else 0), f"fails_run={saved.fails_run}\n{context}"
    if saved.run.mode == "report":
        gated, out, err = run_gate("gate", str(report_path), *extra, "--mode", "gate")
        fails = any(g.fails_run for s in saved.suites for g in s.gates)
        assert gated == (1 if fails else 0), f"--mode gate -> {gated}\n{out}{err}"
        CHECKED["report_mode"] += 1
    CHECKED["runs"] += 1


def _stamp(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _checked(run: Callable[..., pytest.RunResult]) -> Callable[..., pytest.RunResult]:
    def wrapper(self: pytest.Pytester, *args: object, **kwargs: Any) -> pytest.RunResult:
        raw = _option(args, "--prodgate-report")
        path = Path(self.path, raw) if raw else None
        before = _stamp(path) if path else None
        result = run(self, *args, **kwargs)
        if path is None or _stamp(path) in (None, before):
            return result  # no report asked for, or none written (a usage error)
        base = _option(args, "--prodgate-baseline")
        check_report(path, Path(self.path, base) if base else None)
        return result

    return wrapper


@pytest.fixture(autouse=True)
def _regate_every_written_report(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("runpytest_inprocess", "runpytest_subprocess"):
        monkeypatch.setattr(pytest.Pytester, name, _checked(getattr(pytest.Pytester, name)))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CHECKED["runs"]:
        terminalreporter.write_line(
            f"regate check: prodgate gate reproduced the figures, verdicts and exit status of "
            f"{CHECKED['runs']} pytester runs that wrote a report "
            f"({CHECKED['report_mode']} in report mode)"
        )
