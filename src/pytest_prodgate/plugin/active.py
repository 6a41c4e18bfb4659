"""The hooks of a ``--prodgate`` run, registered by ``pytest_configure`` only then.

A run without ``--prodgate`` never calls them: an ordinary suite with the plugin
installed pays for no per-item hook (issue 11's overhead goal). Under xdist every
worker registers them too (they run the cases); the controller adds
:class:`~pytest_prodgate.plugin.controller.Controller`.
"""

from __future__ import annotations

import pytest

from pytest_prodgate.plugin.items import find_conflicts, pytest_generate_tests
from pytest_prodgate.plugin.outcomes import (
    pytest_report_teststatus,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_sessionfinish,
    pytest_unconfigure,
)
from pytest_prodgate.plugin.state import CONFLICTS_KEY, enabled, is_worker, locking

__all__ = [
    "prepare_items",
    "pytest_generate_tests",
    "pytest_report_teststatus",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_sessionfinish",
    "pytest_unconfigure",
]

PLUGIN_NAME = "prodgate-active"


def prepare_items(config: pytest.Config, items: list[pytest.Item]) -> None:
    """After collection, with ``--prodgate`` or ``--prodgate-lock``: seal, find conflicts."""
    if locking(config) and not is_worker(config):
        from pytest_prodgate.plugin.locking import seal_collected

        seal_collected(config, items)
    if enabled(config):
        config.stash[CONFLICTS_KEY] = find_conflicts(items)
