"""Plugin state: stash keys, what each item declares and measured, and on/off checks."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
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
#: The files this run writes, ``(label, path)``, the label as the user gave the option.
OUTPUTS_KEY = pytest.StashKey[list[tuple[str, Path]]]()
#: Why this run writes nothing and exits 4 (an output is a dataset it evaluates).
REFUSED_KEY = pytest.StashKey[str]()


@dataclass(slots=True)
class ItemSpec:
    """What the markers of one eval-case item declare, parsed once."""

    suite: str
    case_id: str
    trial: int
    targets: Targets | None
    error: str | None = None
    #: The :class:`pytest_prodgate.Case` the item is parametrized with, if any.
    case: Any = None
    #: The item's node id up to its parameters (``path::test``).
    function: str = ""
    #: What the targets declare (``Targets.declared()``, shared by the items of one marker set).
    declared: dict[str, Any] = field(default_factory=dict)
    #: Why this case's targets conflict with an earlier case's (set after collection).
    conflict: str | None = None
    #: The item's node id.
    nodeid: str = ""
    #: What the item measures while it runs (setup to teardown; kept after a failed
    #: trial, which a rerun plugin may run again). Here, not in the item's stash: one
    #: key more would grow each of 100,000 items' stash dicts by 128 bytes.
    state: TrialState | None = None


@dataclass(slots=True)
class TrialState:
    """What one item measured, filled in phase by phase."""

    recorder: recording.CaseRecorder
    #: The item's spec (kept here: every phase reads it with the state, one lookup).
    spec: ItemSpec | None = None
    outcome: str = "passed"
    score: float | None = None
    reason: str | None = None
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)
    #: The exception of this case's ``prodgate_output`` call, raised as the test's call.
    pending: BaseException | None = None


SPEC_KEY = pytest.StashKey[ItemSpec]()


def trial_of(item: pytest.Item) -> TrialState | None:
    """The item's :class:`TrialState` while it runs as an eval case of a ``--prodgate`` run."""
    spec = item.stash.get(SPEC_KEY, None)
    return None if spec is None else spec.state


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


#: ``False`` on an item found not to be an eval case. An eval case is known by its
#: spec (``SPEC_KEY``, made right after it is found), not by a second key (see
#: :attr:`ItemSpec.state`).
EVAL_KEY = pytest.StashKey[bool]()


def known_eval_case(item: pytest.Item) -> bool | None:
    """Whether ``item`` was found to be an eval case; ``None``: not looked at yet."""
    stash = item.stash
    if SPEC_KEY in stash:
        return True
    return False if EVAL_KEY in stash else None


def is_eval_case(item: pytest.Item) -> bool:
    """Whether ``item`` carries the prodgate marker (directly, inherited or from a conftest)."""
    known = known_eval_case(item)
    if known is not None:
        return known
    flag = isinstance(item, pytest.Function) and (
        item.get_closest_marker("prodgate") is not None
        or bool(conftest_marks(item.config, item.path))
    )
    if not flag:
        item.stash[EVAL_KEY] = False
    return flag


CONFTEST_MARKS_KEY = pytest.StashKey[dict[str, list[pytest.Mark]]]()
#: The same by the ``Path`` object asked about (the items of one module share theirs):
#: ``id(path) -> (path, kept alive so the id is never reused; its marks)``.
CONFTEST_BY_PATH_KEY = pytest.StashKey[dict[int, tuple[Path, list[pytest.Mark]]]]()


def conftest_marks(config: pytest.Config, path: Path) -> list[pytest.Mark]:
    """``prodgate`` marks of the ``pytestmark`` of every conftest.py above ``path``, closest first.

    pytest applies a ``pytestmark`` only in test modules; SPEC §1 lets a conftest
    carry the marker for every test below it, so the plugin reads it here. It is
    the farthest marker: a module's or test's own keyword wins over it.
    """
    by_path = config.stash.setdefault(CONFTEST_BY_PATH_KEY, {})
    hit = by_path.get(id(path))
    if hit is not None:
        return hit[1]
    cache = config.stash.setdefault(CONFTEST_MARKS_KEY, {})
    key = str(path.parent)
    if key in cache:
        by_path[id(path)] = (path, cache[key])
        return cache[key]
    found: list[tuple[int, list[pytest.Mark]]] = []
    for _, plugin in config.pluginmanager.list_name_plugin():
        file = getattr(plugin, "__file__", None)
        if not isinstance(file, str) or os.path.basename(file) != "conftest.py":
            continue
        here = Path(file).parent
        if path.parent != here and here not in path.parents:
            continue
        raw = getattr(plugin, "pytestmark", None)
        items = raw if isinstance(raw, (list, tuple)) else [raw]
        unpacked = [getattr(m, "mark", m) for m in items]
        marks = [m for m in unpacked if isinstance(m, pytest.Mark) and m.name == "prodgate"]
        if marks:
            found.append((len(here.parts), marks))
    found.sort(key=lambda pair: -pair[0])
    cache[key] = [m for _, marks in found for m in marks]
    by_path[id(path)] = (path, cache[key])
    return cache[key]


def prodgate_marks(
    node: Any, parents: dict[int, list[pytest.Mark]] | None = None
) -> list[pytest.Mark]:
    """Every ``prodgate`` mark that applies to ``node`` (an item or a definition), closest first.

    ``parents`` caches the marks of each parent node (by ``id``) across the items of
    one pass over the collection: ``iter_markers`` is the node's own marks, then its
    parent's, so the items of a module walk the nodes above them once.
    """
    parent = node.parent
    if parents is None or parent is None:
        return [*node.iter_markers("prodgate"), *conftest_marks(node.config, node.path)]
    above = parents.get(id(parent))
    if above is None:
        above = parents[id(parent)] = list(parent.iter_markers("prodgate"))
    own = [m for m in node.own_markers if getattr(m, "name", None) == "prodgate"]
    return [*own, *above, *conftest_marks(node.config, node.path)]


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
    return found or bool(conftest_marks(item.config, item.path))


def active(item: pytest.Item) -> bool:
    return enabled(item.config) and is_eval_case(item)
