"""Wire the example into pytest-prodgate: a real server on loopback, a real HTTP client.

A session fixture starts the digits model behind uvicorn on a free port of
127.0.0.1 and stops it at the end; ``prodgate_model`` calls it through httpx.
(Under xdist each worker runs its own server.)
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from pytest_prodgate import Model

from .model import PRICE_PER_CALL_USD
from .server import Registry, serve


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry()  # trains both model versions once, outside any case (warm-up)


@pytest.fixture(scope="session")
def server_url(registry: Registry) -> Iterator[str]:
    with serve(registry) as url:
        yield url


@pytest.fixture(scope="session")
def http(server_url: str) -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with httpx.Client(base_url=server_url, timeout=5.0, limits=limits) as client:
        yield client


@pytest.fixture(scope="session")
def prodgate_model(http: httpx.Client, registry: Registry) -> Model:
    def predict(pixels: list[int]) -> int:
        response = http.post("/predict", json={"pixels": pixels})
        response.raise_for_status()
        return int(response.json()["label"])

    model = Model(
        predict,
        name="digits-classifier (HTTP)",
        version=registry.current,
        cost=lambda _label: PRICE_PER_CALL_USD,
        timeout_s=5.0,
        retries=1,
    )
    return model
