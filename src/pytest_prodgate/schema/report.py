"""The JSON report: a versioned pydantic schema, written atomically.

Pure: no pytest. This is also the baseline format, and the model tools use to
read reports (``RunReport.model_validate_json(text)`` or :func:`load_report`).
An unbounded side of an interval is written as ``null``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic_core import ArgsKwargs

from pytest_prodgate.errors import ReportError

__all__ = [
    "SCHEMA_VERSION",
    "CallReport",
    "CaseReport",
    "DrillReport",
    "DrillStep",
    "EarlyStopReport",
    "GateReport",
    "LoadCall",
    "LoadRunReport",
    "RegressionReport",
    "ReportError",
    "RunInfo",
    "RunReport",
    "ShardInfo",
    "SliceSummary",
    "SuiteReport",
    "TrialReport",
    "Verdict",
]

#: 2: compact JSON, defaults left out, dataset paths once per run (``datasets``) and
#: relative to the rootdir, no per-case ``suite`` / ``scores`` / ``latencies_ms``.
#: Version-1 reports still read (as version 2).
SCHEMA_VERSION: Literal[2] = 2
READABLE_VERSIONS = (1, 2)

Verdict = Literal[
    "PASS", "FAIL", "INCONCLUSIVE", "NO_DATA", "INCOMPLETE", "TAMPERED", "LOOSENED", "SHARD"
]
Outcome = Literal["passed", "missed", "model_error", "error", "skipped", "crashed", "not_run"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: The per-case records (a run holds one of each per case, 100,000 at scale) are
#: slotted pydantic dataclasses, not models: the same validation and JSON, in about a
#: tenth of the memory (no ``__dict__``, no fields-set record per instance).
_RECORD = ConfigDict(extra="forbid")


def _finite_or_none(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@dataclass(slots=True, kw_only=True, config=_RECORD)
class CallReport:
    """One model call."""

    latency_ms: float
    ok: bool
    error: str | None = None
    error_message: str | None = None
    timed_out: bool = False
    retries: int = 0
    cost_usd: float | None = None
    cost_error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    model: str | None = None
    kind: str = "call"
    model_version: str | None = None
    #: Replayed from the ``--prodgate-cache`` journal: latency, tokens and cost are
    #: those measured when the call was made, at ``recorded_at``.
    replayed: bool = False
    recorded_at: str | None = None
    #: Why the cache did not store this call (e.g. a response that is not JSON).
    cache_note: str | None = None
    #: Attempts that got a rate-limit signal (HTTP 429/503); not retries, not errors.
    rate_limited: int = 0
    #: Milliseconds spent on rate limits; not part of ``latency_ms``.
    throttled_ms: float = 0.0
    #: Model calls in flight in the process when this call started (itself included).
    in_flight: int | None = None
    #: Made ahead of its case by ``prodgate_output`` (SPEC §11).
    ahead: bool = False


#: One measured request of a load run: ``[start_s, end_s, ok, error class or null]``.
#: A list in the JSON (not an object) to keep reports of long runs compact.
LoadCall = tuple[float, float, bool, "str | None"]


class LoadRunReport(_Model):
    """One ``prodgate_load`` run (``LoadResult.to_dict()`` plus ``count_latency``)."""

    concurrency: int = 0
    duration_s: float = 0.0
    calls: list[LoadCall] = Field(default_factory=list)
    saturated: bool = False
    timed_out: bool = False
    requests: int = 0
    warmup: int = 0
    name: str | None = None
    #: Its successful calls count towards the latency gates.
    count_latency: bool = False

    def ok_latencies_ms(self) -> list[float]:
        """The latency of every call that succeeded, in milliseconds, in start order."""
        return [(end - start) * 1000.0 for start, end, ok, _ in self.calls if ok]

    def errors(self) -> int:
        """Requests that raised or timed out."""
        return sum(1 for call in self.calls if not call[2])


class DrillStep(_Model):
    """One timed step of a drill (``wait_until``)."""

    step: str
    ok: bool
    elapsed_s: float | None = None
    wait_s: float | None = None
    timeout_s: float | None = None
    poll_interval_s: float | None = None
    checks: int = 0
    last_error: str | None = None


class DrillReport(_Model):
    """One ``prodgate_drill`` recovery drill; times are seconds from the fault."""

    name: str | None = None
    fault_at: float | None = None
    detected_s: float | None = None
    #: Seconds to recovery; for a drill that never recovered, to its step's deadline.
    recovered_s: float | None = None
    recovered: bool = False
    timeout_s: float | None = None
    poll_interval_s: float | None = None
    steps: list[DrillStep] = Field(default_factory=list)
    error: str | None = None


@dataclass(slots=True, kw_only=True, config=_RECORD)
class TrialReport:
    """One run of one case: a single collected test item."""

    nodeid: str
    trial: int = 0
    outcome: Outcome
    score: float | None = None
    reason: str | None = None
    error: str | None = None
    calls: list[CallReport] = Field(default_factory=list)
    added_cost_usd: float = 0.0
    duration_s: float = 0.0
    # Tuples: nearly every trial has none, and () is one shared object, not a list each.
    load_runs: tuple[LoadRunReport, ...] = ()
    drills: tuple[DrillReport, ...] = ()


@dataclass(slots=True, kw_only=True, config=_RECORD)
class CaseReport:
    """One eval case, with every trial it ran.

    The summary fields (``scores`` … ``flaky``) are derived from ``trials`` when the
    case is built (:meth:`_summarise`, the one place they are computed), so a
    report read back has them without storing each twice: ``scores`` and
    ``latencies_ms`` are not written to the JSON (each trial holds its score and
    calls), nor ``suite`` (the enclosing suite's name) and ``source`` (the
    report's ``datasets`` list, see :attr:`dataset`).
    """

    id: str
    suite: str = Field("", exclude=True)
    tags: tuple[str, ...] = ()
    notes: dict[str, Any] = Field(default_factory=dict)
    trials: list[TrialReport] = Field(default_factory=list)
    # Tuples: one per case, kept to the end of a run; a tuple of floats is smaller than a
    # list and the garbage collector stops tracking it.
    scores: tuple[float | None, ...] = Field(default=(), exclude=True)
    latencies_ms: tuple[float, ...] = Field(default=(), exclude=True)
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None
    #: Of its model calls, how many were replayed from ``--prodgate-cache``.
    replayed_calls: int = 0
    #: Mean score over the trials that scored (the per-case pass rate).
    pass_rate: float | None = None
    #: Scores of 0 and 1 only, and both among its trials (see docs/concepts.md).
    flaky: bool = False
    #: The dataset file the case came from, as this run read it (in the JSON: ``dataset``).
    source: str | None = Field(None, exclude=True)
    #: Index of :attr:`source` in :attr:`RunReport.datasets` (paths relative to the rootdir).
    dataset: int | None = None
    #: Why its results are left out of the suite's gates (``None``: gated): it ran
    #: after its suite resolved early (SPEC §13), under xdist only.
    not_gated: str | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _summarise(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> CaseReport:
        given = data.kwargs if isinstance(data, ArgsKwargs) else data
        self: CaseReport = handler(data)
        trials = self.trials
        if not trials:
            return self  # built by hand with its summary given
        t = trials[0]
        if len(trials) == 1 and len(t.calls) <= 1 and not t.error:
            derived = _summary_single(t)
        else:
            derived = _summary(trials)
        if isinstance(given, dict):
            for key in _SUMMARY.intersection(given):  # a summary given (read back, or
                del derived[key]  # built by hand) is kept
        for key, value in derived.items():
            setattr(self, key, value)
        return self


#: The fields :meth:`CaseReport._summarise` derives from the trials.
_SUMMARY = frozenset(
    {
        "scores",
        "latencies_ms",
        "cost_usd",
        "input_tokens",
        "output_tokens",
        "error",
        "pass_rate",
        "flaky",
        "replayed_calls",
    }
)


def _summary(trials: list[TrialReport]) -> dict[str, Any]:
    calls = [c for t in trials for c in t.calls]
    costs = [c.cost_usd for c in calls if c.cost_usd is not None]
    added = sum(t.added_cost_usd for t in trials)
    ins = [c.input_tokens for c in calls if c.input_tokens is not None]
    outs = [c.output_tokens for c in calls if c.output_tokens is not None]
    errors = [t.error for t in trials if t.error] + [c.error for c in calls if c.error]
    scored = [t.score for t in trials if t.outcome in SCORED and t.score is not None]
    return {
        "scores": tuple(t.score for t in trials),
        "latencies_ms": tuple(c.latency_ms for c in calls),
        "cost_usd": (sum(costs) + added) if (costs or added) else None,
        "input_tokens": sum(ins) if ins else None,
        "output_tokens": sum(outs) if outs else None,
        "error": errors[0] if errors else None,
        "pass_rate": sum(scored) / len(scored) if scored else None,
        "flaky": set(scored) == {0.0, 1.0},
        "replayed_calls": sum(1 for c in calls if c.replayed),
    }


def _summary_single(t: TrialReport) -> dict[str, Any]:
    """:func:`_summary` for one trial of at most one call (most cases), faster."""
    call = t.calls[0] if t.calls else None
    added = t.added_cost_usd
    scored = t.outcome in SCORED and t.score is not None
    out: dict[str, Any] = {
        "scores": (t.score,),
        "pass_rate": t.score if scored else None,
        "flaky": False,
        "replayed_calls": 1 if call is not None and call.replayed else 0,
    }
    if call is None:
        out.update(
            latencies_ms=(),
            cost_usd=added if added else None,
            input_tokens=None,
            output_tokens=None,
            error=None,
        )
    else:
        cost = call.cost_usd
        out.update(
            latencies_ms=(call.latency_ms,),
            cost_usd=cost + added if cost is not None else (added if added else None),
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
            error=call.error or None,
        )
    return out


#: Trial outcomes that produced a score (also ``gating.gates.SCORED``).
SCORED = frozenset({"passed", "missed", "model_error"})


class SliceSummary(_Model):
    """Accuracy of the cases tagged with one slice."""

    n: int
    accuracy: float | None


class RegressionReport(_Model):
    """How this run compares with the baseline, case by case."""

    baseline: str
    baseline_commit: str | None = None
    paired: int
    only_current: list[str] = Field(default_factory=list)
    only_baseline: list[str] = Field(default_factory=list)
    #: Passed (score >= 0.5) in the baseline, missed now.
    regressed: list[str] = Field(default_factory=list)
    #: Missed in the baseline, passed now.
    fixed: list[str] = Field(default_factory=list)
    baseline_accuracy: float | None = None
    current_accuracy: float | None = None
    #: Smallest drop in accuracy this comparison detects with 80% power.
    min_detectable_regression: float | None = None
    partial: bool = False
    note: str = ""


class GateReport(_Model):
    """One locked number of one suite and its verdict."""

    suite: str
    gate: str
    comparator: Literal[">=", "<="]
    target: float
    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None
    n: int = 0
    method: str = ""
    verdict: Verdict
    fails_run: bool
    reason: str = ""
    hint: str = ""
    #: How many cases (or calls, see ``to_resolve_unit``) the gate would likely need
    #: in all to resolve, when it is INCONCLUSIVE and some number would; the hint
    #: says it in words.
    to_resolve: int | None = None
    #: What ``to_resolve`` counts: ``"case"``, ``"call"``, ``"paired case"``, ``"window"``.
    to_resolve_unit: str = ""
    #: How many of its observations rest on calls replayed from ``--prodgate-cache``
    #: (latency samples; tests with load runs or drills); the reason says so.
    replayed: int = 0

    _finite = field_validator("estimate", "lower", "upper", mode="before")(_finite_or_none)

    @model_serializer(mode="wrap")
    def _interval_always(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A compact report leaves defaults out, but an unbounded side is written as
        # null (SPEC §8): the interval's three figures are always there.
        data: dict[str, Any] = handler(self)
        for key in ("estimate", "lower", "upper"):
            data.setdefault(key, getattr(self, key))
        return data


class EarlyStopReport(_Model):
    """How a suite run with early stopping (SPEC §13) looked at its data and where it stopped."""

    #: Cumulative case counts of the planned looks (the last is ``planned``).
    looks: list[int]
    planned: int
    #: Every planned case id in the seeded run order: look k saw the first ``looks[k-1]``.
    order: list[str]
    #: The look at which every gate was resolved (``None``: ran to the end).
    stopped_look: int | None = None
    #: Cases that ran (not skipped by the stop) and their model calls, every one.
    cases_run: int = 0
    calls_run: int = 0
    #: Of ``cases_run``, those past the deciding look (under xdist: started before the
    #: stop was known): reported, not gated. The gates see the first ``looks[K-1]``.
    cases_after_stop: int = 0
    #: Calls and cost the cases not run would have taken, at the run cases' mean.
    calls_saved: int = 0
    cost_saved_usd: float | None = None
    #: The sequential rule of each gate, by gate name.
    boundaries: dict[str, str] = Field(default_factory=dict)


class SuiteReport(_Model):
    """One suite: its targets, gates, and cases."""

    name: str
    targets: dict[str, Any]
    verdict: Verdict
    counts: dict[str, int] = Field(default_factory=dict)
    gates: list[GateReport] = Field(default_factory=list)
    slices: dict[str, SliceSummary] = Field(default_factory=dict)
    trials: int = 1
    #: Share of cases whose every trial passed (pass^N); with one trial, the accuracy.
    pass_all_rate: float | None = None
    flaky_cases: list[str] = Field(default_factory=list)
    regression: RegressionReport | None = None
    notes: list[str] = Field(default_factory=list)
    early_stop: EarlyStopReport | None = None
    #: Model calls made in this run and replayed from ``--prodgate-cache``, and
    #: what each cost: fresh spend (with ``add_cost``) and the replayed (saved) cost.
    fresh_calls: int = 0
    replayed_calls: int = 0
    fresh_cost_usd: float | None = None
    replayed_cost_usd: float | None = None
    cases: list[CaseReport] = Field(default_factory=list)

    @model_validator(mode="after")
    def _own_cases(self) -> SuiteReport:
        name = self.name
        for case in self.cases:
            if case.suite != name:  # cases built by the aggregator carry it already
                case.suite = name
        return self


class ShardInfo(_Model):
    """Which shard of a sharded run (``--prodgate-shard=K/N``) a report holds (SPEC §15).

    What ``prodgate merge`` checks before it combines shards: they are shards
    ``1..N`` of one ``N``, collected the same eval cases (``collected`` and
    ``collected_sha256`` over every shard's cases), each ran the ``assigned``
    cases it was given, and they read the same lock, datasets and baseline.
    """

    index: int
    total: int
    #: Eval cases (suite, test, case id) the whole collection holds, over every shard.
    collected: int
    #: SHA-256 of the sorted keys of those cases: equal in every shard of one run.
    collected_sha256: str
    #: Cases of this shard (they are in its report).
    assigned: int
    #: SHA-256 of ``prodgate.lock`` as read, when there was one.
    lock_sha256: str | None = None
    #: SHA-256 of each dataset collection read, keyed as in the lock.
    datasets: dict[str, str] = Field(default_factory=dict)
    #: SHA-256 of the ``--prodgate-baseline`` file, when one was given.
    baseline_sha256: str | None = None

    @property
    def label(self) -> str:
        """``K/N``."""
        return f"{self.index}/{self.total}"


class RunInfo(_Model):
    """How and where the run happened."""

    started_at: str
    finished_at: str
    duration_s: float
    plugin_version: str
    pytest_version: str
    python_version: str
    platform: str
    git_commit: str | None = None
    seed: int
    confidence: float
    resamples: int
    ci_method: str
    mode: Literal["gate", "report"]
    inconclusive: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    xdist_workers: int = 0
    #: ``--prodgate-concurrency``: calls in flight per process for ``prodgate_output``.
    concurrency: int | None = None
    #: Calls made ahead (``prodgate_output``) for cases that then did not run.
    calls_wasted: int = 0
    interrupted: bool = False
    warmup_calls: int = 0
    #: Set in a shard's report: its gates have the verdict ``SHARD`` (SPEC §15).
    shard: ShardInfo | None = None
    #: ``--prodgate-cache``: the journal's directory, its mode, and whether latency
    #: gates keep (``replay``) or leave out (``exclude``) replayed calls.
    cache_dir: str | None = None
    cache_mode: str | None = None
    cache_latency: Literal["replay", "exclude"] = "replay"
    #: ``--prodgate-cache-errors``: recorded failures replayed as failures (a call
    #: with ``replayed`` and not ``ok``) instead of being made again.
    cache_errors: bool = False


class RunReport(_Model):
    """A whole ``--prodgate`` run. ``schema_version`` changes when the format does."""

    schema_version: Literal[1, 2] = SCHEMA_VERSION
    run: RunInfo
    verdict: Verdict | None
    fails_run: bool
    suites: list[SuiteReport] = Field(default_factory=list)
    #: Run-level remarks, e.g. locked suites this run did not gate.
    notes: list[str] = Field(default_factory=list)
    #: The dataset files the cases came from, relative to the rootdir (POSIX
    #: separators; absolute when outside it), each once: a case's ``dataset`` indexes it.
    datasets: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _resolve_datasets(self) -> RunReport:
        # A version-1 report kept each case's path inline; it reads as version 2.
        self.schema_version = SCHEMA_VERSION
        if self.datasets:
            n = len(self.datasets)
            for suite in self.suites:
                for case in suite.cases:
                    if case.dataset is not None and 0 <= case.dataset < n:
                        case.source = self.datasets[case.dataset]
        return self
