"""The pytest plugin (entry point ``prodgate``): pytest glue only. It measures and delegates.

Data flows one way: model call -> :class:`~pytest_prodgate.measure.recording.CaseRecorder`
(on the item's stash) -> a plain dict on the teardown report -> aggregated in
``pytest_runtest_logreport`` on the controller (xdist replays workers' reports
through the same hook) -> :mod:`pytest_prodgate.gating.run` decides every verdict
after the run loop -> table, JSON, JUnit, step summary, exit status.

Only what every pytest run needs is imported here: pydantic, numpy and scipy load
when ``--prodgate`` (or ``--prodgate-lock``) is given, so plain runs stay as fast as before.
The hooks and fixtures live in the modules below and are re-exported here, where
pytest looks for them.
"""

from __future__ import annotations

import pytest

from pytest_prodgate.plugin.ahead import (
    prodgate_output,
    pytest_runtest_teardown,
    pytest_runtestloop,
)
from pytest_prodgate.plugin.fixtures import (
    prodgate_case,
    prodgate_drill,
    prodgate_load,
    prodgate_model,
    prodgate_trial,
)
from pytest_prodgate.plugin.items import find_conflicts, pytest_generate_tests
from pytest_prodgate.plugin.locking import lock_exitstatus, lock_summary, seal_collected
from pytest_prodgate.plugin.options import pytest_addoption, pytest_configure
from pytest_prodgate.plugin.outcomes import (
    pytest_report_teststatus,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_unconfigure,
)
from pytest_prodgate.plugin.outcomes import pytest_sessionfinish as _outcomes_sessionfinish
from pytest_prodgate.plugin.state import (
    CONFLICTS_KEY,
    SKIP_REASON,
    enabled,
    is_eval_case,
    is_worker,
    locking,
)

__all__ = [
    "prodgate_case",
    "prodgate_drill",
    "prodgate_load",
    "prodgate_model",
    "prodgate_output",
    "prodgate_trial",
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_report_header",
    "pytest_report_teststatus",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_runtest_teardown",
    "pytest_runtestloop",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
    "pytest_unconfigure",
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_prodgate.plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if locking(config) and not is_worker(config):
        seal_collected(session, config, items)
    if not enabled(config):
        skip = pytest.mark.skip(reason=SKIP_REASON)
        for item in items:
            if is_eval_case(item):
                item.add_marker(skip)
        return
    config.stash[CONFLICTS_KEY] = find_conflicts(items)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _outcomes_sessionfinish(session, exitstatus)
    if locking(session.config) and not is_worker(session.config):
        lock_exitstatus(session)


def pytest_terminal_summary(terminalreporter: object, config: pytest.Config) -> None:
    if locking(config) and not is_worker(config):
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
