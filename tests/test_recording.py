"""The case recorder: what a test body records on its case."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from pytest_prodgate.measure.recording import CallRecord, CaseRecorder


def test_call_record_to_dict_has_every_field() -> None:
    call = CallRecord(0.5, False, "ValueError", "bad", True, 2, 0.1, None, 3, 4, "m", "load")
    assert call.to_dict() == asdict(call)


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
