"""The numbers of a report read from disk: each one gating or comparison can use (SPEC §8, §14).

Pure: no pytest. Pydantic checks a report's types; this pass checks its values: a
score in [0, 1], a latency, cost, count or duration finite and not negative, no
NaN or infinity anywhere, and each case id once per suite. The plugin never
writes a report that fails it (its values are checked where they are measured,
and an unbounded side of an interval is written as ``null``), so it runs when a
report is read (:func:`pytest_prodgate.schema.files.load_report`), never on the
in-run path, where building a case costs what it did.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from pytest_prodgate.schema.report import (
    CallReport,
    CaseReport,
    DrillReport,
    DrillStep,
    EarlyStopReport,
    GateReport,
    LoadRunReport,
    RegressionReport,
    RunInfo,
    RunReport,
    ShardInfo,
    SliceSummary,
    SuiteReport,
    TrialReport,
)

__all__ = ["RULES", "report_problem"]

_INF = math.inf


def _score(v: Any) -> str | None:
    return None if 0.0 <= v <= 1.0 else "is not a score in [0, 1]"


def _amount(v: Any) -> str | None:  # NaN fails both comparisons
    return None if 0.0 <= v < _INF else "is not a finite number >= 0"


def _finite(v: Any) -> str | None:
    return None if -_INF < v < _INF else "is not a finite number"


def _count(v: Any) -> str | None:
    return None if v >= 0 else "is not a count >= 0"


def _positive_count(v: Any) -> str | None:
    return None if v >= 1 else "is not a count >= 1"


def _confidence(v: Any) -> str | None:
    return None if 0.5 < v < 1.0 else "is not a confidence level in (0.5, 1)"


Rule = Callable[[Any], "str | None"]

#: Every number of every record, and what it must be (``None`` values are "not
#: given" and pass). A test checks that each int or float field is listed here.
RULES: dict[type, tuple[tuple[str, Rule], ...]] = {
    RunInfo: (
        ("duration_s", _amount),
        ("seed", _finite),
        ("confidence", _confidence),
        ("resamples", _positive_count),
        ("xdist_workers", _count),
        ("concurrency", _positive_count),
        ("calls_wasted", _count),
        ("warmup_calls", _count),
    ),
    ShardInfo: (
        ("index", _positive_count),
        ("total", _positive_count),
        ("collected", _count),
        ("assigned", _count),
    ),
    SuiteReport: (
        ("trials", _positive_count),
        ("pass_all_rate", _score),
        ("fresh_calls", _count),
        ("replayed_calls", _count),
        ("fresh_cost_usd", _amount),
        ("replayed_cost_usd", _amount),
    ),
    # estimate, lower and upper are read from the JSON itself (see _gates): the
    # model turns a non-finite one into null.
    GateReport: (
        ("target", _finite),
        ("n", _count),
        ("to_resolve", _count),
        ("replayed", _count),
    ),
    SliceSummary: (("n", _count), ("accuracy", _score)),
    RegressionReport: (
        ("paired", _count),
        ("baseline_accuracy", _score),
        ("current_accuracy", _score),
        ("min_detectable_regression", _amount),
    ),
    EarlyStopReport: (
        ("planned", _count),
        ("stopped_look", _count),
        ("cases_run", _count),
        ("cases_after_stop", _count),
        ("calls_run", _count),
        ("calls_saved", _count),
        ("cost_saved_usd", _amount),
    ),
    CaseReport: (
        ("cost_usd", _amount),
        ("input_tokens", _count),
        ("output_tokens", _count),
        ("replayed_calls", _count),
        ("pass_rate", _score),
        ("dataset", _count),
    ),
    TrialReport: (
        ("trial", _count),
        ("score", _score),
        ("added_cost_usd", _amount),
        ("duration_s", _amount),
    ),
    CallReport: (
        ("latency_ms", _amount),
        ("retries", _count),
        ("cost_usd", _amount),
        ("input_tokens", _count),
        ("output_tokens", _count),
        ("rate_limited", _count),
        ("throttled_ms", _amount),
        ("in_flight", _count),
    ),
    LoadRunReport: (
        ("concurrency", _count),
        ("duration_s", _amount),
        ("requests", _count),
        ("warmup", _count),
    ),
    DrillReport: (
        ("fault_at", _finite),
        ("detected_s", _amount),
        ("recovered_s", _amount),
        ("timeout_s", _amount),
        ("poll_interval_s", _amount),
    ),
    DrillStep: (
        ("elapsed_s", _amount),
        ("wait_s", _amount),
        ("timeout_s", _amount),
        ("poll_interval_s", _amount),
        ("checks", _count),
    ),
}

#: Fields holding a list of numbers, each checked by the rule.
LIST_RULES: dict[type, tuple[tuple[str, Rule], ...]] = {
    CaseReport: (("scores", _score), ("latencies_ms", _amount)),
    EarlyStopReport: (("looks", _count),),
}


class _Bad(Exception):
    """``LOCATION (suite, case, gate): what is wrong``."""

    def __init__(self, where: str, message: str, about: str = "") -> None:
        super().__init__(f"{where}{f' ({about})' if about else ''}: {message}")


def _problem(obj: Any) -> tuple[str, str] | None:
    """``(field, what is wrong)`` of the first bad number of ``obj``; the caller says where
    (formatting a location only on failure keeps the pass cheap at 100,000 cases)."""
    for name, rule in RULES[type(obj)]:
        value = getattr(obj, name)
        if value is not None and (wrong := rule(value)) is not None:
            return f".{name}", f"{value!r} {wrong}"
    for name, rule in LIST_RULES.get(type(obj), ()):
        for i, value in enumerate(getattr(obj, name)):
            if value is not None and (wrong := rule(value)) is not None:
                return f".{name}[{i}]", f"{value!r} {wrong}"
    return None


def _check(obj: Any, where: str, about: str = "") -> None:
    bad = _problem(obj)
    if bad is not None:
        raise _Bad(where + bad[0], bad[1], about)


def report_problem(report: RunReport, data: Mapping[str, Any]) -> str | None:
    """The first value of ``report`` (validated from ``data``, the JSON as read) that
    gating or comparison cannot use, as ``LOCATION (suite, case): what is wrong``;
    ``None`` when there is none."""
    try:
        _check_report(report, data)
    except _Bad as exc:
        return str(exc)
    return None


def _check_report(report: RunReport, data: Mapping[str, Any]) -> None:
    _check(report.run, "run")
    shard = report.run.shard
    if shard is not None:
        _check(shard, "run.shard")
        if shard.index > shard.total:
            raise _Bad("run.shard.index", f"shard {shard.label} is not one of 1..{shard.total}")
    suites_seen: dict[str, int] = {}
    raw_suites = data.get("suites") or []
    n_datasets = len(report.datasets)
    for i, suite in enumerate(report.suites):
        where, about = f"suites[{i}]", f"suite {suite.name!r}"
        if suite.name in suites_seen:
            raise _Bad(
                where, f"the suite name is also that of suites[{suites_seen[suite.name]}]", about
            )
        suites_seen[suite.name] = i
        _check(suite, where, about)
        _targets(suite.targets, f"{where}.targets", about)
        for key, count in suite.counts.items():
            if _count(count) is not None:
                raise _Bad(f"{where}.counts.{key}", f"{count!r} {_count(count)}", about)
        raw = raw_suites[i].get("gates") if i < len(raw_suites) else None
        _gates(suite, raw or [], where)
        for tag, sl in suite.slices.items():
            _check(sl, f"{where}.slices[{tag!r}]", about)
        if suite.regression is not None:
            _check(suite.regression, f"{where}.regression", about)
        if suite.early_stop is not None:
            _check(suite.early_stop, f"{where}.early_stop", about)
        _cases(suite, where, n_datasets)


def _targets(targets: Mapping[str, Any], where: str, about: str) -> None:
    """The suite's locked numbers, by the rules a marker's keywords follow."""
    from pytest_prodgate.schema.targets import Targets

    known = {k: v for k, v in targets.items() if k in Targets.model_fields}
    try:
        Targets.model_validate(known)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise _Bad(f"{where}.{loc}", f"{first.get('input')!r}: {first['msg']}", about) from None


def _gates(suite: SuiteReport, raw: Iterable[Any], where: str) -> None:
    for j, (gate, given) in enumerate(zip(suite.gates, raw, strict=False)):
        at, about = f"{where}.gates[{j}]", f"suite {suite.name!r}, gate {gate.gate!r}"
        _check(gate, at, about)
        for key in ("estimate", "lower", "upper"):
            value = given.get(key) if isinstance(given, Mapping) else None
            if isinstance(value, float) and not math.isfinite(value):
                # The model reads it as null; the plugin writes null, never NaN or inf.
                raise _Bad(f"{at}.{key}", f"{value!r} is not a finite number or null", about)


def _cases(suite: SuiteReport, where: str, n_datasets: int) -> None:
    seen: dict[str, int] = {}
    for k, case in enumerate(suite.cases):
        first = seen.setdefault(case.id, k)
        if first != k:
            raise _Bad(
                f"{where}.cases[{k}]",
                f"case {case.id!r} is held twice in the suite (also {where}.cases[{first}])",
                f"suite {suite.name!r}, case {case.id!r}",
            )
        if case.dataset is not None and case.dataset >= n_datasets:
            bad: tuple[str, str] | None = (
                ".dataset",
                f"{case.dataset} is not an index of the report's {n_datasets} datasets",
            )
        else:
            bad = _case_problem(case)
        if bad is not None:
            raise _Bad(
                f"{where}.cases[{k}]{bad[0]}", bad[1], f"suite {suite.name!r}, case {case.id!r}"
            )


def _case_problem(case: CaseReport) -> tuple[str, str] | None:
    for t, trial in enumerate(case.trials):
        bad = _problem(trial)
        if bad is not None:
            return f".trials[{t}]{bad[0]}", bad[1]
        for name, records, check in (
            ("calls", trial.calls, _problem),
            ("load_runs", trial.load_runs, _load_run_problem),
            ("drills", trial.drills, _drill_problem),
        ):
            bad = _first_problem(name, records, check)
            if bad is not None:
                return f".trials[{t}]{bad[0]}", bad[1]
    # After its trials: a summary (scores, latencies_ms) read back is derived from
    # them, so a bad trial is named where the JSON holds it.
    return _problem(case)


def _first_problem(
    name: str, records: Sequence[Any], check: Callable[[Any], tuple[str, str] | None]
) -> tuple[str, str] | None:
    """The first of ``records`` that ``check`` finds bad, as ``(".NAME[i]…", why)``."""
    for i, record in enumerate(records):
        bad = check(record)
        if bad is not None:
            return f".{name}[{i}]{bad[0]}", bad[1]
    return None


def _drill_problem(drill: DrillReport) -> tuple[str, str] | None:
    return _problem(drill) or _first_problem("steps", drill.steps, _problem)


def _load_run_problem(run: LoadRunReport) -> tuple[str, str] | None:
    bad = _problem(run)
    if bad is not None:
        return bad
    for c, (start, end, _ok, _error) in enumerate(run.calls):
        if _finite(start) is not None or _finite(end) is not None:
            return f".calls[{c}]", f"[{start!r}, {end!r}] are not finite times"
        if end < start:
            return f".calls[{c}]", f"ends at {end!r} s, before its start at {start!r} s"
    return None
