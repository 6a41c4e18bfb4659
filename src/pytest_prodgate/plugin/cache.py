"""``--prodgate-cache``: open the journal, tell the cache which case each call belongs to, report.

The journal and the replay logic are pure modules
(:mod:`pytest_prodgate.measure.cache`, :mod:`pytest_prodgate.measure.replay`);
this is the pytest glue. Every process (the controller and each xdist worker)
opens the same journal and appends to it; only the controller reports.

A record that cannot be used is one warning line naming the journal's file and
line: a damaged line when the journal is read (printed as the session starts),
a response that cannot be replayed when its call comes (an xdist worker sends
those in its ``workeroutput``; printed before the gate table). Both are kept in
the report's notes.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodgate.measure import replay
from pytest_prodgate.plugin.items import item_spec
from pytest_prodgate.plugin.state import active, is_worker, trial_of

if TYPE_CHECKING:
    from pytest_prodgate.measure.cache import Journal
    from pytest_prodgate.schema.options import Settings
    from pytest_prodgate.schema.report import RunReport

__all__ = ["CachePlugin", "configure_cache"]

#: The key of a worker's ``workeroutput`` with the records it could not replay.
WORKER_PROBLEMS = "prodgate_cache_problems"
#: The key of a worker's ``workeroutput`` with how many recorded failures it called again.
WORKER_FAILURES = "prodgate_cache_failures_called"


def configure_cache(config: pytest.Config, settings: Settings, where: str) -> None:
    """Open and read the journal (``where`` names the option); a bad directory exits 4.

    Called from ``pytest_configure`` before any case runs.
    """
    replay.deactivate()
    if settings.cache is None or settings.cache_mode == "off" or not settings.enabled:
        return
    from pytest_prodgate.measure.cache import Journal, JournalError

    try:
        journal = Journal(settings.cache)
    except JournalError as exc:
        raise pytest.UsageError(f"prodgate: {where}={settings.cache}: {exc}") from None
    journal.load()
    mode: replay.CacheMode = "refresh" if settings.cache_mode == "refresh" else "use"
    replay.activate(journal, mode, errors=settings.cache_errors)
    config.pluginmanager.register(CachePlugin(config, journal), "prodgate-cache")


def case_key(item: pytest.Item) -> str:
    """Which case a call belongs to: suite, test function (node id) and case id."""
    spec = item_spec(item)
    return "\x1f".join((spec.suite, item.nodeid.split("[", 1)[0], spec.case_id))


class CachePlugin:
    """Binds each eval case's recorder to its case and trial; reports what was replayed."""

    def __init__(self, config: pytest.Config, journal: Journal) -> None:
        self.config = config
        self.journal = journal
        #: Records the workers could not replay (the controller's own come from replay).
        self.worker_problems: dict[str, None] = {}
        #: Calls the workers made again because their record was a failure.
        self.worker_failures = 0
        self.late: list[str] = []

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        state = trial_of(item)
        if state is not None and active(item):
            replay.bind(state.recorder, case_key(item), item_spec(item).trial)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, object, object]:
        try:
            return (yield)
        finally:
            state = trial_of(item)
            if state is not None:
                replay.unbind(state.recorder)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if is_worker(self.config):
            return
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            _warn(tr, self.journal.problems)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if is_worker(self.config):
            out = self.config.workeroutput  # type: ignore[attr-defined]
            out[WORKER_PROBLEMS] = replay.problems()
            out[WORKER_FAILURES] = replay.failures_called()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        problems = output.get(WORKER_PROBLEMS)
        if isinstance(problems, list):
            self.worker_problems.update(dict.fromkeys(str(p) for p in problems))
        failures = output.get(WORKER_FAILURES)
        if type(failures) is int and failures > 0:
            self.worker_failures += failures

    def replay_problems(self) -> list[str]:
        """The records this run could not replay: this process's and every worker's."""
        return list(dict.fromkeys([*replay.problems(), *self.worker_problems]))

    @pytest.hookimpl(tryfirst=True)
    def pytest_prodgate_report(self, config: pytest.Config, report: RunReport) -> None:
        self.late = self.replay_problems()
        called = replay.failures_called() + self.worker_failures
        notes = cache_notes(report, self.journal, self.late, called)
        report.notes.extend(f"cache: {n}" for n in notes)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not is_worker(self.config):
            _warn(terminalreporter, self.late)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        replay.deactivate()


def _warn(tr: Any, problems: list[str]) -> None:
    from pytest_prodgate.schema.redact import redactor

    clean = redactor()
    for problem in problems:
        tr.write_line(clean(f"prodgate: WARNING: cache: {problem}"), yellow=True, bold=True)


def cache_notes(
    report: RunReport, journal: Journal, late: Sequence[str] = (), failures_called: int = 0
) -> list[str]:
    """The run notes of the cache: what it replayed and saved, what it could not do.

    The spend is the suites' ``fresh_cost_usd`` and ``replayed_cost_usd``, so the
    note and the report agree (fresh spend includes ``prodgate_case.add_cost``).
    ``failures_called`` counts the calls made again because their record was a
    failure (no ``--prodgate-cache-errors``).
    """
    out = [*journal.problems, *late]
    calls = [c for s in report.suites for case in s.cases for t in case.trials for c in t.calls]
    calls = [c for c in calls if c.kind == "call"]
    replayed = sum(1 for c in calls if c.replayed)
    saved = sum(s.replayed_cost_usd or 0.0 for s in report.suites)
    fresh = sum(s.fresh_cost_usd or 0.0 for s in report.suites)
    failures = sum(1 for c in calls if c.replayed and not c.ok)
    out.insert(
        0,
        f"{journal.directory}: {replayed:,} of {len(calls):,} model calls replayed "
        f"(fresh spend ${fresh:.4f}, saved ${saved:.4f})"
        + (
            f"; {failures:,} of them replay recorded failures (--prodgate-cache-errors)"
            if failures
            else ""
        ),
    )
    if failures_called:
        out.insert(
            1,
            f"{failures_called:,} model calls whose recorded call had failed were made again "
            "(--prodgate-cache-errors replays recorded failures instead)",
        )
    seen: dict[str, None] = {}
    for c in calls:
        if c.cache_note:
            seen.setdefault(f"model {c.model!r}: {c.cache_note}", None)
    out.extend(seen)
    unversioned = sorted({str(c.model) for c in calls if c.model_version is None and c.model})
    out.extend(
        f"model {name!r} has no version: its cache key uses a digest of its source code, "
        "so a change the code does not show (a remote model, a setting) would replay stale "
        "answers; give Model(version=...) or use --prodgate-cache-mode=refresh"
        for name in unversioned
    )
    return out
