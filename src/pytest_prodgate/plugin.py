"""The pytest plugin: options, marker, fixtures and hooks. It measures and delegates.

Data flows one way: model call -> :class:`~pytest_prodgate.recording.CaseRecorder`
(on the item's stash) -> a plain dict on the teardown report -> aggregated in
``pytest_runtest_logreport`` on the controller (xdist replays workers' reports
through the same hook) -> gates evaluated after the run loop -> table, JSON,
step summary, exit status.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import recording

# Only what every pytest run needs is imported here: pydantic, numpy and scipy load
# when --prodgate (or --prodgate-lock) is given, so plain runs stay as fast as before.

if TYPE_CHECKING:
    from .model import Model
    from .settings import Settings
    from .targets import TargetError, Targets

SKIP_REASON = "prodgate eval case (run with --prodgate)"
MARKER_DOC = (
    "prodgate(suite=None, *, accuracy_floor=None, latency_p50_ms=None, latency_p90_ms=None, "
    "latency_p95_ms=None, latency_p99_ms=None, cost_per_call_usd=None, error_rate_max=None, "
    "throughput_rps=None, recovery_s=None, max_regression=None, slice_floors=None, trials=None): "
    "an eval case gated on the locked numbers given (see pytest-prodgate docs)."
)

SETTINGS_KEY = pytest.StashKey["Settings | None"]()
MODEL_FN_KEY = pytest.StashKey[Any]()
CONFLICTS_KEY = pytest.StashKey[dict[str, str]]()


@dataclass
class ItemSpec:
    """What the markers of one eval-case item declare, parsed once."""

    suite: str
    case_id: str
    trial: int
    targets: Targets | None
    error: str | None = None
    location: str = ""
    #: The :class:`pytest_prodgate.Case` the item is parametrized with, if any.
    case: Any = None


@dataclass
class TrialState:
    """What one item measured, filled in phase by phase."""

    recorder: recording.CaseRecorder
    outcome: str = "passed"
    score: float | None = None
    reason: str | None = None
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)


SPEC_KEY = pytest.StashKey[ItemSpec]()
TRIAL_KEY = pytest.StashKey[TrialState]()


# ------------------------------------------------------------------ options and configure


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


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def _raw_settings(config: pytest.Config) -> dict[str, tuple[Any, str]]:
    from .settings import OPTIONS

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


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    config.stash[SETTINGS_KEY] = None
    given = [d for d in _OPTION_DESTS if config.getoption(d) is not None]
    if not given:
        return  # eval cases are only skipped: nothing else to load or validate
    from .settings import SettingsError, build_settings

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
        from .dataset import clear_loaded_datasets

        clear_loaded_datasets()  # only what this session's collection loads gets sealed
    if settings.model is not None:
        config.stash[MODEL_FN_KEY] = _import_model(settings.model, config)
    if settings.lock and not _is_worker(config) and _xdist_workers(config):
        raise pytest.UsageError(
            "prodgate: --prodgate-lock reads every dataset in this process: run it without -n"
        )
    if not _is_worker(config) and settings.enabled:
        from .controller import Controller

        controller = Controller(config, settings)
        from .lock import LockError, find_lock, read_lock

        lock_path = find_lock(config.rootpath)
        if lock_path is not None and not settings.lock:
            try:
                controller.lock = read_lock(lock_path)
            except LockError as exc:
                raise pytest.UsageError(f"prodgate: {exc}") from None
        if settings.baseline is not None:
            from .report import ReportError, load_report

            try:
                controller.baseline = load_report(settings.baseline)
            except ReportError as exc:
                raise pytest.UsageError(f"prodgate: --prodgate-baseline: {exc}") from None
        config.pluginmanager.register(controller, "prodgate-controller")


def _xdist_workers(config: pytest.Config) -> int:
    n = getattr(config.option, "numprocesses", None)
    return n if isinstance(n, int) else 0


def _import_model(spec: str, config: pytest.Config) -> Any:
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


# ------------------------------------------------------------------ collection


def _settings(config: pytest.Config) -> Settings:
    """The validated settings; only call where :func:`_enabled` or ``--prodgate-lock`` holds."""
    settings = config.stash.get(SETTINGS_KEY, None)
    assert settings is not None, "prodgate settings are read only when prodgate is on"
    return settings


def _enabled(config: pytest.Config) -> bool:
    settings = config.stash.get(SETTINGS_KEY, None)
    return settings is not None and settings.enabled


def _locking(config: pytest.Config) -> bool:
    settings = config.stash.get(SETTINGS_KEY, None)
    return settings is not None and settings.lock


EVAL_KEY = pytest.StashKey[bool]()


def is_eval_case(item: pytest.Item) -> bool:
    """Whether ``item`` carries the prodgate marker (directly or inherited); cached."""
    flag = item.stash.get(EVAL_KEY, None)
    if flag is None:
        flag = isinstance(item, pytest.Function) and item.get_closest_marker("prodgate") is not None
        item.stash[EVAL_KEY] = flag
    return flag


def _default_suite(item: pytest.Item) -> str:
    assert isinstance(item, pytest.Function)
    parent = item.parent.nodeid if item.parent is not None else ""
    return f"{parent}::{item.originalname}" if parent else item.originalname


def _case_identity(item: pytest.Item, case: Any) -> tuple[str, int]:
    """(case id, trial): the Case's id, else the parametrize id, else the node id."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return item.nodeid, 0
    params: dict[str, Any] = callspec.params
    trial = int(params.get(TRIAL_FIXTURE, 0))
    if case is not None:
        return case.id, trial
    ids = list(getattr(callspec, "_idlist", [callspec.id]))
    if TRIAL_FIXTURE in params and _trial_id(trial) in ids:
        ids.remove(_trial_id(trial))
    if not ids:
        return item.nodeid.split("[", 1)[0], trial
    return "-".join(ids), trial


