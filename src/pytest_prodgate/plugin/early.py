"""Early stopping in a pytest run (SPEC §13): seeded order, looks, and skipping a resolved suite.

One :class:`EarlyStop` is registered in every process of a ``--prodgate`` run:

* at collection, each suite run with early stopping (``--prodgate-early-stop``,
  ini ``prodgate_early_stop``, or the marker keyword ``early_stop=True``; the
  marker's ``early_stop=False`` opts a suite out) gets a seeded random order of
  its cases (trials of a case stay together) and its planned looks;
* every finished case is kept in a results store: in memory without xdist, a
  JSON-lines file shared by the workers under ``flock`` with xdist (as the spend
  ledger is shared);
* before an item of such a suite runs, each look whose cases have all finished
  is tested with :func:`pytest_prodgate.gating.early.decide_suite`; once every
  gate is resolved, the suite's remaining items are skipped with the reason
  :func:`~pytest_prodgate.gating.early.stop_reason` (in every worker: each reads
  the same store and reaches the same decision);
* at the end, :func:`attach` gives the controller's suites their
  :class:`~pytest_prodgate.schema.report.EarlyStopReport` and a note, and marks
  the cases a worker ran after the stop as not gated; the verdicts and figures
  are then decided by :mod:`pytest_prodgate.gating.run` from the same rule, over
  the cases up to the deciding look.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodgate.plugin.items import item_spec
from pytest_prodgate.plugin.state import SPEC_KEY, is_eval_case, is_worker, xdist_workers

if TYPE_CHECKING:
    from pytest_prodgate.gating.aggregate import SuiteData
    from pytest_prodgate.schema.options import Settings
    from pytest_prodgate.schema.report import EarlyStopReport, RunReport

__all__ = ["EARLY_KEY", "EarlyStop", "attach"]

EARLY_KEY = pytest.StashKey["EarlyStop"]()
_STORE_KEY = "prodgate_early_store"
_PLANS_KEY = "prodgate_early_plans"


@dataclass
class Plan:
    """A suite's seeded run order and looks (builtins only: crosses xdist)."""

    suite: str
    order: list[str]
    looks: list[int]
    #: Items (trials) per case id: a case is finished when all have reported.
    trials: dict[str, int]
    #: ``function|case_id`` of a payload -> the case's id in the report.
    ids: dict[str, str] = field(default_factory=dict)

    def report(self) -> EarlyStopReport:
        from pytest_prodgate.schema.report import EarlyStopReport

        return EarlyStopReport(looks=self.looks, planned=len(self.order), order=self.order)


