"""The case recorder: what a test body records on its case."""

from __future__ import annotations

from dataclasses import asdict, fields

import pytest
from pydantic import TypeAdapter

from pytest_prodgate.measure.recording import CallRecord, CaseRecorder
from pytest_prodgate.schema.report import CallReport, TrialReport


def test_call_record_to_report_is_the_reports_call() -> None:
    """The in-process record (seconds) and the report's (ms) cannot drift apart."""
    call = CallRecord(0.5, False, "ValueError", "bad", True, 2, 0.1, None, 3, 4, "m", "load", "v2")
    data = call.to_report()
    assert list(data) == [f.name for f in fields(CallReport)]
    expected = asdict(call)
    expected = {k: expected[k] for k in [f.replace("_ms", "_s") for f in data]}
    expected["latency_ms"] = expected.pop("latency_s") * 1000.0
    expected["throttled_ms"] = expected.pop("throttled_s") * 1000.0
    assert data == expected
    calls = TypeAdapter(CallReport)
    assert calls.dump_python(calls.validate_python(data)) == data


def test_trial_report_is_the_reports_trial() -> None:
    rec = CaseRecorder()
    rec.add_call(CallRecord(0.25, True, model="m"))
    rec.load_runs.append({"concurrency": 2, "duration_s": 1.0, "calls": []})
    rec.drills.append({"name": "d", "recovered": True})
    rec.add_cost(0.5)
    data = rec.trial_report(
        nodeid="t.py::test[a]",
        trial=1,
        outcome="missed",
        score=0.0,
        reason="AssertionError",
        error=None,
        duration_s=0.125,
    )
    assert set(data) == {f.name for f in fields(TrialReport)}
    assert data["calls"] == [rec.calls[0].to_report()]
    assert data["added_cost_usd"] == 0.5
    trial = TypeAdapter(TrialReport).validate_python(data)
    assert trial.calls[0].latency_ms == 250.0
    assert [r.model_dump(exclude_unset=True) for r in trial.load_runs] == rec.load_runs
    assert [d.model_dump(exclude_unset=True) for d in trial.drills] == rec.drills


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_score_outside_unit_interval_is_refused(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match=r"score\(\) takes a number in \[0, 1\]"):
        CaseRecorder().set_score(bad)  # type: ignore[arg-type]


def test_tags_notes_and_cost() -> None:
    rec = CaseRecorder()
    rec.add_tags("a", "b", "a")
    rec.add_cost(0.25)
    rec.add_cost(0.5)
    rec.note("obj", object())
    rec.note("n", 3)
    assert rec.tags == ["a", "b"]
    assert rec.added_cost_usd == 0.75
    assert rec.notes["n"] == 3
    assert rec.notes["obj"].startswith("<object object")
    with pytest.raises(ValueError, match="cost >= 0"):
        rec.add_cost(-1)
