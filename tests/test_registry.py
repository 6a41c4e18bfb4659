"""The gate registry: one entry per gate kind, read by evaluators, reporters and the lock."""

from __future__ import annotations

import json
import math

import pytest

from pytest_prodgate.gating.gates import GatePolicy, SuiteContext
from pytest_prodgate.gating.integrity import loosened_targets
from pytest_prodgate.gating.registry import (
    GATE_KINDS,
    LOCKED,
    REGRESSION,
    SEALED_DATASET,
    SEALED_SET,
    SLICE_FLOOR,
    evaluate_suite,
    fmt,
    interval_text,
    kind_of,
    lock_comparator,
    locked_keywords,
    target_text,
)
from pytest_prodgate.schema.report import (
    CallReport,
    CaseReport,
    GateReport,
    LoadRunReport,
    TrialReport,
)
from pytest_prodgate.schema.targets import RUN_KEYWORDS, Targets


def test_every_marker_keyword_has_one_entry_in_display_order() -> None:
    keywords = [k for k, _ in locked_keywords()]
    assert sorted(keywords) == sorted(set(Targets.model_fields) - RUN_KEYWORDS)
    assert len(set(keywords)) == len(keywords)
    assert [k.order for k in GATE_KINDS] == sorted(k.order for k in GATE_KINDS)
    assert len({k.name for k in GATE_KINDS}) == len(GATE_KINDS)


@pytest.mark.parametrize(
    ("gate", "kind"),
    [
        ("accuracy_floor", "accuracy_floor"),
        ("latency_p99_ms", "latency_p99_ms"),
        ("slice_floor[lang:de]", "slice_floor"),
        ("sealed_dataset[evals/a[1].jsonl]", "sealed_dataset"),
        ("locked:latency_p95_ms", "locked"),
        ("locked:slice_floor[x]", "locked"),
        ("regression", "regression"),
        ("my_hook_gate", "other"),
    ],
)
def test_kind_of_names_as_in_reports(gate: str, kind: str) -> None:
    assert kind_of(gate).name == kind


def test_only_rows_whose_inputs_are_not_in_the_report_are_carried() -> None:
    carried = {k.name for k in GATE_KINDS if k.carried}
    assert carried == {SEALED_DATASET.name, LOCKED.name, SEALED_SET.name}
    assert kind_of("my_hook_gate").carried


@pytest.mark.parametrize(
    ("gate", "x", "text"),
    [
        ("accuracy_floor", 0.95, "0.950"),
        ("slice_floor[t]", 0.5, "0.500"),
        ("error_rate_max", 0.005, "0.005"),
        ("latency_p95_ms", 612.4, "612"),
        ("latency_p95_ms", 12_345.6, "12,346"),
        ("latency_p50_ms", 0.00135, "0.00135"),
        ("cost_per_call_usd", 0.0017, "0.0017"),
        ("cost_per_call_usd", 0.0, "0"),
        ("throughput_rps", 393.24, "393.2"),
        ("recovery_s", 1.234, "1.23"),
        ("regression", -0.0, "+0.000"),
        ("regression", -0.1, "-0.100"),
        ("locked:latency_p95_ms", 900.0, "900"),
        ("locked:cost_per_call_usd", 0.002, "0.002"),
        ("locked:max_regression", 0.05, "0.050"),
        ("locked:trials", 3.0, "3.000"),
        ("locked:slice_floor[x]", 0.6, "0.600"),
        ("accuracy_floor", None, "-"),
        ("latency_p95_ms", math.inf, "∞"),
        ("regression", -math.inf, "-∞"),
    ],
)
def test_figures_format_in_their_gates_unit(gate: str, x: float | None, text: str) -> None:
    assert fmt(gate, x) == text


def _row(gate: str, comparator: str = ">=", target: float = 0.9, **kw: object) -> GateReport:
    return GateReport.model_validate(
        {"suite": "s", "gate": gate, "comparator": comparator, "target": target,
         "verdict": "PASS", "fails_run": False, **kw}
    )  # fmt: skip


def test_target_and_interval_cells() -> None:
    assert target_text(_row("accuracy_floor")) == ">= 0.900"
    assert target_text(_row("regression", target=-0.02)) == "Δ >= -0.020"
    assert target_text(_row("regression", target=-0.0)) == "Δ >= 0.000"
    assert target_text(_row("sealed_dataset[a.jsonl]", "<=", 0.0)) == "unchanged"
    assert target_text(_row("locked:latency_p95_ms", "<=", 900.0)) == "<= 900"
    assert interval_text(_row("accuracy_floor")) == "-"
    row = _row("accuracy_floor", estimate=0.95, lower=0.9, upper=None)
    assert interval_text(row) == "[0.900, ∞]"
    drill = _row("recovery_s", "<=", 60.0, estimate=3.0, method="observed-max")
    assert interval_text(drill) == "(worst drill)"


