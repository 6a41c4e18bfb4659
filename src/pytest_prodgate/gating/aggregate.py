"""Aggregation on the controller: from per-trial payloads to every suite's cases.

Pure: no pytest. The plugin feeds :meth:`Aggregator.announce` (a case's setup
began) and :meth:`Aggregator.add` (its teardown finished, with the measurements)
from ``pytest_runtest_logreport``, in whatever order reports arrive; everything
is sorted before any statistic is computed, so a run with or without xdist gives
the same figures.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pytest_prodgate.schema.redact import redactor
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
    #: By suite: case id -> its items' nodeids (one: the string alone, the common case;
    #: several trials, or test functions sharing an id: a list), and the targets its
    #: items declared.
    _groups: dict[str, dict[str, str | list[str]]] = field(default_factory=dict)
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
            if not case.notes:  # nearly every case: one empty dict for all, not one each
                object.__setattr__(case, "notes", _NO_NOTES)
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
            _drop(self._groups[old.case.suite], old.case.id, nodeid)
        # One string per test function (and suite), not one per case.
        function = sys.intern(str(payload.get("function", "")))
        self._built[nodeid] = _Built(case, natural_key(case_id)[0], function)
        groups = self._groups.get(suite)
        if groups is None:
            groups = self._groups[suite] = {}
            self._targets[suite] = {}
        _put(groups, case_id, nodeid)
        merged = self._targets[suite]
        for k, v in payload["targets"].items():
            merged.setdefault(k, v)

    def suites(self) -> list[SuiteData]:
        """Every suite seen, sorted by name, each case sorted by id (then trial, nodeid)."""
        built, by_suite, targets = self._built, self._groups, self._targets
        crashed = [n for n in self.announced if n not in built]  # (a rerun's announce)
        if crashed:  # rare: copy, so a later report of the same item still counts
            built = dict(built)
            by_suite = {
                name: {k: v if isinstance(v, str) else list(v) for k, v in g.items()}
                for name, g in by_suite.items()
            }
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
                built[nodeid] = _Built(case, natural_key(case_id)[0], function)
                _put(by_suite.setdefault(suite, {}), case_id, nodeid)
                targets.setdefault(suite, {})
        out = []
        for name in sorted(by_suite):
            groups = by_suite[name]
            if not groups:
                continue
            ones = [built[v] for v in groups.values() if type(v) is str]
            if len(ones) == len(groups):
                # The common case: one trial per case id, so every case is the one built
                # when it arrived.
                ones.sort(key=_built_key)
                cases_in_order = _in_report_order([one.case for one in ones])
                out.append(SuiteData(name, targets[name], cases_in_order))
                continue
            cases: list[tuple[tuple[tuple[int | str, ...], str], CaseReport]] = []
            for case_id, nodeids in groups.items():
                if isinstance(nodeids, str):
                    one = built[nodeids]
                    cases.append(((one.flat, case_id), one.case))
                    continue
                by_function: dict[str, list[str]] = {}
                for n in nodeids:
                    by_function.setdefault(built[n].function, []).append(n)
                # Ids as given, unless several test functions pooled into a named suite
                # reuse one: only those are qualified by their test, so adding a test
                # with ids of its own renames nothing (the baseline still pairs).
                qualified = len(by_function) > 1
                for function, ns in by_function.items():
                    if len(ns) == 1 and not qualified:
                        one = built[ns[0]]
                        cases.append(((one.flat, case_id), one.case))
                        continue
                    ident = _qualified(function, case_id) if qualified else case_id
                    case = _case(name, ident, [built[n].case for n in ns])
                    cases.append((natural_key(ident), case))
            cases.sort(key=lambda kc: kc[0])
            out.append(SuiteData(name, targets[name], _in_report_order([c for _, c in cases])))
        return out


def _put(groups: dict[str, str | list[str]], case_id: str, nodeid: str) -> None:
    """Add ``nodeid`` to the items of ``case_id``: a lone one kept as its string, not a list."""
    got = groups.get(case_id)
    if got is None:
        groups[case_id] = nodeid
    elif isinstance(got, str):
        groups[case_id] = [got, nodeid]
    else:
        got.append(nodeid)


def _drop(groups: dict[str, str | list[str]], case_id: str, nodeid: str) -> None:
    got = groups.get(case_id)
    if got == nodeid:
        del groups[case_id]
    elif isinstance(got, list):
        got.remove(nodeid)
        if not got:
            del groups[case_id]


_TRIAL = TypeAdapter(TrialReport)
#: The notes of every case built without any (never written to: a case's notes are
#: replaced, not updated, by :func:`_case` and the report's redaction).
_NO_NOTES: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class _Built:
    """A trial built into a one-trial case when it arrived, with its test function and
    the numbers of its sort key (:func:`natural_key` without the id, which the case has)."""

    case: CaseReport
    flat: tuple[int | str, ...]
    function: str


def _built_key(one: _Built) -> tuple[tuple[int | str, ...], str]:
    return one.flat, one.case.id


def _in_report_order(cases: list[CaseReport]) -> list[CaseReport]:
    """``cases`` (sorted by id) sorted by their ids as a report holds them, redacted,
    raw ids breaking ties: the order a merge of shards, which has only those, rebuilds
    (the betting bounds depend on the order). The same list when no id holds a secret."""
    ids = [c.id for c in cases]
    shown = redactor().many(ids)
    if shown == ids:
        return cases
    keyed = sorted(zip(shown, cases, strict=True), key=lambda sc: (natural_key(sc[0])[0], sc[1].id))
    return [c for _, c in keyed]


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
