"""The pytest plugin (entry point ``prodgate``): pytest glue only. It measures and delegates.

Data flows one way: model call -> :class:`~pytest_prodgate.measure.recording.CaseRecorder`
(on the item's stash) -> a plain dict on the teardown report -> aggregated in
``pytest_runtest_logreport`` on the controller (xdist replays workers' reports
through the same hook) -> :mod:`pytest_prodgate.gating.run` decides every verdict
after the run loop -> table, JSON, JUnit, step summary, exit status.

What every pytest run pays for is kept small: this module registers the options,
the fixtures, one collection hook (skip eval cases) and the hook specs. The
per-item hooks (:mod:`pytest_prodgate.plugin.active`) are registered by
``pytest_configure`` only with ``--prodgate`` or ``--prodgate-lock``, and pydantic,
numpy and scipy load only then (the controller gates; xdist workers never import
them unless a test does).
"""

from __future__ import annotations

import pytest

from pytest_prodgate.plugin.fixtures import (
    prodgate_case,
    prodgate_drill,
    prodgate_load,
    prodgate_model,
    prodgate_output,
    prodgate_trial,
)
from pytest_prodgate.plugin.options import pytest_addoption, pytest_configure
from pytest_prodgate.plugin.state import (
    SETTINGS_KEY,
    SKIP_REASON,
    has_prodgate_marker,
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
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_prodgate.plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is not None:
        from pytest_prodgate.plugin.active import prepare_items

        prepare_items(session, config, items)
        if settings.enabled:
            return
    skip: pytest.MarkDecorator | None = None
    seen: dict[int, bool] = {}
    for item in items:
        if has_prodgate_marker(item, seen):
            if skip is None:
                skip = pytest.mark.skip(reason=SKIP_REASON)
            item.add_marker(skip)