@dataclass
class EarlyStop:
    """The early-stopping plugin object of one process."""

    config: pytest.Config
    settings: Settings
    plans: dict[str, Plan] = field(default_factory=dict)
    payloads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stopped: dict[str, int] = field(default_factory=dict)
    #: Finished trials per suite and case id.
    done: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Per suite, the case ids with a trial that ran (not skipped by the stop).
    started: dict[str, set[str]] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)
    store: str | None = None
    offset: int = 0
    owns_store: bool = False
    _baseline: RunReport | None = None
    #: The per-item hooks, while registered.
    running: Running | None = None

    def __post_init__(self) -> None:
        self.store = getattr(self.config, "workerinput", {}).get(_STORE_KEY)

    # ------------------------------------------------------------------ collection

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        by_suite: dict[str, list[int]] = {}
        wanted: dict[str, bool | None] = {}
        for i, item in enumerate(items):
            spec = item.stash.get(SPEC_KEY, None)  # made after collection for each eval case
            if spec is None:
                if not is_eval_case(item):
                    continue
                spec = item_spec(item)
            by_suite.setdefault(spec.suite, []).append(i)
            flag = spec.targets.early_stop if spec.targets is not None else None
            if flag is not None and wanted.get(spec.suite) is None:
                wanted[spec.suite] = flag
        for suite, positions in by_suite.items():
            on = wanted.get(suite)
            if not (self.settings.early_stop if on is None else on):
                continue
            # Only a suite that stops early needs these: a run (or an xdist worker)
            # without one imports neither numpy nor the statistics.
            import numpy as np

            from pytest_prodgate.gating.aggregate import _qualified, natural_key
            from pytest_prodgate.stats import gate_seed
            from pytest_prodgate.stats.sequential import plan_looks

            keys = [
                (items[i].nodeid.split("[", 1)[0], item_spec(items[i]).case_id) for i in positions
            ]
            owners: dict[str, set[str]] = {}
            for function, case_id in keys:
                owners.setdefault(case_id, set()).add(function)
            ids = [_qualified(f, c) if len(owners[c]) > 1 else c for f, c in keys]
            unique = sorted(set(ids), key=natural_key)
            rng = np.random.default_rng(gate_seed(self.settings.seed, suite, "early_stop"))
            order = [unique[j] for j in rng.permutation(len(unique))]
            rank = {cid: r for r, cid in enumerate(order)}
            trials: dict[str, int] = {}
            for cid in ids:
                trials[cid] = trials.get(cid, 0) + 1
            ranked = sorted(
                zip(ids, positions, strict=True),
                key=lambda p: (rank[p[0]], item_spec(items[p[1]]).trial, items[p[1]].nodeid),
            )
            moved = [items[i] for _, i in ranked]
            for slot, item in zip(positions, moved, strict=True):
                items[slot] = item
            looks = plan_looks(len(order), self.settings.early_stop_looks)
            names = {f"{f}|{c}": cid for (f, c), cid in zip(keys, ids, strict=True)}
            self.plans[suite] = Plan(suite, order, looks, trials, names)
        if not self.plans:
            self._drop_running()

    # ------------------------------------------------------------------ running

    def register(self, pluginmanager: pytest.PytestPluginManager) -> None:
        """Register this object and, where items run, its per-item hooks (:class:`Running`).

        Both at once, so the per-item hooks keep their place among other plugins';
        :meth:`pytest_collection_modifyitems` takes them out again when no suite
        stops early, and the controller of an xdist run (which runs no item) never
        has them: a run without early stopping pays for no per-item hook of it.
        """
        pluginmanager.register(self, "prodgate-early")
        if self._runs_items():
            self.running = Running(self)
            pluginmanager.register(self.running, RUNNING_NAME)

    def _drop_running(self) -> None:
        if self.running is not None:
            self.config.pluginmanager.unregister(self.running, RUNNING_NAME)
            self.running = None

    def setup(self, item: pytest.Item) -> None:
        if not self.plans or not is_eval_case(item):
            return
        spec = item_spec(item)
        reason = self.skip_reason(spec.suite)
        if reason is not None and not self._started(spec.suite, spec.function, spec.case_id):
            pytest.skip(reason)

    def _started(self, suite: str, function: str, case_id: str) -> bool:
        """Whether some trial of the case has run: its other trials still run, so a case
        stops whole (under xdist the stop can land between a case's trials)."""
        self._refresh()
        plan = self.plans[suite]
        cid = plan.ids.get(f"{function}|{case_id}", case_id)
        return cid in self.started.get(suite, ())

    def logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, "prodgate_case", None)
        if payload is None or payload["suite"] not in self.plans or not self._runs_items():
            return
        if self.store is None:
            self._keep(payload)
            return
        import fcntl

        line = (json.dumps(payload, default=str) + "\n").encode()
        with open(self.store, "ab") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.write(line)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _runs_items(self) -> bool:
        """Whether this process runs items (not the controller of an xdist run)."""
        return is_worker(self.config) or not xdist_workers(self.config)

    def _refresh(self) -> None:
        """Read the store's lines written since the last read (xdist only)."""
        if self.store is None:
            return
        import fcntl

        with open(self.store, "rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            try:
                fh.seek(self.offset)
                data = fh.read()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].splitlines():
            self._keep(json.loads(line))

    def _keep(self, payload: dict[str, Any]) -> None:
        suite = payload["suite"]
        plan = self.plans.get(suite)
        if plan is None:
            return
        self.payloads.setdefault(suite, []).append(payload)
        key = f"{payload.get('function', '')}|{payload['case_id']}"
        cid = plan.ids.get(key, str(payload["case_id"]))
        counts = self.done.setdefault(suite, {})
        counts[cid] = counts.get(cid, 0) + 1
        from pytest_prodgate.gating.early import RESOLVED_MARK

        trial = payload["trial"]
        outcome, reason = (
            (trial.outcome, trial.reason)
            if not isinstance(trial, dict)
            else (trial.get("outcome"), trial.get("reason"))
        )
        if outcome != "skipped" or RESOLVED_MARK not in (reason or ""):
            self.started.setdefault(suite, set()).add(cid)

    def skip_reason(self, suite: str) -> str | None:
        """The skip reason when ``suite`` is resolved (testing each newly finished look).

        Every suite's newly finished looks are tested, not only ``suite``'s: a
        suite resolved meanwhile (by this process or, under xdist, another worker)
        stops its calls ahead now, not when its next case comes up.
        """
        plan = self.plans.get(suite)
        if plan is None:
            return None
        if len(self.stopped) < len(self.plans):
            self._refresh()
            for other in self.plans.values():
                if other.suite not in self.stopped:
                    self._check(other)
        if suite not in self.stopped:
            return None
        from pytest_prodgate.gating.early import stop_reason

        info = plan.report()
        info.stopped_look = self.stopped[suite]
        return stop_reason(info)

    def _check(self, plan: Plan) -> None:
        """Test each look whose cases have all finished (aggregating only then)."""
        done = self.done.get(plan.suite, {})
        first = self.checked.get(plan.suite, 0)
        ready = first
        while ready < len(plan.looks) and all(
            done.get(cid, 0) >= plan.trials[cid] for cid in plan.order[: plan.looks[ready]]
        ):
            ready += 1
        if ready == first:
            return
        from pytest_prodgate.gating.aggregate import Aggregator

        agg = Aggregator()
        for p in self.payloads.get(plan.suite, []):
            agg.add(p)
        (suite,) = agg.suites()
        cases = {c.id: c for c in suite.cases}
        for k in range(first + 1, ready + 1):
            head = [cases[cid] for cid in plan.order[: plan.looks[k - 1]]]
            if resolved_at(plan, head, suite, self.settings, self.baseline()):
                self.stopped[plan.suite] = k
                self._stop_calls(plan.suite)
                return
            self.checked[plan.suite] = k

    def _stop_calls(self, suite: str) -> None:
        """Start no more calls ahead (``prodgate_output``) for the resolved ``suite``."""
        from pytest_prodgate.plugin.ahead import RUNAHEAD_KEY

        runahead = self.config.stash.get(RUNAHEAD_KEY, None)
        if runahead is not None:
            runahead.stop_suite(suite)

    def baseline(self) -> RunReport | None:
        if self.settings.baseline is None:
            return None
        if self._baseline is None:
            from pytest_prodgate.schema.files import load_report

            self._baseline = load_report(self.settings.baseline)
        return self._baseline

    # ------------------------------------------------------------------ xdist

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self.store is None:
            fd, self.store = tempfile.mkstemp(prefix="prodgate-early-", suffix=".jsonl")
            os.close(fd)
            self.owns_store = True
        node.workerinput[_STORE_KEY] = self.store

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        for suite, raw in (output.get(_PLANS_KEY) or {}).items():
            self.plans.setdefault(suite, Plan(suite, raw["order"], raw["looks"], raw["trials"]))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if is_worker(self.config):
            self.config.workeroutput[_PLANS_KEY] = {  # type: ignore[attr-defined]
                s: {"order": p.order, "looks": p.looks, "trials": p.trials}
                for s, p in self.plans.items()
            }

    def pytest_unconfigure(self) -> None:
        if self.owns_store and self.store is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.store)


