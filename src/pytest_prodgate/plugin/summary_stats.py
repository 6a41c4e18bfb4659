"""pytest's own summary line after a prodgate run: honest counts, red after a failed gate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_prodgate.schema.report import RunReport

__all__ = ["count_as_missed", "mark_run_failed"]


def count_as_missed(config: pytest.Config, report: pytest.TestReport) -> None:
    """A miss is counted as ``missed``, also by a terminal reporter (pytest-sugar) that
    categorises reports itself from their outcome and so filed it under ``passed``."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(tr, "stats", None)
    if not isinstance(stats, dict):
        return
    passed = stats.get("passed")
    # This runs trylast, so a reporter that filed it did so just now: look at the
    # end only (a scan of the whole list made 10,000 misses quadratic).
    if passed and passed[-1] is report:
        passed.pop()
        if not passed:
            del stats["passed"]
        stats.setdefault("missed", []).append(report)


class _GateReport(pytest.TestReport):
    """A failing gate in the terminal's stats: makes pytest's last line red, counts as no test."""

    count_towards_summary = False


def mark_run_failed(tr: Any, report: RunReport) -> None:
    """After a failed gate pytest's closing line is red, as after a failed test."""
    stats = getattr(tr, "stats", None)
    if not isinstance(stats, dict):
        return
    from pytest_prodgate.output.junit import gate_name

    for suite in report.suites:
        for g in suite.gates:
            if g.fails_run:
                name = gate_name(suite.name, g.gate)  # as its JUnit row names it
                stats.setdefault("failed", []).append(
                    _GateReport(
                        nodeid=f"prodgate::{name}",
                        location=("prodgate", None, name),
                        keywords={},
                        outcome="failed",
                        longrepr=f"{g.verdict}",
                        when="call",
                    )
                )
