"""pytest-prodgate: gate CI on the numbers that decide whether an AI system may ship.

Public API: :class:`Model`, :class:`Pricing`, :class:`Case`, :func:`load_cases`,
``__version__``; the report schema in :mod:`pytest_prodgate.report`; the
statistics in :mod:`pytest_prodgate.stats`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_prodgate._version import __version__
from pytest_prodgate.data.dataset import Case
from pytest_prodgate.measure.model import Model, ModelTimeout, Pricing

if TYPE_CHECKING:
    from pytest_prodgate.plugin.cases import load_cases

__all__ = ["Case", "Model", "ModelTimeout", "Pricing", "__version__", "load_cases"]


def __getattr__(name: str) -> Any:
    # load_cases wraps cases in pytest.param: import pytest only when it is asked for,
    # so the ``prodgate`` command (which never needs it) starts without pytest.
    if name == "load_cases":
        from pytest_prodgate.plugin.cases import load_cases

        return load_cases
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
