"""Aggregation on the controller: from per-trial payloads to a run report.

Pure: no pytest. The plugin feeds :meth:`Aggregator.announce` (a case's setup
began) and :meth:`Aggregator.add` (its teardown finished, with the measurements)
from ``pytest_runtest_logreport``, in whatever order reports arrive; everything
is sorted before any statistic is computed, so a run with or without xdist gives
the same figures.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .report import (
    CaseReport,
    GateReport,
    RegressionReport,
    RunInfo,
    RunReport,
    SliceSummary,
    SuiteReport,
    TrialReport,
)

__all__ = ["Aggregator", "SuiteData", "build_report"]


@dataclass
class SuiteData:
    name: str
    targets: dict[str, Any]
    cases: list[CaseReport]
    regression: RegressionReport | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Aggregator:
    """Collects what every eval-case item reported."""

    announced: dict[str, tuple[str, str]] = field(default_factory=dict)
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)

    def announce(self, nodeid: str, data: dict[str, Any]) -> None:
        self.announced[nodeid] = (str(data["suite"]), str(data["case_id"]))

    def add(self, payload: dict[str, Any]) -> None:
        self.payloads[str(payload["trial"]["nodeid"])] = payload

    def suites(self) -> list[SuiteData]:
        """Every suite seen, sorted by name, each case sorted by id (then trial, nodeid)."""
        payloads = dict(self.payloads)
        for nodeid, (suite, case_id) in self.announced.items():
            if nodeid not in payloads:
                # Setup began but no teardown ever arrived: the worker died mid-case.
                payloads[nodeid] = {
                    "suite": suite,
                    "case_id": case_id,
                    "targets": {},
                    "tags": [],
                    "notes": {},
                    "trial": {
                        "nodeid": nodeid,
                        "outcome": "crashed",
                        "reason": "no result arrived (the process running it crashed)",
                    },
                }
        by_suite: dict[str, dict[str, list[dict[str, Any]]]] = {}
        targets: dict[str, dict[str, Any]] = {}
        for p in payloads.values():
            by_suite.setdefault(p["suite"], {}).setdefault(p["case_id"], []).append(p)
            merged = targets.setdefault(p["suite"], {})
            for k, v in p["targets"].items():
                merged.setdefault(k, v)
        out = []
        for name in sorted(by_suite):
            ordered = sorted(by_suite[name].items(), key=lambda kv: natural_key(kv[0]))
            cases = [_case(name, cid, ps) for cid, ps in ordered]
            out.append(SuiteData(name, targets[name], cases))
        return out


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts ``q2`` before ``q10``; total, so the order is deterministic."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text)
    )


def _case(suite: str, case_id: str, payloads: list[dict[str, Any]]) -> CaseReport:
    payloads = sorted(payloads, key=lambda p: (p["trial"].get("trial", 0), p["trial"]["nodeid"]))
    trials = [TrialReport.model_validate(p["trial"]) for p in payloads]
    tags: list[str] = []
    notes: dict[str, Any] = {}
    for p in payloads:
        tags.extend(t for t in p["tags"] if t not in tags)
        notes.update(p["notes"])
    calls = [c for t in trials for c in t.calls]
    costs = [c.cost_usd for c in calls if c.cost_usd is not None]
    added = sum(t.added_cost_usd for t in trials)
    ins = [c.input_tokens for c in calls if c.input_tokens is not None]
    outs = [c.output_tokens for c in calls if c.output_tokens is not None]
    errors = [t.error for t in trials if t.error] + [c.error for c in calls if c.error]
    scores = [t.score for t in trials if t.outcome in _SCORED and t.score is not None]
    return CaseReport(
        id=case_id,
        suite=suite,
        tags=tags,
        notes=notes,
        trials=trials,
        scores=[t.score for t in trials],
        latencies_ms=[c.latency_ms for c in calls],
        cost_usd=(sum(costs) + added) if (costs or added) else None,
        input_tokens=sum(ins) if ins else None,
        output_tokens=sum(outs) if outs else None,
        error=errors[0] if errors else None,
        pass_rate=sum(scores) / len(scores) if scores else None,
        flaky=len(set(scores)) > 1,
        source=next((p["source"] for p in payloads if p.get("source")), None),
    )


_SCORED = frozenset({"passed", "missed", "model_error"})


def _slices(cases: list[CaseReport]) -> dict[str, SliceSummary]:
    tags = sorted({t for c in cases for t in c.tags}, key=natural_key)
    out = {}
    for tag in tags:
        rates = [c.pass_rate for c in cases if tag in c.tags and c.pass_rate is not None]
        out[tag] = SliceSummary(n=len(rates), accuracy=sum(rates) / len(rates) if rates else None)
    return out


def _pass_all_rate(cases: list[CaseReport]) -> float | None:
    scored = [c for c in cases if c.pass_rate is not None]
    if not scored:
        return None
    return sum(all(t.score == 1.0 for t in c.trials if t.outcome in _SCORED) for c in scored) / len(
        scored
    )


def _counts(cases: Iterable[CaseReport]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in cases:
        for t in c.trials:
            counts[t.outcome] = counts.get(t.outcome, 0) + 1
    return counts


def build_report(
    suites: list[SuiteData],
    run: RunInfo,
    evaluate: Callable[[SuiteData], list[GateReport]],
) -> RunReport:
    """Evaluate every suite's gates and assemble the run report."""
    from .gates import worst

    out = []
    for s in suites:
        gates = evaluate(s)
        out.append(
            SuiteReport(
                name=s.name,
                targets=s.targets,
                verdict=worst(g.verdict for g in gates) or "PASS",
                counts=_counts(s.cases),
                gates=gates,
                slices=_slices(s.cases),
                trials=max((len(c.trials) for c in s.cases), default=1),
                pass_all_rate=_pass_all_rate(s.cases),
                flaky_cases=[c.id for c in s.cases if c.flaky],
                regression=s.regression,
                notes=s.notes,
                cases=s.cases,
            )
        )
    all_gates = [g for s in out for g in s.gates]
    return RunReport(
        run=run,
        verdict=worst(g.verdict for g in all_gates),
        fails_run=run.mode == "gate" and any(g.fails_run for g in all_gates),
        suites=out,
    )
