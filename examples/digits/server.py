"""The digits model served over HTTP: Starlette app, run by uvicorn on loopback.

Endpoints: ``POST /predict {"pixels": [...64 ints]}`` -> ``{"label": 3, "version": ...}``,
``GET /health``, ``POST /deploy {"version": "..."}`` and ``POST /rollback``.
Two versions are real models: ``model.VERSION`` (good, ``logreg-c1`` by default) and
``logreg-shuffled``, trained on shuffled labels — a bad build that still answers every
request, so only an evaluation (a canary) can tell it apart. The recovery drill
exercises exactly that.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from functools import cache

import numpy as np
import uvicorn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .model import SPLIT_SEED, VERSION, split, trained

#: Seconds each prediction stalls: set DIGITS_SLOW_MS=400 to serve a broken-slow build
#: and watch the latency and throughput gates fail (README).
SLOW_S = float(os.environ.get("DIGITS_SLOW_MS", "0")) / 1000.0

BAD_VERSION = "logreg-shuffled"


@cache
def _shuffled() -> Pipeline:
    x_train, _, y_train, _ = split()
    y_bad = np.random.default_rng(SPLIT_SEED).permutation(y_train)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(x_train, y_bad)
    return clf


class Registry:
    """Which model version serves; deploys keep a history so rollback is one step."""

    def __init__(self) -> None:
        self.versions = {VERSION: trained(), BAD_VERSION: _shuffled()}
        self.history = [VERSION]
        self.lock = threading.Lock()

    @property
    def current(self) -> str:
        return self.history[-1]

    def deploy(self, version: str) -> None:
        if version not in self.versions:
            raise KeyError(version)
        with self.lock:
            self.history.append(version)

    def rollback(self) -> str:
        with self.lock:
            if len(self.history) > 1:
                self.history.pop()
            return self.history[-1]


def make_app(registry: Registry) -> Starlette:
    async def predict(request: Request) -> JSONResponse:
        body = await request.json()
        pixels = np.asarray(body.get("pixels"), dtype=float)
        if pixels.shape != (64,):
            return JSONResponse({"error": "expected 64 pixel values"}, status_code=422)
        version = registry.current
        label = int(registry.versions[version].predict(pixels.reshape(1, -1))[0])
        if SLOW_S:
            # A deliberately slow build (DIGITS_SLOW_MS): blocks the server's one event loop.
            time.sleep(SLOW_S)
        return JSONResponse({"label": label, "version": version})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": registry.current})

    async def deploy(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            registry.deploy(str(body.get("version")))
        except KeyError:
            return JSONResponse({"error": "unknown version"}, status_code=404)
        return JSONResponse({"version": registry.current})

    async def rollback(request: Request) -> JSONResponse:
        return JSONResponse({"version": registry.rollback()})

    return Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/health", health),
            Route("/deploy", deploy, methods=["POST"]),
            Route("/rollback", rollback, methods=["POST"]),
        ]
    )


@contextlib.contextmanager
def serve(registry: Registry | None = None) -> Iterator[str]:
    """Run the app on 127.0.0.1 on a free port in a thread; yield its base URL; stop it."""
    app = make_app(registry or Registry())
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="digits-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the digits server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
