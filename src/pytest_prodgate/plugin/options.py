"""Command-line options and ini keys, validated in ``pytest_configure``."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodgate.measure import recording
from pytest_prodgate.plugin.state import (
    MARKER_DOC,
    MODEL_FN_KEY,
    SETTINGS_KEY,
    is_worker,
    xdist_workers,
)

if TYPE_CHECKING:
    pass


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("prodgate", "gate CI on the numbers that decide whether AI ships")
    group.addoption(
        "--prodgate", action="store_true", default=None, help="run eval cases and gate the run."
    )
    group.addoption(
        "--prodgate-mode",
        choices=("gate", "report"),
        default=None,
        help="gate (default): fail the run on a missed gate; report: measure and report only.",
    )
    group.addoption(
        "--prodgate-model",
        default=None,
        metavar="MOD:ATTR",
        help="callable behind the default prodgate_model fixture.",
    )
    group.addoption(
        "--prodgate-report", default=None, metavar="PATH", help="write the JSON report to PATH."
    )
    group.addoption(
        "--prodgate-baseline",
        default=None,
        metavar="PATH",
        help="a previous JSON report to compare accuracy with.",
    )
    group.addoption(
        "--prodgate-confidence",
        type=float,
        default=None,
        metavar="LEVEL",
        help="two-sided confidence level of every interval (default 0.95).",
    )
    group.addoption(
        "--prodgate-resamples",
        type=int,
        default=None,
        metavar="N",
        help="bootstrap resamples (default 9999).",
    )
    group.addoption(
        "--prodgate-seed", type=int, default=None, metavar="N", help="statistics seed (default 0)."
    )
    group.addoption(
        "--prodgate-ci-method",
        default=None,
        choices=("auto", "bootstrap", "wilson", "clopper-pearson"),
        help="interval for accuracy, slice and error-rate gates (default auto, see docs).",
    )
    group.addoption(
        "--prodgate-inconclusive",
        default=None,
        choices=("fail", "warn"),
        help="whether an inconclusive gate fails the run.",
    )
    group.addoption(
        "--prodgate-trials",
        type=int,
        default=None,
        metavar="N",
        help="default trials per case (default 1).",
    )
    group.addoption(
        "--prodgate-max-spend-usd",
        type=float,
        default=None,
        metavar="USD",
        help="stop calling models once the run has spent USD.",
    )
    group.addoption(
        "--prodgate-lock",
        action="store_true",
        default=None,
        help="write prodgate.lock (sealed datasets and targets).",
    )
    ini_types = {
        "prodgate_mode": "string",
        "prodgate_model": "string",
        "prodgate_report": "string",
        "prodgate_baseline": "string",
        "prodgate_confidence": "float",
        "prodgate_resamples": "int",
        "prodgate_seed": "int",
        "prodgate_ci_method": "string",
        "prodgate_inconclusive": "string",
        "prodgate_trials": "int",
        "prodgate_max_spend_usd": "float",
    }
    for key, kind in ini_types.items():
        opt = key.replace("prodgate_", "--prodgate-").replace("_", "-")
        parser.addini(key, f"default for {opt}", type=kind, default=None)  # type: ignore[arg-type]


_OPTION_DESTS = (
    "prodgate",
    "prodgate_lock",
    "prodgate_mode",
    "prodgate_model",
    "prodgate_report",
    "prodgate_baseline",
    "prodgate_confidence",
    "prodgate_resamples",
    "prodgate_seed",
    "prodgate_ci_method",
    "prodgate_inconclusive",
    "prodgate_trials",
    "prodgate_max_spend_usd",
)


def _raw_settings(config: pytest.Config) -> dict[str, tuple[Any, str]]:
    from pytest_prodgate.schema.options import OPTIONS

    values: dict[str, tuple[Any, str]] = {}
    for name, (opt, ini) in OPTIONS.items():
        cli = config.getoption(opt.lstrip("-").replace("-", "_"))
        if cli is not None:
            values[name] = (cli, opt)
            continue
        if ini is None:
            continue
        try:
            raw = config.getini(ini)
        except (ValueError, TypeError, pytest.UsageError) as exc:
            raise pytest.UsageError(f"prodgate: {ini} (ini): {exc}") from None
        if raw is not None and raw != "":
            values[name] = (raw.strip() if isinstance(raw, str) else raw, f"{ini} (ini)")
    for name in ("report", "baseline"):
        if name in values:
            raw, where = values[name]
            base = (
                config.invocation_params.dir
                if where.startswith("--")
                else (config.inipath.parent if config.inipath else config.rootpath)
            )
            values[name] = (Path(base, os.path.expanduser(raw)), where)
    return values


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    config.stash[SETTINGS_KEY] = None
    given = [d for d in _OPTION_DESTS if config.getoption(d) is not None]
    if not given:
        return  # eval cases are only skipped: nothing else to load or validate
    from pytest_prodgate.schema.options import SettingsError, build_settings

    try:
        settings = build_settings(_raw_settings(config))
    except SettingsError as exc:
        # pytest prefixes only the first line with "ERROR: "; give every line the same.
        lines = [f"prodgate: {line}" for line in str(exc).splitlines()]
        raise pytest.UsageError("\nERROR: ".join(lines)) from None
    if not (settings.enabled or settings.lock):
        return  # options given without --prodgate: checked (a typo exits 4), otherwise inert
    config.stash[SETTINGS_KEY] = settings
    ledger = getattr(config, "workerinput", {}).get("prodgate_spend_ledger")
    recording.spend().reset(settings.max_spend_usd, ledger)
    if settings.lock:
        from pytest_prodgate.data.dataset import clear_loaded_datasets

        clear_loaded_datasets()  # only what this session's collection loads gets sealed
    if settings.model is not None:
        config.stash[MODEL_FN_KEY] = import_model(settings.model, config)
    if settings.lock and not is_worker(config) and xdist_workers(config):
        raise pytest.UsageError(
            "prodgate: --prodgate-lock reads every dataset in this process: run it without -n"
        )
    if not is_worker(config) and settings.enabled:
        from pytest_prodgate.plugin.controller import Controller

        controller = Controller(config, settings)
        from pytest_prodgate.data.sealing import LockError, find_lock, read_lock

        lock_path = find_lock(config.rootpath)
        if lock_path is not None and not settings.lock:
            try:
                controller.lock = read_lock(lock_path)
            except LockError as exc:
                raise pytest.UsageError(f"prodgate: {exc}") from None
        if settings.baseline is not None:
            from pytest_prodgate.schema.report import ReportError, load_report

            try:
                controller.baseline = load_report(settings.baseline)
            except ReportError as exc:
                raise pytest.UsageError(f"prodgate: --prodgate-baseline: {exc}") from None
        config.pluginmanager.register(controller, "prodgate-controller")


def import_model(spec: str, config: pytest.Config) -> Any:
    """Import ``package.module:attr`` (searching the invocation dir and rootdir too)."""
    mod_name, _, attr = spec.partition(":")
    where = f"--prodgate-model={spec}"
    try:
        module = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        extra = [str(config.invocation_params.dir), str(config.rootpath)]
        if exc.name != mod_name.split(".")[0] or all(p in sys.path for p in extra):
            raise pytest.UsageError(
                f"prodgate: {where}: cannot import {mod_name!r}: {exc}"
            ) from None
        sys.path[:0] = [p for p in dict.fromkeys(extra) if p not in sys.path]
        try:
            module = importlib.import_module(mod_name)
        except Exception as exc2:
            raise pytest.UsageError(
                f"prodgate: {where}: cannot import {mod_name!r}: {type(exc2).__name__}: {exc2}"
            ) from None
    except Exception as exc:
        raise pytest.UsageError(
            f"prodgate: {where}: importing {mod_name!r} raised {type(exc).__name__}: {exc}"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise pytest.UsageError(
                f"prodgate: {where}: module {mod_name!r} has no attribute {attr!r}"
            ) from None
    if not callable(obj):
        raise pytest.UsageError(f"prodgate: {where}: {attr!r} is not callable")
    return obj
