"""Each gate as a JUnit testcase ``prodgate::SUITE::GATE`` (SPEC §8). Pure: no pytest.

The controller feeds these rows to pytest's ``--junitxml`` writer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from pytest_prodgate.schema.redact import redact
from pytest_prodgate.schema.report import RunReport

__all__ = ["JunitRow", "junit_rows", "redact_junit_file"]


@dataclass(frozen=True)
class JunitRow:
    """One gate as a testcase: failing when its verdict fails the run."""

    nodeid: str
    #: ``prodgate`` and ``SUITE::GATE``: the testcase's file and name.
    location: tuple[str, str]
    outcome: Literal["passed", "failed"]
    #: Verdict, reason and hint: the failure message and the captured section.
    text: str


def junit_rows(report: RunReport) -> list[JunitRow]:
    """One row per gate, in table order; none fails in ``mode="report"``."""
    rows = []
    for suite in report.suites:
        for g in suite.gates:
            fails = g.fails_run and report.run.mode == "gate"
            name = redact(f"{suite.name}::{g.gate}")  # a slice's tag may hold a token
            rows.append(
                JunitRow(
                    nodeid=f"prodgate::{name}",
                    location=("prodgate", name),
                    outcome="failed" if fails else "passed",
                    text=redact(f"{g.verdict}: {g.reason} {g.hint}".strip()),
                )
            )
    return rows


def redact_junit_file(path: str | os.PathLike[str]) -> bool:
    """Redact every line of a JUnit XML file (pytest's, with its test ids); rewritten
    atomically only when a line changed. Whether it was."""
    from pytest_prodgate.schema.files import write_atomic
    from pytest_prodgate.schema.redact import redactor

    with open(path, encoding="utf-8", newline="") as fh:
        lines = fh.read().splitlines(keepends=True)
    clean = redactor().many(lines)
    if clean == lines:
        return False
    write_atomic(path, "".join(clean))
    return True