RUNNING_NAME = "prodgate-early-running"


class Running:
    """:class:`EarlyStop`'s per-item hooks, registered only while a suite may stop early."""

    def __init__(self, stopper: EarlyStop) -> None:
        self.stopper = stopper

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.stopper.setup(item)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.stopper.logreport(report)


def resolved_at(
    plan: Plan, head: list[Any], suite: SuiteData, settings: Settings, baseline: RunReport | None
) -> bool:
    """Whether every gate of the suite is resolved on ``head`` (the first cases in run order)."""
    from pytest_prodgate.gating import early
    from pytest_prodgate.gating.gates import GatePolicy, SuiteContext

    policy = GatePolicy(
        settings.confidence,
        settings.resamples,
        settings.seed,
        settings.ci_method,
        cache_latency=settings.cache_latency,
    )
    before = None
    if baseline is not None:
        before = next((s.cases for s in baseline.suites if s.name == suite.name), None)
    ctx = SuiteContext(suite.name, suite.targets, head, policy, baseline=before)
    return early.resolved(early.decide_suite(ctx, plan.report()))


def attach(config: pytest.Config, suites: list[SuiteData], baseline: RunReport | None) -> None:
    """Give every suite run with early stopping its report of looks and stop, and a note."""
    stopper = config.stash.get(EARLY_KEY, None)
    if stopper is None:
        return
    from pytest_prodgate.gating.early import after_stop, not_gated_reason, ordered, ran

    for s in suites:
        plan = stopper.plans.get(s.name)
        if plan is None:
            continue
        info = plan.report()
        cases = ordered(s.cases, plan.order)
        for k, n in enumerate(plan.looks, start=1):
            if n > len(cases) or [c.id for c in cases[:n]] != plan.order[:n]:
                break
            if resolved_at(plan, cases[:n], s, stopper.settings, baseline):
                info.stopped_look = k
                break
        run = [c for c in s.cases if ran(c)]
        late = after_stop(s.cases, info)
        if late:
            # Run under xdist before the workers learned of the stop: reported (their
            # calls were spent), not gated (gating.early.gated), so that every mode
            # gates the same cases.
            reason = not_gated_reason(info)
            for c in late:
                c.not_gated = reason
        info.cases_after_stop = len(late)
        calls = sum(len(t.calls) for c in run for t in c.trials)
        costs = [c.cost_usd for c in run if c.cost_usd is not None]
        info.cases_run, info.calls_run = len(run), calls
        left = max(0, info.planned - len(run))
        if run:
            info.calls_saved = round(left * calls / len(run))
            info.cost_saved_usd = left * sum(costs) / len(run) if costs else None
        s.early = info
        if info.stopped_look is not None:
            n = info.looks[info.stopped_look - 1]
            cost = f" (~${info.cost_saved_usd:.4g})" if info.cost_saved_usd else ""
            extra = f", {len(late)} of them after the stop (reported, not gated)" if late else ""
            s.notes.append(
                f"early stopping: resolved at look {info.stopped_look} of {len(info.looks)} "
                f"after {n} of {info.planned} cases; {len(run)} run{extra}, "
                f"{info.calls_saved} calls{cost} saved"
            )
        else:
            s.notes.append(
                f"early stopping: not resolved before the last look ({len(info.looks)} looks, "
                f"{info.planned} cases)"
            )
