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
from pytest_prodgate.plugin.locking import seal_collected
from pytest_prodgate.plugin.options import pytest_addoption, pytest_configure
from pytest_prodgate.plugin.outcomes import (
    pytest_report_teststatus,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_sessionfinish,
    pytest_unconfigure,
)
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
    "pytest_report_teststatus",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_runtest_teardown",
    "pytest_runtestloop",
    "pytest_sessionfinish",
    "pytest_unconfigure",
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_prodgate.plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if locking(config) and not is_worker(config):
        seal_collected(config, items)
    if not enabled(config):
        skip = pytest.mark.skip(reason=SKIP_REASON)
        for item in items:
            if is_eval_case(item):
                item.add_marker(skip)
        return
    config.stash[CONFLICTS_KEY] = find_conflicts(items)