TRIAL_FIXTURE = "prodgate_trial"


def _trial_id(trial: int) -> str:
    return f"trial{trial}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each eval case N times (``trials=N`` or ``--prodgate-trials``) as separate items."""
    if not _enabled(metafunc.config):
        return
    from .targets import TargetError, parse_marker_args

    settings = _settings(metafunc.config)
    markers = [(m.args, m.kwargs) for m in metafunc.definition.iter_markers("prodgate")]
    if not markers:
        return
    try:
        _, targets = parse_marker_args(markers)
    except TargetError:
        return  # reported per test at setup
    trials = targets.trials or settings.trials
    if trials > 1:
        if TRIAL_FIXTURE not in metafunc.fixturenames:
            metafunc.fixturenames.append(TRIAL_FIXTURE)
        metafunc.parametrize(
            TRIAL_FIXTURE, range(trials), indirect=True, ids=[_trial_id(i) for i in range(trials)]
        )


def item_spec(item: pytest.Item) -> ItemSpec:
    """Parse an eval case's markers once; errors are kept for setup to report."""
    spec = item.stash.get(SPEC_KEY, None)
    if spec is not None:
        return spec
    case = _case_of(item)
    case_id, trial = _case_identity(item, case)
    markers = [(m.args, m.kwargs) for m in item.iter_markers("prodgate")]
    path, lineno, _ = item.location
    location = f"{item.nodeid} ({path}:{(lineno or 0) + 1})"
    parsed = _parse_cached(item.config, markers)
    if isinstance(parsed, BaseException):
        spec = ItemSpec(_default_suite(item), case_id, trial, None, str(parsed), location, case)
    else:
        name, targets = parsed
        spec = ItemSpec(name or _default_suite(item), case_id, trial, targets, None, location, case)
    item.stash[SPEC_KEY] = spec
    return spec


PARSED_KEY = pytest.StashKey[dict[str, "tuple[str | None, Targets] | TargetError"]]()


