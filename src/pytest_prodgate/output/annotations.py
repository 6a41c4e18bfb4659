"""GitHub Actions workflow annotations for gates that did not pass (SPEC §16). Pure.

Under ``GITHUB_ACTIONS=true`` (:func:`enabled`) the run prints one workflow
command per non-passing gate: ``::error`` for a gate that fails the run,
``::warning`` for one that does not (an inconclusive gate allowed to pass, a
gate of a report-mode run). The verdict and whether it fails the run are the
report's own. Values are escaped as GitHub's toolkit escapes them
(``escapeData``/``escapeProperty`` of ``@actions/core``), so a case id or a
reason can neither end the command early nor inject another one.
"""

from __future__ import annotations

from collections.abc import Mapping

from pytest_prodgate.schema.redact import redact
from pytest_prodgate.schema.report import RunReport, SuiteReport

__all__ = ["enabled", "escape_data", "escape_property", "gate_annotations"]

#: Verdicts that neither pass nor fail a run and need no annotation.
_SILENT = {"PASS", "SHARD"}


def enabled(environ: Mapping[str, str]) -> bool:
    """Whether the run is a GitHub Actions job (``GITHUB_ACTIONS=true``)."""
    return environ.get("GITHUB_ACTIONS", "").lower() == "true"


def escape_data(text: str) -> str:
    """A command's message: ``%``, CR and LF percent-encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value: as :func:`escape_data`, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _file(suite: SuiteReport) -> str | None:
    """The test file of the suite's first case (a path relative to the rootdir)."""
    for case in suite.cases:
        for trial in case.trials:
            path = trial.nodeid.split("::", 1)[0]
            if path:
                return path
    return None


def gate_annotations(report: RunReport) -> list[str]:
    """One ``::error`` or ``::warning`` line per gate that did not pass."""
    out = []
    for suite in report.suites:
        where = _file(suite)
        for g in suite.gates:
            if g.verdict in _SILENT:
                continue
            # A gate's own flag holds whatever the mode; a report-mode run or a shard
            # fails on none of them.
            fails = g.fails_run and report.fails_run
            level = "error" if fails else "warning"
            props = [f"title={escape_property(f'prodgate {suite.name} {g.gate} {g.verdict}')}"]
            if where:
                props.insert(0, f"file={escape_property(where)}")
            message = " ".join(x for x in (g.reason, g.hint) if x) or g.verdict
            if not fails:
                message += (
                    " (report mode: does not fail the run)"
                    if report.run.mode == "report"
                    else " (does not fail the run)"
                )
            out.append(f"::{level} {','.join(props)}::{escape_data(redact(message))}")
    return out
