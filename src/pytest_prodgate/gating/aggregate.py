"""Aggregation on the controller: from per-trial payloads to every suite's cases.

Pure: no pytest. The plugin feeds :meth:`Aggregator.announce` (a case's setup
began) and :meth:`Aggregator.add` (its teardown finished, with the measurements)
from ``pytest_runtest_logreport``, in whatever order reports arrive; everything
is sorted before any statistic is computed, so a run with or without xdist gives
the same figures.
"""

from __future__ import annotations

import operator
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pytest_prodgate.schema.report import (
    CaseReport,
    EarlyStopReport,
    RegressionReport,
    TrialReport,
)

__all__ = ["Aggregator", "SuiteData", "natural_key"]


@dataclass
class SuiteData:
    """One suite's cases and targets, as :func:`pytest_prodgate.gating.run.decide` gates them."""

    name: str
    targets: dict[str, Any]
    cases: list[CaseReport]
    regression: RegressionReport | None = None
    notes: list[str] = field(default_factory=list)
    #: Set when the suite ran with early stopping: its looks, order and stop.
    early: EarlyStopReport | None = None


@dataclass
class Aggregator:
    """Collects what every eval-case item reported.

    Each trial is validated, and built into a one-trial case, when it arrives, so the
    end of a run only groups and sorts: the work of a 100,000-case run is spread over
    its cases instead of landing after the last one.
    """

    announced: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    #: By nodeid: the trial built into a one-trial case, where it belongs, its sort key.
    _built: dict[str, _Built] = field(default_factory=dict)
    #: By suite: (test function, case id) -> nodeids, and the targets its items declared.
    _groups: dict[str, dict[tuple[str, str], list[str]]] = field(default_factory=dict)
    _targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Model names and versions seen in any call (``RunInfo.models``).
    models: set[str] = field(default_factory=set)
    model_versions: set[str] = field(default_factory=set)

    @property
    def results(self) -> int:
        """How many trials reported a result (a crashed one never does)."""
        return len(self._built)

    def announce(self, nodeid: str, data: dict[str, Any]) -> None:
        self.announced[nodeid] = (
            sys.intern(str(data["suite"])),
            str(data["case_id"]),
            sys.intern(str(data.get("function", nodeid.split("[", 1)[0]))),
        )

    def add(self, payload: dict[str, Any]) -> None:
        """One trial's payload (the plain dict a teardown report carries); kept as a case,
        not as the dict, which the caller may drop."""
        raw = payload["trial"]
        nodeid = str(raw.nodeid if isinstance(raw, TrialReport) else raw["nodeid"])
        suite, case_id = sys.intern(str(payload["suite"])), str(payload["case_id"])
        try:
            trial = raw if isinstance(raw, TrialReport) else _TRIAL.validate_python(raw)
            case = CaseReport(
                id=case_id,
                suite=suite,
                tags=payload["tags"],
                notes=payload["notes"],
                trials=[trial],
                source=payload.get("source") or None,
            )
        except ValidationError as exc:
            # A payload this version cannot read (a worker of another version, a
            # plugin that rewrote it): the case counts as an error, never as passed.
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "payload"
            trial = TrialReport(
                nodeid=nodeid,
                outcome="error",
                reason=f"its result could not be read ({where}: {first['msg']})",
            )
            case = CaseReport(id=case_id, suite=suite, trials=[trial], source=None)
        for call in trial.calls:
            if call.model:
                self.models.add(call.model)
            if call.model_version:
                self.model_versions.add(call.model_version)
        # Announced and now reported: only the ones that never report are kept, as
        # crashed (see :meth:`suites`).
        self.announced.pop(nodeid, None)
        old = self._built.get(nodeid)
        if old is not None:  # the same item reported again: it replaces the first report
            self._groups[old.case.suite][old.group].remove(nodeid)
        # One string per test function (and suite), not one per case.
        group = (sys.intern(str(payload.get("function", ""))), case_id)
        self._built[nodeid] = _Built(case, natural_key(case_id), group)
        groups = self._groups.get(suite)
        if groups is None:
            groups = self._groups[suite] = {}
            self._targets[suite] = {}
        groups.setdefault(group, []).append(nodeid)
        merged = self._targets[suite]
        for k, v in payload["targets"].items():
            merged.setdefault(k, v)

    def suites(self) -> list[SuiteData]:
        """Every suite seen, sorted by name, each case sorted by id (then trial, nodeid)."""
        built, by_suite, targets = self._built, self._groups, self._targets
        crashed = [n for n in self.announced if n not in built]  # (a rerun's announce)
        if crashed:  # rare: copy, so a later report of the same item still counts
            built = dict(built)
            by_suite = {name: {k: list(v) for k, v in g.items()} for name, g in by_suite.items()}
            targets = {name: dict(t) for name, t in targets.items()}
            for nodeid in crashed:
                # Setup began but no teardown ever arrived: the worker died mid-case.
                suite, case_id, function = self.announced[nodeid]
                trial = TrialReport(
                    nodeid=nodeid,
                    outcome="crashed",
                    reason="no result arrived (the process running it crashed)",
                )
                case = CaseReport(id=case_id, suite=suite, trials=[trial], source=None)
                built[nodeid] = _Built(case, natural_key(case_id), (function, case_id))
                by_suite.setdefault(suite, {}).setdefault((function, case_id), []).append(nodeid)
                targets.setdefault(suite, {})
        out = []
        for name in sorted(by_suite):
            groups = by_suite[name]
            if not all(groups.values()):  # an item reported twice left its old group empty
                groups = {k: v for k, v in groups.items() if v}
            if not groups:
                continue
            if max(map(len, groups.values())) == 1 and len({k[1] for k in groups}) == len(groups):
                # The common case, in C loops: one trial per case, no id shared between
                # test functions, so every case is the one built when it arrived.
                ones = [built[v[0]] for v in groups.values()]
                ones.sort(key=_BUILT_KEY)
                out.append(SuiteData(name, targets[name], [one.case for one in ones]))
                continue
            # Ids as given, unless several test functions pooled into a named suite
            # reuse one: only those are qualified by their test, so adding a test with
            # ids of its own renames nothing (the baseline still pairs).
            owners: dict[str, set[str]] = {}
            for function, case_id in groups:
                owners.setdefault(case_id, set()).add(function)
            cases: list[tuple[tuple[tuple[int | str, ...], str], CaseReport]] = []
            for key, nodeids in groups.items():
                qualified = len(owners[key[1]]) > 1
                if len(nodeids) == 1 and not qualified:
                    one = built[nodeids[0]]  # the common case: built when it arrived
                    cases.append((one.key, one.case))
                    continue
                ident = _qualified(*key) if qualified else key[1]
                case = _case(name, ident, [built[n].case for n in nodeids])
                cases.append((natural_key(ident), case))
            cases.sort(key=lambda kc: kc[0])
            out.append(SuiteData(name, targets[name], [c for _, c in cases]))
        return out


