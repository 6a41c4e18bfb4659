"""The run's output files, written once on the controller, and the lines that say so.

``--prodgate-report`` (JSON), ``--prodgate-html`` and ``--prodgate-comment`` pages and
``GITHUB_STEP_SUMMARY``: each written atomically, each checked against the datasets
the run read (never overwrite one). A file that cannot be written is a ``NOT written``
line, and fails the run (docs/reference.md).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodgate.plugin.state import OUTPUTS_KEY

if TYPE_CHECKING:
    from pytest_prodgate.schema.options import Settings
    from pytest_prodgate.schema.report import RunReport

__all__ = ["RunOutputs"]


class RunOutputs:
    """Writes a gated run's files (:meth:`write`) and tells the terminal (:meth:`tell`)."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        #: One line per output file written, and per output file that could not be.
        self.written: list[str] = []
        self.not_written: list[str] = []
        #: Problems that fail nothing (the step summary), printed under the table.
        self.warnings: list[str] = []
        self.report_written = False
        self.report_kept: str | None = None

    def write(self, report: RunReport, measured: bool, read_by_workers: list[str]) -> None:
        """Every output of ``report``; ``measured``: some eval case gave a result."""
        from pytest_prodgate.output.markdown import markdown
        from pytest_prodgate.schema.files import write_report

        path = self.settings.report
        if path is not None and not measured and path.exists():
            # A run that measured nothing (a collection error, every case deselected)
            # must not replace a report that measured something.
            self.report_kept = (
                f"prodgate: report NOT written: this run measured no eval case; "
                f"kept the existing {path}"
            )
            path = None
        if path is not None:
            write = functools.partial(write_report, path, report, self.config.rootpath)
            self.report_written = self._write(path, "report", write, read_by_workers)
        self._write_pages(report, read_by_workers)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            try:
                with open(summary, "a", encoding="utf-8") as fh:
                    fh.write(markdown(report))
            except OSError as exc:
                self._warn(f"cannot append to GITHUB_STEP_SUMMARY={summary}: {exc}")

    def _write_pages(self, report: RunReport, read_by_workers: list[str]) -> None:
        """``--prodgate-html`` and ``--prodgate-comment`` (SPEC §16), each written atomically."""
        from pytest_prodgate.output.comment import comment
        from pytest_prodgate.output.html import html_report
        from pytest_prodgate.schema.files import write_atomic

        pages = ((self.settings.html, "HTML report", html_report),
                 (self.settings.comment, "comment", comment))  # fmt: skip
        for path, what, render in pages:
            if path is not None:
                write = functools.partial(write_atomic, path, render(report))
                self._write(path, what, write, read_by_workers)

    def _write(
        self, path: Path, what: str, write: Callable[[], None], read_by_workers: list[str]
    ) -> bool:
        """Write one output; a failure is a ``NOT written`` line (and fails the run).

        Checked again first against every dataset read, also in a test body or on a
        worker (collection's are refused before any case runs): never overwrite one.
        """
        from pytest_prodgate.data.dataset import loaded_datasets
        from pytest_prodgate.plugin.outputs import dataset_clash
        from pytest_prodgate.schema.redact import redact

        datasets = [*loaded_datasets(), *read_by_workers]
        outputs = [(label, p) for label, p in self.config.stash.get(OUTPUTS_KEY, []) if p == path]
        problem = dataset_clash(self.config, datasets, outputs)
        if problem is None:
            try:
                write()
            except OSError as exc:
                problem = str(exc)
        else:
            problem = problem.removeprefix("prodgate: ")
        if problem is not None:
            self.not_written.append(redact(f"prodgate: {what} NOT written to {path}: {problem}"))
            return False
        if what != "report":
            self.written.append(f"prodgate: {what} written to {path}")
        return True

    def _warn(self, message: str) -> None:
        from pytest_prodgate.schema.redact import redact

        # Kept for tell(): written now it would land on the end of the progress line.
        self.warnings.append(redact(f"prodgate: WARNING: {message}"))

    def tell(self, tr: Any, report: RunReport) -> None:
        """The lines under the gate table: what was written, kept, or not written."""
        if self.report_kept is not None:
            tr.write_line(self.report_kept, yellow=True)
        elif report.suites and self.report_written:
            tr.write_line(f"prodgate: report written to {self.settings.report}")
        for line in self.written:
            tr.write_line(line)
        for line in self.not_written:
            tr.write_line(line, red=True, bold=True)
        for line in self.warnings:
            tr.write_line(line, yellow=True, bold=True)
