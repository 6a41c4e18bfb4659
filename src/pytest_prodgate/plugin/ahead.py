"""``prodgate_output``: each case's model call made ahead of the case (SPEC §11).

At the start of the run loop the plugin lists the eval cases that will run and
use ``prodgate_output``, in run order: after deselection and every plugin's
reordering, leaving out skip-marked cases and cases whose marker is in error.
Under xdist a worker does not know its cases up front: it plans the ones xdist
has queued for it, and adds more as they are queued.

When the first such case sets up, its ``prodgate_model`` (a session fixture)
is resolved and an :class:`~pytest_prodgate.measure.ahead.Ahead` starts the
calls of every planned case that gets the same ``prodgate_model`` fixture, at
most ``--prodgate-concurrency`` started and not yet taken. A model fixture that
is not session-scoped may differ per case: its cases are called one at a time,
at their own setup.

``-x``, ``--maxfail`` and Ctrl-C start no new call; a call made for a case
that then does not run is *wasted* (``RunInfo.calls_wasted``), never recorded:
at most ``--prodgate-concurrency`` per process, since no more are ever started
ahead of the case that runs. A suite resolved by early stopping
(:mod:`pytest_prodgate.plugin.early` calls :meth:`Runahead.stop_suite` in each
process when it learns of it) is taken out of the plan: none of its remaining
cases' calls starts, and the calls ahead move on to the cases after it.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodgate.plugin.cache import case_key
from pytest_prodgate.plugin.items import item_spec
from pytest_prodgate.plugin.state import (
    CONFLICTS_KEY,
    active,
    enabled,
    is_worker,
    settings_of,
    trial_of,
)

if TYPE_CHECKING:
    from pytest_prodgate.measure.ahead import Ahead
    from pytest_prodgate.measure.recording import CaseRecorder

FIXTURE = "prodgate_output"


@dataclass
class Runahead:
    """The run's plan and its callers, one per ``prodgate_model`` fixture definition."""

    session: pytest.Session
    concurrency: int
    #: nodeid -> (model fixturedef, input) for every case planned so far.
    planned: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    callers: dict[int, Ahead] = field(default_factory=dict)
    wasted_before: int = 0
    #: nodeid -> (case key, trial): what ``--prodgate-cache`` keys a call ahead by.
    scopes: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: suite -> node ids of its planned cases.
    by_suite: dict[str, list[str]] = field(default_factory=dict)
    #: Suites resolved early: their cases are not planned, their calls not started.
    resolved: set[str] = field(default_factory=set)
    #: The plan changes in the main thread and, under worksteal, in xdist's callback
    #: thread; taken after the worker queue's lock and before a caller's.
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: Under ``--dist worksteal``: the guard over this worker's steals.
    guard: StealGuard | None = None

    def plan(self, items: list[pytest.Item]) -> list[str]:
        """Add the cases of ``items`` that will call ahead; their node ids, newly planned."""
        new = []
        with self.lock:
            for item in items:
                if (
                    FIXTURE not in getattr(item, "fixturenames", ())  # _will_call's first test
                    or item.nodeid in self.planned
                    or not _will_call(item)
                ):
                    continue
                spec = item_spec(item)
                if spec.suite in self.resolved:
                    continue
                self.planned[item.nodeid] = (_model_fixturedef(item), spec.case.input)
                self.scopes[item.nodeid] = (case_key(item), spec.trial)
                self.by_suite.setdefault(spec.suite, []).append(item.nodeid)
                self.order.append(item.nodeid)
                new.append(item.nodeid)
            if new:
                for key, caller in self.callers.items():
                    caller.extend(self._entries(key, new))
        return new

    def _bind(self, nodeid: str, recorder: CaseRecorder) -> None:
        """Key the cache of a call made ahead by its case and trial (``--prodgate-cache``)."""
        from pytest_prodgate.measure import replay

        replay.bind(recorder, *self.scopes[nodeid])

    def _entries(self, key: int, nodeids: list[str]) -> list[tuple[str, tuple[Any, ...]]]:
        return [(n, (self.planned[n][1],)) for n in nodeids if id(self.planned[n][0]) == key]

    def caller(self, item: pytest.Item, model: Any) -> Ahead:
        from pytest_prodgate.measure.ahead import Ahead

        fixturedef = _model_fixturedef(item)
        if fixturedef is None or getattr(fixturedef, "scope", None) != "session":
            return Ahead(model, 1)  # may differ per case: nothing to call ahead with
        key = id(fixturedef)
        with self.lock:
            caller = self.callers.get(key)
            if caller is None or caller.model is not model:
                caller = Ahead(model, self.concurrency, on_plan=self._bind)
                self.callers[key] = caller
                caller.extend(self._entries(key, self.order))
        return caller

    def stop(self) -> None:
        for caller in self.callers.values():
            caller.stop()

    def stop_suite(self, suite: str) -> None:
        """``suite`` is resolved (early stopping): start no call for its remaining cases.

        Calls in flight finish (wasted, at most ``--prodgate-concurrency`` per
        process); the calls of other suites' cases go on.
        """
        with self.lock:
            if suite in self.resolved:
                return
            self.resolved.add(suite)
            keys = list(self.by_suite.get(suite, []))
            self._forget(keys)
            for caller in self.callers.values():
                caller.drop(keys)

    def give_away(self, nodeids: list[str]) -> list[str]:
        """Of ``nodeids`` (cases another worker would take), those whose call has not started.

        They leave the plan (their calls never start here, and they may be planned
        again if they come back); a case whose call has started stays.
        """
        with self.lock:
            callers = list(self.callers.values())
            for caller in callers:
                caller.drop(nodeids, keep_started=True)
            free = [n for n in nodeids if not any(c.started_call(n) for c in callers)]
            self._forget(free)
        return free

    def _forget(self, nodeids: list[str]) -> None:
        """Unplan ``nodeids``: a caller made later does not call them."""
        gone = {n for n in nodeids if self.planned.pop(n, None) is not None}
        if gone:
            self.order = [n for n in self.order if n not in gone]
            for keys in self.by_suite.values():
                keys[:] = [n for n in keys if n not in gone]

    def close(self) -> None:
        for caller in self.callers.values():
            caller.close()

    @property
    def wasted(self) -> int:
        return sum(c.wasted for c in self.callers.values())