def _parse_cached(
    config: pytest.Config, markers: list[tuple[Any, Any]]
) -> tuple[str | None, Targets] | TargetError:
    """Parse markers once per distinct set: a parametrized test's items share them."""
    from .targets import TargetError, parse_marker_args

    cache = config.stash.setdefault(PARSED_KEY, {})
    key = repr(markers)
    if key not in cache:
        try:
            cache[key] = parse_marker_args(markers)
        except TargetError as exc:
            cache[key] = exc
    return cache[key]


def _find_conflicts(items: list[pytest.Item]) -> dict[str, str]:
    """Cases of one suite that declare another target for a gate than an earlier case."""
    first: dict[tuple[str, str], tuple[Any, str]] = {}
    conflicts: dict[str, str] = {}
    for item in items:
        if not is_eval_case(item):
            continue
        spec = item_spec(item)
        if spec.targets is None:
            continue
        for gate, value in spec.targets.declared().items():
            key = (spec.suite, gate)
            seen = first.setdefault(key, (value, spec.location))
            if seen[0] != value and item.nodeid not in conflicts:
                conflicts[item.nodeid] = (
                    f"suite {spec.suite!r} declares {gate}={value!r} here but "
                    f"{gate}={seen[0]!r} at {seen[1]}; one suite has one target per gate "
                    "(give one of them another suite name)."
                )
    return conflicts


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if _locking(config) and not _is_worker(config):
        _write_lock(config, items)
    if not _enabled(config):
        skip = pytest.mark.skip(reason=SKIP_REASON)
        for item in items:
            if is_eval_case(item):
                item.add_marker(skip)
        return
    config.stash[CONFLICTS_KEY] = _find_conflicts(items)


def _write_lock(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--prodgate-lock``: seal every dataset collection loaded, and every suite's targets."""
    from .dataset import loaded_datasets
    from .lock import build_lock, write_lock

    suites: dict[str, dict[str, Any]] = {}
    for item in items:
        if is_eval_case(item):
            spec = item_spec(item)
            if spec.error is not None:
                raise pytest.UsageError(f"prodgate: {item.nodeid}: prodgate marker: {spec.error}")
            if spec.targets is not None:
                merged = suites.setdefault(spec.suite, {})
                for key, value in spec.targets.declared().items():
                    merged.setdefault(key, value)
    datasets = loaded_datasets()
    try:
        lock = build_lock(config.rootpath, datasets, suites)
        kept = _keep_uncollected(config.rootpath, lock)
        path = write_lock(config.rootpath, lock)
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"prodgate: cannot write the lock: {exc}") from None
    n_cases = sum(d.n_cases for d in datasets.values())
    kept_note = (
        f"; kept from the old lock, not collected now: {', '.join(kept)} "
        "(delete those entries by hand if they are gone for good)"
        if kept
        else ""
    )
    pytest.exit(
        f"prodgate: wrote {path}: {len(datasets)} dataset{'s' if len(datasets) != 1 else ''} "
        f"({n_cases:,} cases) and {len(suites)} suite{'s' if len(suites) != 1 else ''} sealed"
        f"{kept_note}; review and commit it",
        returncode=0,
    )


def _keep_uncollected(root: Path, lock: dict[str, Any]) -> list[str]:
    """Relocking a subset (``-k``, a path) must not unseal what it did not collect."""
    from .lock import LockError, find_lock, read_lock

    old_path = find_lock(root)
    if old_path is None:
        return []
    try:
        old = read_lock(old_path)
    except LockError:
        return []  # a broken lock is replaced whole
    kept = []
    for section in ("datasets", "suites"):
        for key, entry in old[section].items():
            if key not in lock[section]:
                lock[section][key] = entry
                kept.append(key)
    for section in ("datasets", "suites"):
        lock[section] = dict(sorted(lock[section].items()))
    return kept


# ------------------------------------------------------------------ running a case


