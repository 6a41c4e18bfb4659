"""Wire the example model into pytest-prodgate: override ``prodgate_model``."""

from __future__ import annotations

import pytest

from pytest_prodgate import Model

from .model import PRICE_PER_CALL_USD, VERSION, predict, trained


@pytest.fixture(scope="session")
def prodgate_model() -> Model:
    trained()  # train once, outside any case: a warm-up, never gated
    return Model(
        predict,
        name="digits-classifier",
        version=VERSION,
        cost=lambda _output: PRICE_PER_CALL_USD,
        timeout_s=2.0,
    )
