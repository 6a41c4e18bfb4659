"""Command-line options and ini keys, made from the option table; validated in ``pytest_configure``.

Every option and ini key comes from :data:`pytest_prodgate.schema.options.OPTIONS`;
nothing here names an option. Reading the table imports no pydantic: a run with no
``--prodgate*`` option reads no ini key, validates nothing and loads nothing.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pytest_prodgate.plugin.state import (
    MARKER_DOC,
    MODEL_FN_KEY,
    SETTINGS_KEY,
    is_worker,
    xdist_workers,
)
from pytest_prodgate.schema.options import OPTIONS, declare
from pytest_prodgate.schema.redact import redact

#: Where each setting came from: ``{field: (value, where)}``, ``where`` as error lines name it.
Raw = dict[str, tuple[Any, str]]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "prodgate", "prodgate: gate CI on the numbers that decide whether AI ships"
    )
    declare(group.addoption)
    for o in OPTIONS:
        if o.ini_key is not None:
            parser.addini(
                o.ini_key,
                f"default for {o.flag}: {o.help}",
                type=o.ini_type,  # type: ignore[arg-type]
                default=None,
            )


def _raw_settings(config: pytest.Config) -> Raw:
    """Each option given, else its ini key; paths made absolute (SPEC §7)."""
    values: Raw = {}
    for o in OPTIONS:
        value = config.getoption(o.dest)
        if value is not None:
            base = config.invocation_params.dir
            values[o.field] = (value, o.where())
        elif o.ini_key is not None:
            try:
                value = config.getini(o.ini_key)
            except (ValueError, TypeError, pytest.UsageError) as exc:
                # pytest's message quotes the value, which may be a pasted secret.
                raise pytest.UsageError(
                    f"prodgate: {o.where(ini=True)}: {redact(str(exc))}"
                ) from None
            if value is None or value == "":
                continue
            base = config.inipath.parent if config.inipath else config.rootpath
            value = value.strip() if isinstance(value, str) else value
            values[o.field] = (value, o.where(ini=True))
        else:
            continue
        if o.kind == "path":
            raw, where = values[o.field]
            values[o.field] = (Path(base, os.path.expanduser(raw)), where)
    return values


def _usage_error(message: str) -> pytest.UsageError:
    # pytest prefixes only the first line with "ERROR: "; give every line the same.
    lines = [f"prodgate: {line}" for line in message.splitlines()]
    return pytest.UsageError("\nERROR: ".join(lines))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    config.stash[SETTINGS_KEY] = None
    if all(config.getoption(o.dest) is None for o in OPTIONS):
        return  # eval cases are only skipped: nothing else to load or validate
    from pytest_prodgate.schema.settings import SettingsError, build_settings

    raw = _raw_settings(config)
    try:
        settings = build_settings(raw)
    except SettingsError as exc:
        raise _usage_error(str(exc)) from None
    from pytest_prodgate.schema.redact import add_patterns, clear_patterns

    clear_patterns()
    add_patterns(settings.redact or ())
    if not (settings.enabled or settings.lock):
        return  # options given without --prodgate: checked (a typo exits 4), otherwise inert
    from pytest_prodgate.plugin.outputs import check_outputs, run_outputs

    run_outputs(config, settings, raw)
    if not is_worker(config):
        check_outputs(config, settings, raw)
    config.stash[SETTINGS_KEY] = settings
    from pytest_prodgate.measure import recording

    if settings.cache is not None:
        from pytest_prodgate.plugin.cache import configure_cache

        configure_cache(config, settings, raw["cache"][1])
    ledger = getattr(config, "workerinput", {}).get("prodgate_spend_ledger")
    recording.spend().reset(settings.max_spend_usd, ledger)
    if settings.lock:
        from pytest_prodgate.data.dataset import clear_loaded_datasets

        clear_loaded_datasets()  # only what this session's collection loads gets sealed
    if settings.model is not None:
        where = f"{raw['model'][1]}={settings.model}"
        search = [config.invocation_params.dir, config.rootpath]
        config.stash[MODEL_FN_KEY] = import_model(settings.model, where, search)
    if settings.shard is not None and settings.early_stop:
        raise pytest.UsageError(
            "prodgate: --prodgate-early-stop with --prodgate-shard: a shard sees only some "
            "of a suite's cases; run early stopping without --prodgate-shard"
        )
    if settings.shard is not None:
        if settings.lock:
            raise pytest.UsageError(
                "prodgate: --prodgate-shard with --prodgate-lock: seal the whole collection "
                "once, without --prodgate-shard"
            )
        from pytest_prodgate.plugin.shard import ShardSelector

        config.pluginmanager.register(ShardSelector(), "prodgate-shard")
    if settings.lock and not is_worker(config) and xdist_workers(config):
        raise pytest.UsageError(
            "prodgate: --prodgate-lock reads every dataset in this process: run it without -n"
        )
    if settings.enabled or settings.lock:  # the per-item hooks; nothing else pays for them
        # import_module, not an attribute of the package: after pytester's in-process
        # runs the package may still hold a module that sys.modules dropped.
        active = importlib.import_module("pytest_prodgate.plugin.active")
        config.pluginmanager.register(active, active.PLUGIN_NAME)
    if settings.enabled and settings.shard is None:  # a shard never stops early
        from pytest_prodgate.plugin.early import EARLY_KEY, EarlyStop

        config.stash[EARLY_KEY] = EarlyStop(config, settings)
        config.stash[EARLY_KEY].register(config.pluginmanager)
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
            from pytest_prodgate.schema.files import load_report
            from pytest_prodgate.schema.report import ReportError

            where = f"{raw['baseline'][1]}: {settings.baseline}"
            try:
                controller.baseline = load_report(settings.baseline)
            except ReportError as exc:
                raise pytest.UsageError(f"prodgate: {raw['baseline'][1]}: {exc}") from None
            problem = baseline_problem(controller.baseline)
            if problem is not None:
                raise pytest.UsageError(f"prodgate: {where}: {problem}")
            if controller.baseline.run.interrupted:
                controller.notes.append(
                    f"baseline {settings.baseline} is an interrupted run: "
                    "compared on the cases it measured"
                )
        config.pluginmanager.register(controller, "prodgate-controller")
        if getattr(config.option, "xmlpath", None):
            from pytest_prodgate.plugin.junit import JunitRedaction

            config.pluginmanager.register(JunitRedaction(config), "prodgate-junit")


def baseline_problem(baseline: Any) -> str | None:
    """Why a loaded report cannot serve as a baseline (it measured nothing), if so."""
    scored = any(
        t.outcome in ("passed", "missed", "model_error")
        for s in baseline.suites
        for c in s.cases
        for t in c.trials
    )
    if scored:
        return None
    return (
        "measured no eval case (the report of a crashed, interrupted or --collect-only "
        "run?): give the report of a run that measured its cases"
    )


def import_model(spec: str, where: str, search: list[Path]) -> Any:
    """The callable ``package.module:attr``; any failure is one usage error naming ``where``.

    ``where`` is how the user gave it (``--prodgate-model=m:f``, ``prodgate_model
    (ini)=m:f``). A module that is not importable as is gets looked up in ``search``
    (the invocation dir and the rootdir), see :func:`_import`.
    """
    mod_name, _, attr = spec.partition(":")
    try:
        module = _import(mod_name, search)
    except ModuleNotFoundError as exc:
        raise pytest.UsageError(f"prodgate: {where}: cannot import {mod_name!r}: {exc}") from None
    except (Exception, SystemExit) as exc:  # a module that calls sys.exit() at import, too
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


def _import(mod_name: str, search: list[Path]) -> ModuleType:
    """Import ``mod_name``; if its top-level package is missing, retry with ``search`` on sys.path.

    The only place the plugin edits ``sys.path``: the directories are prepended
    (those not already there) and stay, so the model's own sibling imports work at
    call time as they did at import time.
    """
    try:
        return importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        extra = [str(p) for p in dict.fromkeys(search) if str(p) not in sys.path]
        if exc.name != mod_name.split(".")[0] or not extra:
            raise
        sys.path[:0] = extra
        importlib.invalidate_caches()
        return importlib.import_module(mod_name)
