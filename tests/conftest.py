"""Shared fixtures: every plugin scenario runs three ways (no xdist, -n 0, -n 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy  # noqa: F401  (imported once here: in-process pytester runs cannot re-import it)
import pytest
import scipy.special
import scipy.stats  # noqa: F401

import pytest_prodgate.gating.gates
import pytest_prodgate.stats  # noqa: F401

XDIST_MODES: dict[str, list[str]] = {"plain": [], "n0": ["-n", "0"], "n2": ["-n", "2"]}

#: A tiny deterministic "model" module that pytester projects import.
MODEL_MODULE = """
import time

def echo(x):
    return x

def upper(x):
    return str(x).upper()

def flaky(x):
    if str(x).startswith("boom"):
        raise ConnectionError(f"upstream refused {x}")
    return x

def slow(x):
    time.sleep(float(x))
    return x
"""


@pytest.fixture(params=list(XDIST_MODES))
def xdist_args(request: pytest.FixtureRequest) -> list[str]:
    """Extra command-line arguments for one of the three xdist modes."""
    return XDIST_MODES[request.param]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with ``mymodel.py`` importable as ``--prodgate-model=mymodel:echo``."""
    pytester.makepyfile(mymodel=MODEL_MODULE)
    pytester.syspathinsert()
    return pytester


RunFn = Callable[..., pytest.RunResult]


@pytest.fixture
def run(project: pytest.Pytester, xdist_args: list[str]) -> RunFn:
    """Run pytest in the project (in-process) in the current xdist mode."""

    def _run(*args: str) -> pytest.RunResult:
        return project.runpytest(*xdist_args, "-p", "no:cacheprovider", *args)

    return _run


def read_report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def gate_figures(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The figures that must be identical across xdist modes."""
    return [
        (
            s["name"],
            g["gate"],
            g["estimate"],
            g["lower"],
            g["upper"],
            g["n"],
            g["method"],
            g["verdict"],
        )
        for s in report["suites"]
        for g in s["gates"]
    ]
