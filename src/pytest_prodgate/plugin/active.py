"""The hooks of a ``--prodgate`` or ``--prodgate-lock`` run, registered only then.

A run without either never calls them: an ordinary suite with the plugin
installed pays for no per-item hook (issue 11's overhead goal). Under xdist every
worker registers them too (they run the cases); the controller adds
:class:`~pytest_prodgate.plugin.controller.Controller`. Each hook that applies to
one mode only checks it (``enabled`` for ``--prodgate``, ``locking`` for the lock).
"""

from __future__ import annotations

import pytest

from pytest_prodgate.plugin.ahead import pytest_runtestloop
from pytest_prodgate.plugin.items import find_conflicts, pytest_generate_tests
from pytest_prodgate.plugin.outcomes import (
    pytest_report_teststatus,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_unconfigure,
)
from pytest_prodgate.plugin.outcomes import pytest_sessionfinish as _outcomes_sessionfinish
from pytest_prodgate.plugin.state import CONFLICTS_KEY, enabled, is_worker, locking

__all__ = [
    "prepare_items",
    "pytest_generate_tests",
    "pytest_report_header",
    "pytest_report_teststatus",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_runtestloop",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
    "pytest_unconfigure",
]

PLUGIN_NAME = "prodgate-active"


def prepare_items(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """After collection, with ``--prodgate`` or ``--prodgate-lock``: refuse an output that
    is a dataset collection read, seal, find conflicts."""
    from pytest_prodgate.plugin.outputs import check_collected

    check_collected(config, items)
    if locking(config) and not is_worker(config):
        from pytest_prodgate.plugin.locking import seal_collected

        seal_collected(session, config, items)
    if enabled(config):
        config.stash[CONFLICTS_KEY] = find_conflicts(items)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _outcomes_sessionfinish(session, exitstatus)
    if locking(session.config) and not is_worker(session.config):
        from pytest_prodgate.plugin.locking import lock_exitstatus

        lock_exitstatus(session)


def pytest_terminal_summary(terminalreporter: object, config: pytest.Config) -> None:
    if locking(config) and not is_worker(config):
        from pytest_prodgate.plugin.locking import lock_summary

        lock_summary(config, terminalreporter)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """One header line with what the statistics depend on, when ``--prodgate`` is on."""
    if not enabled(config):
        return None
    from pytest_prodgate.plugin.state import settings_of

    s = settings_of(config)
    model = s.model or "the prodgate_model fixture"
    spend = f", max spend ${s.max_spend_usd:g}" if s.max_spend_usd is not None else ""
    return [
        f"prodgate: mode {s.mode}, seed {s.seed}, confidence {s.confidence:g}, "
        f"{s.resamples:,} resamples, ci {s.ci_method}, trials {s.trials}, model {model}{spend}"
    ]