_TRIAL = TypeAdapter(TrialReport)


@dataclass(frozen=True, slots=True)
class _Built:
    """A trial built into a one-trial case when it arrived, with its sort key and group."""

    case: CaseReport
    key: tuple[tuple[int | str, ...], str]
    #: (test function, case id): the trials of one case.
    group: tuple[str, str]


_BUILT_KEY = operator.attrgetter("key")


def _qualified(function: str, case_id: str) -> str:
    return case_id if case_id.startswith(function) else f"{function}[{case_id}]"


def natural_key(text: str) -> tuple[tuple[int | str, ...], str]:
    """Sort key that puts ``q2`` before ``q10``; total (``c01`` and ``c1`` tie on the
    numbers, then sort as text), so the order is deterministic.

    Flat ``(kind, part, kind, part, ...)``, which orders as pairs would, in half the
    memory (one key is kept per case).
    """
    flat: list[int | str] = []
    for part in _DIGITS(text):
        if part.isdecimal():
            flat += (0, int(part))
        elif part:  # only the ends can be empty: leaving them out keeps the order
            flat += (1, part)
    return tuple(flat), text


_DIGITS = re.compile(r"(\d+)").split


def _case(suite: str, case_id: str, ones: list[CaseReport]) -> CaseReport:
    """One case of several trials (or a qualified id) from its one-trial cases: its trials
    in order, tags, notes, source."""
    ones = sorted(ones, key=lambda c: (c.trials[0].trial, c.trials[0].nodeid))
    tags: list[str] = []
    notes: dict[str, Any] = {}
    for one in ones:
        tags.extend(t for t in one.tags if t not in tags)
        notes.update(one.notes)
    return CaseReport(
        id=case_id,
        suite=suite,
        tags=tuple(tags),
        notes=notes,
        trials=[one.trials[0] for one in ones],
        source=next((one.source for one in ones if one.source), None),
    )
