"""The report at scale: compact layout (schema version 2), dataset paths, file modes, pass^N."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from pytest_prodgate.gating.aggregate import Aggregator
from pytest_prodgate.gating.gates import GatePolicy
from pytest_prodgate.gating.run import decide, regate
from pytest_prodgate.schema.files import dump_report, load_report, write_atomic
from pytest_prodgate.schema.report import CaseReport, TrialReport
from test_run import _decide, _info


def _payload(i: int, source: str, score: float = 1.0, trial: int = 0) -> dict[str, object]:
    nodeid = f"t.py::test_c[trial{trial}-c{i}]"
    return {
        "suite": "s",
        "case_id": f"c{i}",
        "function": "t.py::test_c",
        "source": source,
        "targets": {"accuracy_floor": 0.5},
        "tags": [],
        "notes": {},
        "trial": {
            "nodeid": nodeid,
            "trial": trial,
            "outcome": "passed" if score else "missed",
            "score": score,
            "calls": [{"latency_ms": 1.5, "ok": True, "cost_usd": 2e-6}],
        },
    }


def _report(tmp_path: Path, n: int = 30) -> tuple[str, object]:
    agg = Aggregator()
    source = str(tmp_path / "evals" / "cases.jsonl")
    for i in range(n):
        agg.add(_payload(i, source, score=float(i % 5 != 0)))
    report = decide(agg.suites(), run=_info(), policy=GatePolicy(resamples=999))
    return dump_report(report, tmp_path), report


def test_dataset_paths_are_relative_to_the_rootdir_and_stored_once(tmp_path: Path) -> None:
    text, _ = _report(tmp_path)
    data = json.loads(text)
    assert data["schema_version"] == 2
    assert data["datasets"] == ["evals/cases.jsonl"]
    case = data["suites"][0]["cases"][0]
    assert case["dataset"] == 0
    # No per-case repetition: the suite's name, the path, scores and latencies are
    # not copied onto each case, and defaults are left out.
    assert not {"suite", "source", "scores", "latencies_ms", "flaky", "error"} & set(case)
    assert str(tmp_path) not in text
    assert "\n" not in text  # compact


def test_a_compact_report_reads_back_whole_and_regates_identically(tmp_path: Path) -> None:
    text, report = _report(tmp_path)
    path = tmp_path / "r.json"
    path.write_text(text, encoding="utf-8")
    back = load_report(path)
    case = back.suites[0].cases[1]
    assert (case.suite, case.source, case.scores, case.latencies_ms) == (
        "s",
        "evals/cases.jsonl",
        (1.0,),
        (1.5,),
    )
    assert case.cost_usd == 2e-6
    gate = back.suites[0].gates[0]
    again = regate(back).suites[0].gates[0]
    assert (again.estimate, again.lower, again.upper, again.verdict) == (
        gate.estimate,
        gate.lower,
        gate.upper,
        gate.verdict,
    )
    assert again.estimate == report.suites[0].gates[0].estimate  # type: ignore[attr-defined]


def test_a_version_1_report_still_reads(tmp_path: Path) -> None:
    text, _ = _report(tmp_path, n=3)
    data = json.loads(text)
    data["schema_version"] = 1
    data.pop("datasets")
    for case in data["suites"][0]["cases"]:
        case.pop("dataset")
        case.update(suite="s", source="/abs/evals/cases.jsonl", scores=[1.0], latencies_ms=[1.5])
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    back = load_report(path)
    assert back.schema_version == 2
    assert back.suites[0].cases[0].source == "/abs/evals/cases.jsonl"


def test_an_unbounded_interval_side_is_still_written_as_null(tmp_path: Path) -> None:
    report = _decide({"latency_p99_ms": 10.0}, [_case(i, 1.0) for i in range(5)])
    gate = json.loads(dump_report(report))["suites"][0]["gates"][0]
    assert "upper" in gate
    assert gate["upper"] is None


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_reports_and_locks_are_created_with_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        write_atomic(tmp_path / "r.json", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o666 & ~mask


def _case(i: int, *scores: float) -> CaseReport:
    trials = [
        TrialReport(nodeid=f"t[{k}-c{i}]", trial=k, outcome="passed", score=s, calls=[])
        for k, s in enumerate(scores)
    ]
    for t in trials:
        if t.score == 0.0:
            t.outcome = "missed"
    for t in trials:
        t.calls = []
    return CaseReport(id=f"c{i}", suite="s", trials=trials)


def test_pass_all_and_flaky_apply_to_0_1_scores() -> None:
    cases = [_case(0, 1.0, 0.0, 1.0), _case(1, 1.0, 1.0, 1.0), _case(2, 0.0, 0.0, 0.0)]
    suite = _decide({"accuracy_floor": 0.1}, cases).suites[0]
    assert suite.flaky_cases == ["c0"]
    assert suite.pass_all_rate == pytest.approx(1 / 3)


def test_graded_scores_have_no_pass_all_rate_and_no_flaky_cases() -> None:
    # The reported bug: graded trials (0.7, 0.8, 0.9) made every case "flaky" and pass^3 0.
    cases = [_case(i, 0.7, 0.8, 0.9) for i in range(10)]
    suite = _decide({"accuracy_floor": 0.1}, cases).suites[0]
    assert suite.flaky_cases == []
    assert suite.pass_all_rate is None
    assert not any(c.flaky for c in suite.cases)


def test_a_payload_that_cannot_be_read_counts_as_an_error_naming_the_field(
    tmp_path: Path,
) -> None:
    agg = Aggregator()
    good = _payload(1, str(tmp_path / "c.jsonl"))
    bad = _payload(2, str(tmp_path / "c.jsonl"))
    bad["trial"]["calls"] = [{"latency_ms": "soon", "ok": True}]  # type: ignore[index]
    agg.add(good)
    agg.add(bad)
    (suite,) = agg.suites()
    by_id = {c.id: c for c in suite.cases}
    assert by_id["c1"].trials[0].outcome == "passed"
    trial = by_id["c2"].trials[0]
    assert trial.outcome == "error"
    assert trial.reason is not None
    assert "calls.0.latency_ms" in trial.reason
    report = decide([suite], run=_info(), policy=GatePolicy(resamples=999))
    assert report.verdict != "PASS"


def test_case_ids_sort_naturally_whatever_their_digits() -> None:
    from pytest_prodgate.gating.aggregate import natural_key

    ids = ["q10", "q2", "²", "q٣", "q1"]
    assert sorted(ids, key=natural_key) == ["q1", "q2", "q٣", "q10", "²"]


def test_ids_equal_as_numbers_still_sort_one_way() -> None:
    """``c01`` and ``c1`` tie on their numbers; their text breaks the tie, so the order
    never depends on which xdist worker reported first."""
    from pytest_prodgate.gating.aggregate import natural_key

    for ids in (["c1", "c01", "c001a", "c1a"], ["c1a", "c001a", "c01", "c1"]):
        assert sorted(ids, key=natural_key) == ["c01", "c1", "c001a", "c1a"]


def test_one_trial_suites_and_pooled_suites_order_cases_alike() -> None:
    """A suite of one-trial cases takes a shortcut in :meth:`Aggregator.suites`; its cases
    come out in the order the general path gives them, whatever order they arrived in,
    and a re-reported item still replaces its first report."""
    import random

    ids = [7, 70, 1, 10, 2, 0, 33, 3]
    orders = [ids, ids[::-1], random.Random(5).sample(ids, len(ids))]
    seen = []
    for order in orders:
        agg = Aggregator()
        for i in order:
            agg.add(_payload(i, "d.jsonl", score=1.0))
        agg.add(_payload(3, "d.jsonl", score=0.0))  # item reported again: replaces
        (one,) = agg.suites()
        seen.append([(c.id, c.trials[0].score) for c in one.cases])
        # The same cases with a second trial each go through the general path.
        for i in order:
            agg.add(_payload(i, "d.jsonl", score=1.0, trial=1))
        (pooled,) = agg.suites()
        assert [c.id for c in pooled.cases] == [cid for cid, _ in seen[-1]]
        assert all(len(c.trials) == 2 for c in pooled.cases)
    expected = [(f"c{i}", 0.0 if i == 3 else 1.0) for i in sorted(ids)]
    assert seen == [expected] * len(orders)


def test_the_public_report_module_has_the_schema_and_its_files() -> None:
    import pytest_prodgate.report as public
    from pytest_prodgate.schema import files, report

    assert public.RunReport is report.RunReport
    assert public.CaseReport is report.CaseReport
    assert public.load_report is files.load_report
    assert public.write_report is files.write_report
    assert set(public.__all__) == set(report.__all__) | set(files.__all__)


def test_ids_shared_by_two_tests_with_trials_are_qualified_and_pooled() -> None:
    """Two test functions of one named suite reuse ``c1``, each with two trials: two
    qualified cases of two trials each; an id only one test uses stays as given."""

    def payload(function: str, case_id: str, trial: int) -> dict[str, object]:
        data = _payload(0, "d.jsonl", trial=trial)
        trial_data = dict(data["trial"])  # type: ignore[call-overload]
        trial_data["nodeid"] = f"{function}[trial{trial}-{case_id}]"
        return {**data, "function": function, "case_id": case_id, "trial": trial_data}

    agg = Aggregator()
    for trial in (1, 0):
        for function in ("t.py::test_b", "t.py::test_a"):
            agg.add(payload(function, "c1", trial))
    agg.add(payload("t.py::test_a", "c2", 0))
    agg.add(payload("t.py::test_a", "c2", 0))  # reported again: replaces, not a trial
    (suite,) = agg.suites()
    assert [(c.id, [t.trial for t in c.trials]) for c in suite.cases] == [
        ("c2", [0]),
        ("t.py::test_a[c1]", [0, 1]),
        ("t.py::test_b[c1]", [0, 1]),
    ]


def test_the_report_streamed_in_blocks_is_the_report_serialized_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cases go out a block at a time (schema.files._CASE_BLOCK): blocks that end
    # inside a suite, a suite of one block, and a suite of none read as the whole.
    import pytest_prodgate.schema.files as files

    monkeypatch.setattr(files, "_CASE_BLOCK", 4)
    agg = Aggregator()
    source = str(tmp_path / "evals" / "cases.jsonl")
    for i in range(10):
        agg.add(_payload(i, source, score=float(i % 3 != 0)))
    for i in range(3):
        other = _payload(i, source)
        other["trial"]["nodeid"] += "-t"  # type: ignore[index]
        agg.add({**other, "suite": "t"})
    report = decide(agg.suites(), run=_info(), policy=GatePolicy(resamples=999))
    report.suites.append(report.suites[1].model_copy(update={"name": "u", "cases": []}))
    text = dump_report(report, tmp_path)
    whole = report.__pydantic_serializer__.to_json(report, exclude_defaults=True)
    assert json.loads(text) == {"schema_version": 2, **json.loads(whole)}
    assert [len(s.get("cases", [])) for s in json.loads(text)["suites"]] == [10, 3, 0]
    empty = report.model_copy(update={"suites": []})
    assert json.loads(dump_report(empty)) == {
        "schema_version": 2,
        **json.loads(empty.__pydantic_serializer__.to_json(empty, exclude_defaults=True)),
    }


def test_cases_without_notes_share_one_empty_dict_that_nothing_writes_to(tmp_path: Path) -> None:
    import pytest_prodgate.gating.aggregate as aggregate
    from pytest_prodgate.schema.files import redact_report

    agg = Aggregator()
    source = str(tmp_path / "cases.jsonl")
    for i in range(6):
        payload = _payload(i, source, score=float(i % 2))
        if i == 3:
            payload["notes"] = {"why": "a sk-proj-0123456789abcdef key"}
        agg.add(payload)
    agg.add(_payload(1, source, trial=1))  # two trials of c1: their notes are merged
    report = redact_report(decide(agg.suites(), run=_info(), policy=GatePolicy(resamples=999)))
    dump_report(report, tmp_path)
    cases = {c.id: c for c in report.suites[0].cases}
    assert cases["c0"].notes is cases["c5"].notes is aggregate._NO_NOTES
    assert cases["c3"].notes == {"why": "a [REDACTED] key"}
    assert aggregate._NO_NOTES == {}