RUNAHEAD_KEY = pytest.StashKey[Runahead]()


def _model_fixturedef(item: pytest.Item) -> Any:
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.get("prodgate_model") if info is not None else None
    return defs[-1] if defs else None


def _will_call(item: pytest.Item) -> bool:
    """An eval case that uses ``prodgate_output`` and is expected to reach its call."""
    if FIXTURE not in getattr(item, "fixturenames", ()) or not active(item):
        return False
    spec = item_spec(item)
    if spec.error is not None or spec.case is None:
        return False
    if item.nodeid in item.config.stash.get(CONFLICTS_KEY, {}):
        return False
    try:
        from _pytest.skipping import evaluate_skip_marks, evaluate_xfail_marks

        if evaluate_skip_marks(item) is not None:
            return False
        xfail = evaluate_xfail_marks(item)
        if xfail is not None and not xfail.run:
            return False
    except Exception:  # a skipif that raises fails at setup: no call for it
        return False
    return True


def _interactor(session: pytest.Session) -> Any:
    """xdist's ``WorkerInteractor`` of this worker, or None."""
    for _, plugin in session.config.pluginmanager.list_name_plugin():  # no hashing
        if type(plugin).__name__ == "WorkerInteractor" and hasattr(plugin, "torun"):
            return plugin
    return None


def _plan_worker_queue(session: pytest.Session, runahead: Runahead) -> None:
    """Plan the items xdist has given this worker and not yet run (the current one first).

    Under the queue's lock, so that a steal (``--dist worksteal``) sees either the
    queue before this plan or the plan made from it.
    """
    plugin = _interactor(session)
    if plugin is None:
        return
    items = session.items
    with plugin.torun.lock() as queue:
        indices = [getattr(plugin, "item_index", None), getattr(plugin, "nextitem_index", None)]
        indices += list(queue)
        runahead.plan([items[i] for i in indices if isinstance(i, int) and 0 <= i < len(items)])


@dataclass
class StealGuard:
    """Under ``--dist worksteal``: never let another worker steal a case called ahead here.

    xdist's scheduler asks a busy worker for the tail of its queue when another
    is idle; the worker's ``steal`` gives all of it or nothing. A case whose call
    was made ahead would be called a second time by the thief, so this guard
    (installed over ``WorkerInteractor.steal``) gives only the requested cases
    whose calls have not started, and takes those out of the plan; xdist's
    controller accepts any part of what it asked for. When all it could give has
    its call started, the answer waits until this worker finishes its current
    case (then gives what it can, perhaps nothing), so a refused thief does not
    ask again in a busy loop.
    """

    interactor: Any
    runahead: Runahead
    deferred: list[int] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def steal(self, indices: list[int]) -> None:
        """Answer a steal request (xdist's callback thread)."""
        self._answer(list(indices), wait=True)

    def answer_deferred(self) -> None:
        """Answer a request left waiting (after a case finished, in the main thread)."""
        with self.lock:
            indices, self.deferred = self.deferred, None
        if indices is not None:
            self._answer(indices, wait=False)

    def _answer(self, indices: list[int], wait: bool) -> None:
        items = self.runahead.session.items
        requested = set(indices)
        torun = self.interactor.torun
        with torun.lock() as queue:
            queued = [i for i in queue if i in requested]
            free = set(self.runahead.give_away([items[i].nodeid for i in queued]))
            given = [i for i in queued if items[i].nodeid in free]
            if wait and queued and not given:
                with self.lock:
                    self.deferred = indices
                return
            if given:
                out = set(given)
                torun.replace([i for i in queue if i not in out])
        self.interactor.sendevent("unscheduled", indices=given)


