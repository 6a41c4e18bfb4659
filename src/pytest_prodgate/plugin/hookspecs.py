"""Hooks that conftests and plugins may implement (registered via ``pytest_addhooks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_prodgate.schema.report import GateReport, RunReport


def pytest_prodgate_gates(config: pytest.Config, suite: str, gates: list[GateReport]) -> None:
    """Adjust one suite's evaluated gates before the run's verdict is taken.

    Called on the controller once per suite after the run loop. Implementations may
    change, add or remove items of ``gates`` in place (e.g. to add a gate computed
    from the same cases). The run verdict and exit status follow the list as left.
    """


def pytest_prodgate_report(config: pytest.Config, report: RunReport) -> None:
    """See the final report (after all gates) before it is printed and written.

    Called once on the controller. Use it to export the report elsewhere; changes
    made to ``report`` show in the terminal table and the JSON file.
    """
