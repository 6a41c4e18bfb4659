"""Aggregation on the controller: from per-trial payloads to every suite's cases.

Pure: no pytest. The plugin feeds :meth:`Aggregator.announce` (a case's setup
began) and :meth:`Aggregator.add` (its teardown finished, with the measurements)
from ``pytest_runtest_logreport``, in whatever order reports arrive; everything
is sorted before any statistic is computed, so a run with or without xdist gives
the same figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from pytest_prodgate.schema.report import CaseReport, EarlyStopReport, RegressionReport

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
    """Collects what every eval-case item reported."""

    announced: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)

    def announce(self, nodeid: str, data: dict[str, Any]) -> None:
        self.announced[nodeid] = (
            str(data["suite"]),
            str(data["case_id"]),
            str(data.get("function", nodeid.split("[", 1)[0])),
        )

    def add(self, payload: dict[str, Any]) -> None:
        self.payloads[str(payload["trial"]["nodeid"])] = payload

    def suites(self) -> list[SuiteData]:
        """Every suite seen, sorted by name, each case sorted by id (then trial, nodeid)."""
        payloads = dict(self.payloads)
        for nodeid, (suite, case_id, function) in self.announced.items():
            if nodeid not in payloads:
                # Setup began but no teardown ever arrived: the worker died mid-case.
                payloads[nodeid] = {
                    "suite": suite,
                    "case_id": case_id,
                    "function": function,
                    "targets": {},
                    "tags": [],
                    "notes": {},
                    "trial": {
                        "nodeid": nodeid,
                        "outcome": "crashed",
                        "reason": "no result arrived (the process running it crashed)",
                    },
                }
        by_suite: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = {}
        targets: dict[str, dict[str, Any]] = {}
        for p in payloads.values():
            key = (p.get("function", ""), p["case_id"])
            by_suite.setdefault(p["suite"], {}).setdefault(key, []).append(p)
            merged = targets.setdefault(p["suite"], {})
            for k, v in p["targets"].items():
                merged.setdefault(k, v)
        names = sorted(by_suite)
        raw: list[dict[str, Any]] = []
        sizes: list[int] = []
        for name in names:
            groups = by_suite[name]
            # Ids as given, unless several test functions pooled into a named suite
            # reuse one: only those are qualified by their test, so adding a test with
            # ids of its own renames nothing (the baseline still pairs).
            owners: dict[str, set[str]] = {}
            for function, case_id in groups:
                owners.setdefault(case_id, set()).add(function)
            ids = {key: _qualified(*key) if len(owners[key[1]]) > 1 else key[1] for key in groups}
            keys = {key: natural_key(ident) for key, ident in ids.items()}
            ordered = sorted(groups, key=keys.__getitem__)
            raw.extend(_case(name, ids[key], groups[key]) for key in ordered)
            sizes.append(len(ordered))
        # One validation pass over every case (much faster than one call per case);
        # CaseReport derives each case's summary from its trials.
        cases = _CASES.validate_python(raw)
        out = []
        at = 0
        for name, size in zip(names, sizes, strict=True):
            out.append(SuiteData(name, targets[name], cases[at : at + size]))
            at += size
        return out


def _qualified(function: str, case_id: str) -> str:
    return case_id if case_id.startswith(function) else f"{function}[{case_id}]"


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts ``q2`` before ``q10``; total, so the order is deterministic."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text)
    )


_CASES = TypeAdapter(list[CaseReport])


def _case(suite: str, case_id: str, payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """One case as :class:`CaseReport` validates it: its trials in order, tags, notes, source."""
    if len(payloads) == 1:
        p = payloads[0]
        return {
            "id": case_id,
            "suite": suite,
            "tags": p["tags"],
            "notes": p["notes"],
            "trials": [p["trial"]],
            "source": p.get("source") or None,
        }
    payloads = sorted(payloads, key=lambda p: (p["trial"].get("trial", 0), p["trial"]["nodeid"]))
    tags: list[str] = []
    notes: dict[str, Any] = {}
    for p in payloads:
        tags.extend(t for t in p["tags"] if t not in tags)
        notes.update(p["notes"])
    return {
        "id": case_id,
        "suite": suite,
        "tags": tags,
        "notes": notes,
        "trials": [p["trial"] for p in payloads],
        "source": next((p["source"] for p in payloads if p.get("source")), None),
    }