def _active(item: pytest.Item) -> bool:
    return _enabled(item.config) and is_eval_case(item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _active(item):
        return
    spec = item_spec(item)
    item.stash[TRIAL_KEY] = TrialState(recording.CaseRecorder())
    if spec.error is not None:
        pytest.fail(f"{item.nodeid}: prodgate marker: {spec.error}", pytrace=False)
    conflict = item.config.stash.get(CONFLICTS_KEY, {}).get(item.nodeid)
    if conflict is not None:
        pytest.fail(f"{item.nodeid}: prodgate marker: {conflict}", pytrace=False)
    if spec.case is not None:
        item.stash[TRIAL_KEY].recorder.add_tags(*spec.case.tags)


def _case_of(item: pytest.Item) -> Any:
    from .dataset import Case

    for value in getattr(getattr(item, "callspec", None), "params", {}).values():
        if isinstance(value, Case):
            return value
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    state = item.stash.get(TRIAL_KEY, None)
    if state is None:
        return (yield)
    recording.activate(state.recorder)
    try:
        return (yield)
    finally:
        recording.deactivate()


def _short(excinfo: pytest.ExceptionInfo[BaseException], limit: int = 300) -> str:
    text = str(excinfo.value).strip()
    first = text.splitlines()[0] if text else ""
    msg = f"{excinfo.typename}: {first}" if first else excinfo.typename
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def _classify_call(
    item: pytest.Item, rep: pytest.TestReport, call: pytest.CallInfo[None], state: TrialState
) -> None:
    excinfo = call.excinfo
    rec = state.recorder
    if excinfo is None:
        if rep.passed:
            state.outcome = "passed"
            state.score = rec.score if rec.score is not None else 1.0
        return
    if excinfo.errisinstance(pytest.skip.Exception) or rep.skipped:
        state.outcome, state.reason = "skipped", _short(excinfo)
        return
    if excinfo.errisinstance(recording.SpendCapReached):
        state.outcome, state.reason = "not_run", str(excinfo.value)
        rep.outcome = "skipped"
        path, lineno, _ = item.location
        rep.longrepr = (str(path), (lineno or 0) + 1, f"prodgate: {excinfo.value}")
        return
    if rec.is_model_exception(excinfo.value):
        state.outcome, state.score = "model_error", 0.0
        state.error = excinfo.typename
        state.reason = f"model error: {_short(excinfo)}"
    elif excinfo.errisinstance(AssertionError):
        state.outcome, state.score = "missed", 0.0
        state.reason = _short(excinfo)
    else:
        state.outcome, state.reason = "error", _short(excinfo)
        return
    # A miss is the measurement, not a failure of the run: only the gates decide.
    rep.outcome = "passed"
    rep.longrepr = None
    rep.prodgate_missed = state.reason  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    rep = yield
    state = item.stash.get(TRIAL_KEY, None)
    if state is None or not _active(item):
        return rep
    spec = item_spec(item)
    if call.when == "setup":
        rep.prodgate_announce = {  # type: ignore[attr-defined]
            "suite": spec.suite,
            "case_id": spec.case_id,
            "function": item.nodeid.split("[", 1)[0],
        }
        if rep.failed:
            state.outcome = "error"
            state.reason = f"setup: {_short(call.excinfo)}" if call.excinfo else "setup failed"
        elif rep.skipped:
            state.outcome = "skipped"
            state.reason = _short(call.excinfo) if call.excinfo else "skipped"
    elif call.when == "call":
        _classify_call(item, rep, call, state)
        _collect_benchmark(item, state.recorder)
    else:
        if rep.failed and state.outcome in ("passed", "missed", "model_error"):
            state.outcome = "error"
            state.reason = f"teardown: {_short(call.excinfo)}" if call.excinfo else "teardown"
            state.score = None
        rep.prodgate_case = _case_payload(item, spec, state)  # type: ignore[attr-defined]
    return rep


def _collect_benchmark(item: pytest.Item, rec: recording.CaseRecorder) -> None:
    """pytest-benchmark's raw per-round timings become this case's latency samples (SPEC §9)."""
    bench = getattr(item, "funcargs", {}).get("benchmark")
    if bench is None:
        return
    data = getattr(getattr(getattr(bench, "stats", None), "stats", None), "data", None)
    if data:
        for seconds in data:
            rec.add_call(
                recording.CallRecord(
                    float(seconds), True, model="pytest-benchmark", kind="benchmark"
                )
            )
        rec.note("latency_source", f"pytest-benchmark raw timings ({len(data)} rounds)")
    elif getattr(bench, "disabled", False):
        rec.note(
            "latency_source",
            "pytest-benchmark is disabled here (xdist or --benchmark-disable): "
            "latency from prodgate's own timing of model calls",
        )


def _case_payload(item: pytest.Item, spec: ItemSpec, state: TrialState) -> dict[str, Any]:
    """Everything the controller needs about one trial, as builtins only (xdist-safe)."""
    rec = state.recorder
    calls = [{**c.to_dict(), "latency_ms": c.latency_s * 1000.0} for c in list(rec.calls)]
    for c in calls:
        del c["latency_s"]
    return {
        "suite": spec.suite,
        "case_id": spec.case_id,
        "function": item.nodeid.split("[", 1)[0],
        "source": getattr(spec.case, "source", None) or None,
        "targets": spec.targets.declared() if spec.targets is not None else {},
        "tags": list(rec.tags),
        "notes": dict(rec.notes),
        "trial": {
            "nodeid": item.nodeid,
            "trial": spec.trial,
            "outcome": state.outcome,
            "score": state.score,
            "reason": state.reason,
            "error": state.error,
            "calls": calls,
            "added_cost_usd": rec.added_cost_usd,
            "duration_s": time.perf_counter() - state.started,
            "load_runs": list(rec.load_runs),
            "drills": list(rec.drills),
        },
    }


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    if report.when == "call" and getattr(report, "prodgate_missed", None):
        return "missed", "m", ("MISSED", {"yellow": True})
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config) and _enabled(config):
        config.workeroutput["prodgate_warmup_calls"] = recording.spend().warmup_calls  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    recording.deactivate()


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def prodgate_model(pytestconfig: pytest.Config) -> Model:
    """The model under test, a :class:`pytest_prodgate.Model`.

    Built from ``--prodgate-model`` / ini ``prodgate_model``; override this fixture in
    your ``conftest.py`` to wrap your own client (see ``conftest.example.py``).
    """
    from .model import Model

    fn = pytestconfig.stash.get(MODEL_FN_KEY, None)
    if fn is None:
        pytest.fail(
            "prodgate_model: no model configured: pass --prodgate-model=package.module:callable, "
            "set ini prodgate_model, or override the prodgate_model fixture in conftest.py",
            pytrace=False,
        )
    if isinstance(fn, Model):
        return fn
    return Model(fn, name=_settings(pytestconfig).model)


