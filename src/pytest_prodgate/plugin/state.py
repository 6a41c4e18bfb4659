"""Plugin state: stash keys, what each item declares and measured, and on/off checks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_prodgate.measure import recording
    from pytest_prodgate.schema.options import Settings
    from pytest_prodgate.schema.targets import Targets


SKIP_REASON = "prodgate eval case (run with --prodgate)"
MARKER_DOC = (
    "prodgate(suite=None, *, accuracy_floor=None, latency_p50_ms=None, latency_p90_ms=None, "
    "latency_p95_ms=None, latency_p99_ms=None, cost_per_call_usd=None, error_rate_max=None, "
    "throughput_rps=None, recovery_s=None, max_regression=None, slice_floors=None, trials=None, "
    "early_stop=None): "
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


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def xdist_workers(config: pytest.Config) -> int:
    n = getattr(config.option, "numprocesses", None)
    return n if isinstance(n, int) else 0


def settings_of(config: pytest.Config) -> Settings:
    """The validated settings; only call where :func:`_enabled` or ``--prodgate-lock`` holds."""
    settings = config.stash.get(SETTINGS_KEY, None)
    assert settings is not None, "prodgate settings are read only when prodgate is on"
    return settings


def enabled(config: pytest.Config) -> bool:
    settings = config.stash.get(SETTINGS_KEY, None)
    return settings is not None and settings.enabled


def locking(config: pytest.Config) -> bool:
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


def has_prodgate_marker(item: pytest.Item, seen: dict[int, bool]) -> bool:
    """:func:`is_eval_case` without the stash, for the one pass over every item of a plain run.

    ``seen`` caches each parent node's answer (by ``id``) across the items of one
    pass: a module, class or package is looked at once, not once per test.
    """
    if not isinstance(item, pytest.Function):
        return False
    if any(m.name == "prodgate" for m in item.own_markers):
        return True
    node = item.parent
    chain: list[int] = []
    found = False
    while node is not None:
        key = id(node)
        cached = seen.get(key)
        if cached is not None:
            found = cached
            break
        chain.append(key)
        if any(m.name == "prodgate" for m in node.own_markers):
            found = True
            break
        node = node.parent
    for key in chain:
        seen[key] = found
    return found


def active(item: pytest.Item) -> bool:
    return enabled(item.config) and is_eval_case(item)