def _guard_steals(session: pytest.Session, runahead: Runahead) -> StealGuard | None:
    plugin = _interactor(session)
    if plugin is None or not callable(getattr(plugin, "steal", None)):
        return None
    if not hasattr(plugin, "sendevent"):
        return None
    guard = StealGuard(plugin, runahead)
    plugin.steal = guard.steal  # an instance attribute: handle_command calls self.steal
    return guard


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    config = session.config
    if not enabled(config) or session.config.option.collectonly:
        return (yield)
    runahead = Runahead(session, settings_of(config).concurrency)
    config.stash[RUNAHEAD_KEY] = runahead
    guard = None
    if is_worker(config):
        guard = runahead.guard = _guard_steals(session, runahead)
    else:
        runahead.plan(session.items)
    try:
        return (yield)
    finally:
        if guard is not None:
            vars(guard.interactor).pop("steal", None)
        runahead.close()
        if is_worker(config):
            config.workeroutput["prodgate_wasted_calls"] = runahead.wasted  # type: ignore[attr-defined]


def after_teardown(item: pytest.Item) -> None:
    """After an item's teardown (every item's; called from its teardown report):

    ``-x`` / ``--maxfail`` reached (or the spend cap): start no new call.
    Under ``--dist worksteal``, answer a steal request that waited for this case.
    (Not a hook of its own: no per-item hook call for it.)
    """
    session = item.session
    stopping = session.shouldstop or session.shouldfail
    if not stopping and not is_worker(item.config):  # only a worker guards steals
        return
    runahead = item.config.stash.get(RUNAHEAD_KEY, None)
    if runahead is None:
        return
    if stopping:
        runahead.stop()
    if runahead.guard is not None:
        runahead.guard.answer_deferred()


def output_for(request: pytest.FixtureRequest, prodgate_model: Any) -> Any:
    """What the ``prodgate_output`` fixture returns (the fixture is in ``plugin.fixtures``)."""
    item = request.node
    state = trial_of(item) if isinstance(item, pytest.Item) else None
    if state is None:
        pytest.fail(
            f"{request.node.nodeid}: prodgate_output is only available in eval cases "
            "(tests marked @pytest.mark.prodgate) run with --prodgate",
            pytrace=False,
        )
    spec = item_spec(item)
    if spec.case is None:
        pytest.fail(
            f"{item.nodeid}: prodgate_output needs the case's input: parametrize the test "
            'with load_cases(...) (e.g. @pytest.mark.parametrize("case", load_cases(...)))',
            pytrace=False,
        )
    from pytest_prodgate.measure.model import Model

    model = prodgate_model
    if not isinstance(model, Model):
        pytest.fail(
            f"{item.nodeid}: prodgate_output: the prodgate_model fixture returned "
            f"{type(model).__name__}, not a pytest_prodgate.Model",
            pytrace=False,
        )
    runahead = item.config.stash.get(RUNAHEAD_KEY, None)
    if runahead is None:  # the run loop was not ours (e.g. a plugin ran items itself)
        runahead = Runahead(item.session, settings_of(item.config).concurrency)
        item.config.stash[RUNAHEAD_KEY] = runahead
    if is_worker(item.config):
        _plan_worker_queue(item.session, runahead)
    job = runahead.caller(item, model).take(item.nodeid, (spec.case.input,))
    rec = state.recorder
    for call in job.recorder.calls:
        rec.add_call(call)
    with rec.lock:
        rec.model_exceptions.extend(job.recorder.model_exceptions)
    if job.exc is not None:
        if not isinstance(job.exc, Exception):
            raise job.exc
        state.pending = job.exc
        return None
    return job.output


def wasted_calls(config: pytest.Config) -> int:
    """Calls this process made ahead for cases that did not run."""
    runahead = config.stash.get(RUNAHEAD_KEY, None)
    return 0 if runahead is None else runahead.wasted


__all__ = [
    "RUNAHEAD_KEY",
    "Runahead",
    "after_teardown",
    "output_for",
    "pytest_runtestloop",
    "wasted_calls",
]