class CaseHandle:
    """The current eval case (fixture ``prodgate_case``): its data and what to record on it."""

    def __init__(self, spec: ItemSpec, recorder: recording.CaseRecorder, case: Any) -> None:
        self._spec = spec
        self._recorder = recorder
        #: The :class:`pytest_prodgate.Case` this item runs, when it came from ``load_cases``.
        self.case = case

    @property
    def id(self) -> str:
        """The case id (pairs this case with the baseline's).

        When several test functions of one named suite use the same id, the report
        qualifies it as ``path::function[id]`` to keep those cases apart.
        """
        return self._spec.case_id

    @property
    def suite(self) -> str:
        """The suite this case is gated in."""
        return self._spec.suite

    @property
    def tags(self) -> tuple[str, ...]:
        """The slices this case belongs to."""
        return tuple(self._recorder.tags)

    def score(self, value: float) -> None:
        """Record a graded score in [0, 1] instead of pass = 1.0 / miss = 0.0."""
        self._recorder.set_score(value)

    def tag(self, *slices: str) -> None:
        """Add this case to slices (gated by ``slice_floors``)."""
        self._recorder.add_tags(*slices)

    def add_cost(self, usd: float) -> None:
        """Add cost (USD) that no wrapped model call reported, e.g. a judge model's."""
        self._recorder.add_cost(usd)

    def note(self, key: str, value: Any) -> None:
        """Keep a value in the report (JSON-able values as they are, others as repr)."""
        self._recorder.note(key, value)


