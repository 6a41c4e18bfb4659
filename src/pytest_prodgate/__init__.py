"""pytest-prodgate: gate CI on the numbers that decide whether an AI system may ship.

Public API: :class:`Model`, :class:`Pricing`, :class:`Case`, :func:`load_cases`,
``__version__``; the report schema in :mod:`pytest_prodgate.report`; the
statistics in :mod:`pytest_prodgate.stats`.
"""

from __future__ import annotations

from pytest_prodgate._version import __version__
from pytest_prodgate.data.dataset import Case
from pytest_prodgate.measure.model import Model, ModelTimeout, Pricing
from pytest_prodgate.plugin.cases import load_cases

__all__ = ["Case", "Model", "ModelTimeout", "Pricing", "__version__", "load_cases"]
