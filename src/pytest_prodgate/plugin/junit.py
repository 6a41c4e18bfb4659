"""pytest's ``--junitxml`` file, redacted after pytest writes it (SPEC §18).

The plugin's gate rows are redacted as they are added (:mod:`pytest_prodgate.output.junit`);
the eval cases' own rows are pytest's, named by their node ids, which carry parameter ids
(a case id from a dataset, a parametrized value) that may hold a token. pytest writes the
file at the end of the session; this plugin's ``pytest_sessionfinish`` runs after that
(``trylast``) and rewrites the file, atomically, only when redaction changed a value.
"""

from __future__ import annotations

import pytest

__all__ = ["JunitRedaction"]


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
