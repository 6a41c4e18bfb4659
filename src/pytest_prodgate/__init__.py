"""pytest-prodgate: gate CI on the numbers that decide whether an AI system may ship.

Public API: :class:`Model`, :class:`Pricing`, :class:`Case`, :func:`load_cases`,
:class:`ModelTimeout`, :class:`ReplayedModelError`, ``__version__``; the report
schema in :mod:`pytest_prodgate.report`; the statistics in :mod:`pytest_prodgate.stats`.

Each name is imported on first use: the pytest plugin (``pytest_prodgate.plugin``)
imports this package on every pytest run, and a run without ``--prodgate`` needs
none of them (``Model`` alone would import ``asyncio``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_prodgate._version import __version__

if TYPE_CHECKING:
    from pytest_prodgate.data.dataset import Case
    from pytest_prodgate.errors import ReplayedModelError
    from pytest_prodgate.measure.model import Model, ModelTimeout, Pricing
    from pytest_prodgate.plugin.cases import load_cases

__all__ = [
    "Case",
    "Model",
    "ModelTimeout",
    "Pricing",
    "ReplayedModelError",
    "__version__",
    "load_cases",
]

_WHERE = {
    "Case": "pytest_prodgate.data.dataset",
    "Model": "pytest_prodgate.measure.model",
    "ModelTimeout": "pytest_prodgate.measure.model",
    "Pricing": "pytest_prodgate.measure.model",
    "ReplayedModelError": "pytest_prodgate.errors",
    # load_cases wraps cases in pytest.param: the ``prodgate`` command never imports pytest.
    "load_cases": "pytest_prodgate.plugin.cases",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    # Not cached here: sys.modules stays the one source (pytester's in-process runs
    # drop the modules a run imported, and the next run imports them afresh).
    return getattr(importlib.import_module(module), name)
