"""pytest's ``--junitxml`` file: the gates added as testcases (SPEC §8), and the file
redacted after pytest writes it (SPEC §18).

The plugin's gate rows are redacted as they are added (:mod:`pytest_prodgate.output.junit`);
the eval cases' own rows are pytest's, named by their node ids, which carry parameter ids
(a case id from a dataset, a parametrized value) that may hold a token. pytest writes the
file at the end of the session; this plugin's ``pytest_sessionfinish`` runs after that
(``trylast``) and rewrites the file, atomically, only when redaction changed a value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_prodgate.schema.report import RunReport

__all__ = ["JunitRedaction", "add_gate_rows"]


def add_gate_rows(config: pytest.Config, report: RunReport) -> None:
    """Each gate as a JUnit testcase ``prodgate::SUITE::GATE`` (SPEC §8), when --junitxml."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - pytest moved it; JUnit output is optional
        return
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    from pytest_prodgate.output.junit import junit_rows

    for row in junit_rows(report):
        for when in ("call", "teardown"):
            outcome = row.outcome if when == "call" else "passed"
            xml.pytest_runtest_logreport(
                pytest.TestReport(
                    nodeid=row.nodeid,
                    location=(row.location[0], None, row.location[1]),
                    keywords={},
                    outcome=outcome,
                    longrepr=row.text if outcome == "failed" else None,
                    when=when,
                    sections=[("prodgate", row.text)] if when == "call" else [],
                    duration=0.0,
                )
            )


class JunitRedaction:
    """Registered on the controller of a ``--prodgate`` run (also under xdist)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from _pytest.junitxml import xml_key

        xml = self.config.stash.get(xml_key, None)
        path = getattr(xml, "logfile", None)
        if not path:
            return
        from pytest_prodgate.output.junit import redact_junit_file

        try:
            redact_junit_file(path)
        except (OSError, SyntaxError) as exc:  # ParseError is a SyntaxError
            tr = self.config.pluginmanager.get_plugin("terminalreporter")
            if tr is not None:
                tr.write_line(
                    f"prodgate: WARNING: cannot redact the --junitxml file {path}: {exc}",
                    yellow=True,
                    bold=True,
                )
