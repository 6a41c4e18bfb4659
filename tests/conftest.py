"""Shared fixtures for pytester scenarios, and the rule for which of them run under xdist.

**Which tests run in three xdist modes.** A scenario runs once, without xdist,
unless its test carries ``@pytest.mark.xdist_modes``: then it runs three ways
(no xdist, ``-n 0``, ``-n 2``). Mark a test when what it asserts depends on
something other than the figures of completed cases crossing the
worker -> controller boundary:

* a case that produced no result on a worker (a harness error, a crashed
  worker, ``-x`` stopping the workers);
* the spend ledger shared by the workers (the spend cap);
* pytest-benchmark, which switches itself off under distribution;
* the model fixture built on a worker (importing ``--prodgate-model``);
* usage errors raised at setup on a worker (marker validation, suites that
  conflict across files, fixtures used outside an eval case).

The figures of completed cases (gates, cases, counts, slices, regression) are
the same in every mode by contract (SPEC §9): ``tests/test_xdist_modes.py``
checks that once per feature, with a few projects that cover several features
each, rather than every scenario paying for three runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy  # noqa: F401  (imported once here: in-process pytester runs cannot re-import it)
import pytest
import scipy.special
import scipy.stats  # noqa: F401

import pytest_prodgate.gating.gates
import pytest_prodgate.measure.model
import pytest_prodgate.plugin.active
import pytest_prodgate.plugin.ahead
import pytest_prodgate.plugin.controller
import pytest_prodgate.schema.redact
import pytest_prodgate.stats  # noqa: F401

pytest_plugins = ["regate_check"]

XDIST_MODES: dict[str, list[str]] = {"plain": [], "n0": ["-n", "0"], "n2": ["-n", "2"]}

#: Gates whose estimate and bounds are timings: only their verdict, n and method
#: are compared across xdist modes.
TIMING_GATE_PREFIXES = ("latency_", "throughput_rps", "recovery_s")

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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "xdist_modes: run this test's pytester scenario without xdist, with -n 0 and with "
        "-n 2 (see tests/conftest.py for when); unmarked scenarios run once, without xdist",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``xdist_args`` over the three modes for tests marked ``xdist_modes``."""
    if "xdist_args" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "xdist_modes"
    ):
        metafunc.parametrize("xdist_args", list(XDIST_MODES), indirect=True)


@pytest.fixture(autouse=True)
def _not_in_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite's own output does not depend on the CI it runs in: tests that want
    workflow annotations or a step summary set ``GITHUB_ACTIONS`` /
    ``GITHUB_STEP_SUMMARY`` themselves."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pytester runs print to a 1,000-column terminal, so reasons stay on one line for
    the patterns that match them; tests/test_terminal_width.py sets real widths."""
    monkeypatch.setenv("COLUMNS", "1000")


@pytest.fixture
def xdist_args(request: pytest.FixtureRequest) -> list[str]:
    """Extra command-line arguments of the current xdist mode ("plain" unless marked)."""
    return XDIST_MODES[getattr(request, "param", "plain")]


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
    """A report with every field (the file leaves defaults out), as builtins.

    The case fields the file does not store (``scores``, ``latencies_ms``,
    ``suite``, ``source``: derived from the trials, the suite and ``datasets``) are
    filled in from the loaded model, so tests can read them as before.
    """
    from pytest_prodgate.schema.files import load_report

    report = load_report(path)
    out = report.model_dump(mode="json")
    for suite, dumped in zip(report.suites, out["suites"], strict=True):
        for case, row in zip(suite.cases, dumped["cases"], strict=True):
            row.update(
                scores=list(case.scores),
                latencies_ms=list(case.latencies_ms),
                suite=case.suite,
                source=case.source,
            )
    return out


def is_timing_gate(gate: str) -> bool:
    return gate.startswith(TIMING_GATE_PREFIXES)


def gate_figures(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The gate figures that must be identical across xdist modes.

    ``(suite, gate, estimate, lower, upper, n, method, verdict)`` per gate; for a
    timing gate (latency, throughput, recovery) estimate and bounds are ``None``:
    only its verdict, n and method must match.
    """
    out = []
    for s in report["suites"]:
        for g in s["gates"]:
            timing = is_timing_gate(g["gate"])
            out.append(
                (
                    s["name"],
                    g["gate"],
                    None if timing else g["estimate"],
                    None if timing else g["lower"],
                    None if timing else g["upper"],
                    g["n"],
                    g["method"],
                    g["verdict"],
                )
            )
    return out
