"""``--prodgate-cache``: open the journal, tell the cache which case each call belongs to, report.

The journal and the replay logic are pure modules
(:mod:`pytest_prodgate.measure.cache`, :mod:`pytest_prodgate.measure.replay`);
this is the pytest glue. Every process (the controller and each xdist worker)
opens the same journal and appends to it; only the controller reports.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from pytest_prodgate.measure import replay
from pytest_prodgate.plugin.items import item_spec
from pytest_prodgate.plugin.state import active, is_worker, trial_of

if TYPE_CHECKING:
    from pytest_prodgate.measure.cache import Journal
    from pytest_prodgate.schema.options import Settings
    from pytest_prodgate.schema.report import RunReport

__all__ = ["CachePlugin", "configure_cache"]


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
    replay.activate(journal, "refresh" if settings.cache_mode == "refresh" else "use")
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
            for problem in self.journal.problems:
                tr.write_line(f"prodgate: WARNING: cache: {problem}", yellow=True, bold=True)

    @pytest.hookimpl(tryfirst=True)
    def pytest_prodgate_report(self, config: pytest.Config, report: RunReport) -> None:
        report.notes.extend(f"cache: {n}" for n in cache_notes(report, self.journal))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        replay.deactivate()


def cache_notes(report: RunReport, journal: Journal) -> list[str]:
    """The run notes of the cache: what it replayed and saved, what it could not do."""
    out = list(journal.problems)
    calls = [c for s in report.suites for case in s.cases for t in case.trials for c in t.calls]
    calls = [c for c in calls if c.kind == "call"]
    replayed = sum(1 for c in calls if c.replayed)
    saved = sum(c.cost_usd or 0.0 for c in calls if c.replayed)
    fresh = sum(c.cost_usd or 0.0 for c in calls if not c.replayed)
    out.insert(
        0,
        f"{journal.directory}: {replayed:,} of {len(calls):,} model calls replayed "
        f"(fresh spend ${fresh:.4f}, saved ${saved:.4f})",
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