class LoadRunner:
    """Fixture ``prodgate_load``: drive a model concurrently and record the run on the case.

    ``prodgate_load(fn, inputs, concurrency=8, requests=500)`` (``concurrency`` is
    required; give ``requests`` or ``duration_s=3.0``);
    ``warmup=N`` calls first, unmeasured; ``timeout_s`` per call. Threads for sync
    callables, one private event loop for async ones (``await prodgate_load.arun(...)``
    runs on the test's own loop instead). Latencies under load feed the suite's
    latency gates only with ``count_latency=True``.
    """

    def __init__(self, nodeid: str) -> None:
        self._nodeid = nodeid

    def _record(self, result: Any, count_latency: bool) -> None:
        rec = recording.current_case()
        if rec is not None:
            with rec.lock:
                rec.load_runs.append({**result.to_dict(), "count_latency": count_latency})

    def _fail(self, exc: Exception) -> Any:
        pytest.fail(f"{self._nodeid}: prodgate_load: {exc}", pytrace=False)

    def __call__(self, fn: Any, inputs: Any, *, count_latency: bool = False, **options: Any) -> Any:
        from .load import run_load

        try:
            result = run_load(fn, inputs, record=False, **options)
        except (TypeError, ValueError) as exc:
            self._fail(exc)
        self._record(result, count_latency)
        return result

    async def arun(
        self, fn: Any, inputs: Any, *, count_latency: bool = False, **options: Any
    ) -> Any:
        """The same on the running event loop (for async tests)."""
        from .load import arun_load

        try:
            result = await arun_load(fn, inputs, record=False, **options)
        except (TypeError, ValueError) as exc:
            self._fail(exc)
        self._record(result, count_latency)
        return result


@pytest.fixture
def prodgate_load(request: pytest.FixtureRequest) -> LoadRunner:
    """A load runner for throughput gates (see :class:`LoadRunner`)."""
    return LoadRunner(request.node.nodeid)


@pytest.fixture
def prodgate_drill(request: pytest.FixtureRequest) -> Any:
    """Time recovery drills: ``with prodgate_drill("bad-deploy") as d: ... d.wait_until(...)``.

    Returns a factory of :class:`pytest_prodgate.drill.Drill` context managers; each
    finished drill is recorded on the case and feeds the suite's ``recovery_s`` gate.
    Misuse (no recovery step, bad arguments) fails the test with a message naming it.
    """
    from .drill import Drill, DrillError

    nodeid = request.node.nodeid

    class _Drill(Drill):
        def __exit__(self, *exc_info: Any) -> Any:
            try:
                return super().__exit__(*exc_info)
            except DrillError as exc:
                pytest.fail(f"{nodeid}: prodgate_drill: {exc}", pytrace=False)

    def make(name: str = "drill", *, poll_interval_s: float = 0.05) -> Drill:
        try:
            return _Drill(name, poll_interval_s=poll_interval_s)
        except (TypeError, ValueError) as exc:
            pytest.fail(f"{nodeid}: prodgate_drill: {exc}", pytrace=False)

    return make


@pytest.fixture
def prodgate_trial(request: pytest.FixtureRequest) -> int:
    """Which trial of its case this item is (0-based; always 0 with one trial)."""
    return int(getattr(request, "param", 0))


@pytest.fixture
def prodgate_case(request: pytest.FixtureRequest) -> CaseHandle:
    """The current eval case: ``.score(x)``, ``.tag(*slices)``, ``.add_cost(usd)``, ``.note()``."""
    item = request.node
    state = item.stash.get(TRIAL_KEY, None)
    if state is None or not isinstance(item, pytest.Item):
        pytest.fail(
            f"{request.node.nodeid}: prodgate_case is only available in eval cases "
            "(tests marked @pytest.mark.prodgate) run with --prodgate",
            pytrace=False,
        )
    spec = item_spec(item)
    return CaseHandle(spec, state.recorder, spec.case)