def test_lock_kinds() -> None:
    assert lock_comparator("accuracy_floor") == ">="
    assert lock_comparator("slice_floor[x]") == ">="
    assert lock_comparator("trials") == ">="
    assert lock_comparator("latency_p95_ms") == "<="
    assert lock_comparator("max_regression") == "<="
    assert REGRESSION.inconclusive_default == "warn"
    assert {k.inconclusive_default for k in GATE_KINDS if k is not REGRESSION} == {"fail"}


def test_loosening_reads_the_registry_in_table_order() -> None:
    locked = {
        "accuracy_floor": 0.9,
        "slice_floors": {"a": 0.8},
        "throughput_rps": 20,
        "max_regression": 0.01,
        "trials": 3,
    }
    current = {"throughput_rps": 10, "max_regression": 0.05, "trials": 2}
    assert [k for k, _, _ in loosened_targets(locked, current)] == [
        "accuracy_floor",
        "slice_floor[a]",
        "throughput_rps",
        "max_regression",
        "trials",
    ]


def _cases(n: int, hits: int) -> list[CaseReport]:
    return [
        CaseReport(
            id=f"c{i}",
            suite="s",
            trials=[
                TrialReport(
                    nodeid=f"t[c{i}]",
                    outcome="passed" if i < hits else "missed",
                    score=1.0 if i < hits else 0.0,
                    calls=[CallReport(latency_ms=10.0 + i, ok=True)],
                )
            ],
        )
        for i in range(n)
    ]


def test_evaluate_suite_runs_every_declared_gate_in_display_order() -> None:
    targets = {
        "recovery_s": 10.0,
        "slice_floors": {"b": 0.1, "a": 0.1},
        "error_rate_max": 0.5,
        "latency_p50_ms": 1000.0,
        "accuracy_floor": 0.5,
    }
    ctx = SuiteContext("s", targets, _cases(40, 30), GatePolicy(resamples=999))
    gates = evaluate_suite(ctx)
    assert [g.gate for g in gates] == [
        "accuracy_floor",
        "latency_p50_ms",
        "error_rate_max",
        "slice_floor[a]",
        "slice_floor[b]",
        "recovery_s",
    ]
    assert {g.fails_run for g in gates} == {False}  # decided by gating.run, not here
    assert gates[-1].verdict == "NO_DATA"
    assert SLICE_FLOOR.evaluate is not None


def test_an_inconclusive_gate_says_how_many_cases_would_resolve_it() -> None:
    ctx = SuiteContext("s", {"accuracy_floor": 0.9}, _cases(40, 37), GatePolicy())
    (gate,) = evaluate_suite(ctx)
    assert gate.verdict == "INCONCLUSIVE"
    assert gate.to_resolve is not None
    assert gate.to_resolve > 40
    assert gate.to_resolve_unit == "case"
    assert gate.hint.startswith(
        f"About {gate.to_resolve:,} cases would likely show >= 0.900, a PASS"
    )
    # A latency gate with too few calls for a finite bound names the calls it needs.
    ctx = SuiteContext("s", {"latency_p99_ms": 1000.0}, _cases(40, 40), GatePolicy())
    (gate,) = evaluate_suite(ctx)
    assert (gate.verdict, gate.to_resolve, gate.to_resolve_unit) == ("INCONCLUSIVE", 368, "call")
    assert "needs at least 368 calls" in gate.hint
    ctx = SuiteContext("s", {"accuracy_floor": 0.5}, _cases(40, 40), GatePolicy())
    (gate,) = evaluate_suite(ctx)
    assert (gate.verdict, gate.to_resolve, gate.to_resolve_unit) == ("PASS", None, "")


def test_old_reports_without_to_resolve_load() -> None:
    row = _row("accuracy_floor")
    data = row.model_dump()
    del data["to_resolve"], data["to_resolve_unit"]
    assert GateReport.model_validate(data) == row


def test_load_runs_stay_compact_lists_in_json() -> None:
    calls = [[0.0, 0.5, True, None], [0.1, 0.2, False, "E"]]
    run = LoadRunReport.model_validate({"concurrency": 2, "duration_s": 1.0, "calls": calls})
    assert json.loads(run.model_dump_json())["calls"] == calls
    assert run.ok_latencies_ms() == [500.0]
    assert run.errors() == 1


@pytest.mark.parametrize(
    ("gate", "value", "shown"),
    [
        ("latency_p95_ms", 11.0, "11.0"),
        ("latency_p95_ms", 9.87, "9.87"),
        ("latency_p95_ms", 9.999, "10.0"),
        ("latency_p95_ms", 0.05, "0.0500"),
        ("latency_p95_ms", 1234.4, "1,234"),
        ("recovery_s", 0.0863, "0.0863"),
        ("recovery_s", 2.0, "2.00"),
        ("throughput_rps", 1007.44, "1,007.4"),
    ],
)
def test_timings_keep_three_significant_digits_with_their_zeros(
    gate: str, value: float, shown: str
) -> None:
    assert fmt(gate, value) == shown
