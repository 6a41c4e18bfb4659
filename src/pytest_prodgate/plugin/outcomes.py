"""Running a case: classify its outcome and carry its measurements on the test report."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import pytest

from pytest_prodgate.measure import recording
from pytest_prodgate.plugin.ahead import after_teardown
from pytest_prodgate.plugin.items import active_spec
from pytest_prodgate.plugin.state import (
    CONFLICTS_KEY,
    SPEC_KEY,
    ItemSpec,
    TrialState,
    enabled,
    is_worker,
    trial_of,
)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    spec = active_spec(item)
    if spec is None:
        return
    previous = spec.state
    state = spec.state = TrialState(recording.CaseRecorder(), spec)
    if previous is not None:
        _carry_discarded(previous, state)
    if spec.error is not None:
        pytest.fail(f"{item.nodeid}: prodgate marker: {spec.error}", pytrace=False)
    conflict = spec.conflict
    if conflict is None:
        conflicts = item.config.stash.get(CONFLICTS_KEY, None)
        if conflicts:
            conflict = conflicts.get(item.nodeid)
    if conflict is not None:
        pytest.fail(f"{item.nodeid}: prodgate marker: {conflict}", pytrace=False)
    if spec.case is not None:
        state.recorder.add_tags(*spec.case.tags)


def _carry_discarded(previous: TrialState, state: TrialState) -> None:
    """A rerun (pytest-rerunfailures, flaky) discards an attempt, not the money it spent.

    The discarded attempts' calls and added cost stay on the case: they count in its
    cost, latency and spend like the kept attempt's; a note says how many there were.
    """
    old, new = previous.recorder, state.recorder
    with old.lock:
        calls, cost = list(old.calls), old.added_cost_usd
    attempts = int(old.notes.get("discarded_attempts", 0)) + 1
    with new.lock:
        new.calls.extend(calls)
        new.added_cost_usd += cost
    new.notes["discarded_attempts"] = attempts


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    state = trial_of(item)
    if state is None:
        return (yield)
    if state.pending is not None:  # prodgate_output's call failed: that is this case's call
        pending, state.pending = state.pending, None
        raise pending
    recording.activate(state.recorder)
    try:
        return (yield)
    finally:
        recording.deactivate()


def _short(excinfo: pytest.ExceptionInfo[BaseException], limit: int = 300) -> str:
    """``Type: first line of the message``, secrets redacted; a placeholder when ``str`` raises."""
    from pytest_prodgate.schema.redact import redact

    try:
        text = redact(str(excinfo.value)).strip()
    except Exception:
        text = "<unprintable exception>"
    first = text.splitlines()[0] if text else ""
    msg = f"{excinfo.typename}: {first}" if first else excinfo.typename
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def _classify_call(
    item: pytest.Item, rep: pytest.TestReport, call: pytest.CallInfo[None], state: TrialState
) -> None:
    excinfo = call.excinfo
    rec = state.recorder
    if excinfo is None:
        if rep.outcome == "passed":  # the report's properties, without their calls
            state.outcome = "passed"
            state.score = rec.score if rec.score is not None else 1.0
        return
    if excinfo.errisinstance(pytest.skip.Exception) or rep.outcome == "skipped":
        state.outcome, state.reason = "skipped", _short(excinfo)
        return
    if excinfo.errisinstance(recording.SpendCapReached):
        state.outcome, state.reason = "not_run", str(excinfo.value)
        rep.outcome = "skipped"
        path, lineno, _ = item.location
        rep.longrepr = (str(path), (lineno or 0) + 1, f"prodgate: {excinfo.value}")
        return
    if rec.is_model_exception(excinfo.value):
        state.outcome, state.score = "model_error", 0.0
        state.error = excinfo.typename
        state.reason = f"model error: {_short(excinfo)}"
    elif excinfo.errisinstance(AssertionError):
        state.outcome, state.score = "missed", 0.0
        state.reason = _short(excinfo)
    else:
        state.outcome, state.reason = "error", _short(excinfo)
        return
    # A miss is the measurement, not a failure of the run: only the gates decide.
    rep.outcome = "passed"
    rep.longrepr = None
    rep.prodgate_missed = state.reason  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    rep = yield
    when = call.when
    if when == "teardown":
        after_teardown(item)
    # Set at setup, and only for an eval case of a --prodgate run (see pytest_runtest_setup).
    state = trial_of(item)
    if state is None:
        return rep
    spec = state.spec
    assert spec is not None
    if when == "setup":
        rep.prodgate_announce = {  # type: ignore[attr-defined]
            "suite": spec.suite,
            "case_id": spec.case_id,
            "function": spec.function,
        }
        outcome = rep.outcome
        if outcome == "failed":
            state.outcome = "error"
            state.reason = f"setup: {_short(call.excinfo)}" if call.excinfo else "setup failed"
        elif outcome == "skipped":
            state.outcome = "skipped"
            state.reason = _short(call.excinfo) if call.excinfo else "skipped"
    elif when == "call":
        _classify_call(item, rep, call, state)
        _collect_benchmark(item, state.recorder)
    else:
        if rep.outcome == "failed" and state.outcome in ("passed", "missed", "model_error"):
            state.outcome = "error"
            state.reason = f"teardown: {_short(call.excinfo)}" if call.excinfo else "teardown"
            state.score = None
        rep.prodgate_case = _case_payload(item, spec, state)  # type: ignore[attr-defined]
        if state.outcome != "error":
            # Only a failed case is rerun (pytest-rerunfailures, flaky), carrying its
            # calls: free the others' recordings and specs, every item lives to the
            # session's end (item_spec makes the spec again if the item runs again).
            spec.state = None
            del item.stash[SPEC_KEY]
    return rep


def _collect_benchmark(item: pytest.Item, rec: recording.CaseRecorder) -> None:
    """pytest-benchmark's raw per-round timings become this case's latency samples (SPEC §9)."""
    bench = getattr(item, "funcargs", {}).get("benchmark")
    if bench is None:
        return
    data = getattr(getattr(getattr(bench, "stats", None), "stats", None), "data", None)
    if data:
        for seconds in data:
            rec.add_call(
                recording.CallRecord(
                    float(seconds), True, model="pytest-benchmark", kind="benchmark"
                )
            )
        rec.note("latency_source", f"pytest-benchmark raw timings ({len(data)} rounds)")
    elif getattr(bench, "disabled", False):
        rec.note(
            "latency_source",
            "pytest-benchmark is disabled here (xdist or --benchmark-disable): "
            "latency from prodgate's own timing of model calls",
        )


def _case_payload(item: pytest.Item, spec: ItemSpec, state: TrialState) -> dict[str, Any]:
    """Everything the controller needs about one trial, as builtins only (xdist-safe)."""
    rec = state.recorder
    return {
        "suite": spec.suite,
        "case_id": spec.case_id,
        "function": spec.function,
        "source": getattr(spec.case, "source", None) or None,
        "targets": dict(spec.declared),
        "tags": list(rec.tags),
        "notes": dict(rec.notes),
        "trial": rec.trial_report(
            nodeid=spec.nodeid,
            trial=spec.trial,
            outcome=state.outcome,
            score=state.score,
            reason=state.reason,
            error=state.error,
            duration_s=round(time.perf_counter() - state.started, 6),
        ),
    }


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    if report.when == "call" and getattr(report, "prodgate_missed", None):
        return "missed", "m", ("MISSED", {"yellow": True})
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if is_worker(config) and enabled(config):
        out = config.workeroutput  # type: ignore[attr-defined]
        out["prodgate_warmup_calls"] = recording.spend().warmup_calls
        # The controller collects nothing: it checks sealed datasets against how
        # the workers read them (a sealed file read with other field names is tampered).
        from pytest_prodgate.data.dataset import loaded_datasets

        out["prodgate_dataset_fields"] = {
            path: dict(info.fields) for path, info in loaded_datasets().items()
        }


def pytest_unconfigure(config: pytest.Config) -> None:
    recording.deactivate()
