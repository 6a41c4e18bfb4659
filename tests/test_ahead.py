"""measure.ahead: calls made ahead of their cases, bounded, in order, stoppable."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_prodgate.measure import recording
from pytest_prodgate.measure.ahead import Ahead
from pytest_prodgate.measure.model import Model
from pytest_prodgate.measure.recording import SpendCapReached

from conftest import read_report


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    recording.deactivate()
    recording.spend().reset()
    yield
    recording.deactivate()
    recording.spend().reset()


class Gate:
    """A sync model whose calls block until released; it remembers who started when."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, x: str) -> str:
        with self.lock:
            self.started.append(x)
        assert self.release.wait(10)
        return x.upper()


def plan(n: int) -> list[tuple[str, tuple[Any, ...]]]:
    return [(f"k{i}", (f"q{i}",)) for i in range(n)]


def wait_for(predicate: Any) -> None:
    done = threading.Event()
    for _ in range(1000):
        if predicate():
            return
        done.wait(0.01)
    raise AssertionError("condition not reached")


def test_starts_at_most_concurrency_ahead_in_run_order() -> None:
    gate = Gate()
    ahead = Ahead(Model(gate), 3)
    ahead.extend(plan(10))
    wait_for(lambda: len(gate.started) == 3)
    assert sorted(gate.started) == ["q0", "q1", "q2"]  # the first three, nothing more
    assert ahead.started == 3
    gate.release.set()
    outputs = [ahead.take(f"k{i}").output for i in range(10)]
    assert outputs == [f"Q{i}" for i in range(10)]
    assert ahead.started == 10
    assert ahead.wasted == 0
    assert 1 <= ahead.max_in_flight <= 3
    ahead.close()


def test_each_call_is_recorded_on_its_own_job_marked_ahead() -> None:
    ahead = Ahead(Model(str.upper, name="up"), 4)
    ahead.extend(plan(5))
    jobs = [ahead.take(f"k{i}") for i in range(5)]
    for job in jobs:
        (call,) = job.recorder.calls
        assert call.ok
        assert call.ahead
        assert call.model == "up"
        assert call.in_flight is not None
    assert recording.spend().warmup_calls == 0  # nothing leaked to "no case"
    ahead.close()


def test_stop_starts_nothing_new_and_counts_the_wasted() -> None:
    gate = Gate()
    ahead = Ahead(Model(gate), 4)
    ahead.extend(plan(20))
    wait_for(lambda: len(gate.started) == 4)
    ahead.stop()
    gate.release.set()
    wait_for(lambda: ahead._running == 0)
    assert ahead.take("k0").output == "Q0"
    assert ahead.started == 4  # nothing started after stop(), however many finished
    assert ahead.wasted == 3
    ahead.close()


def test_a_case_not_planned_is_called_when_taken() -> None:
    ahead = Ahead(Model(str.upper), 2)
    job = ahead.take("elsewhere", ("x",))
    assert job.output == "X"
    assert job.recorder.calls[0].ok
    ahead.close()


def test_errors_are_kept_on_the_job_and_recorded() -> None:
    def fn(x: str) -> str:
        raise ConnectionError(f"down {x}")

    ahead = Ahead(Model(fn), 2)
    ahead.extend(plan(2))
    job = ahead.take("k1")
    assert isinstance(job.exc, ConnectionError)
    assert job.recorder.is_model_exception(job.exc)
    assert job.recorder.calls[0].error == "ConnectionError"
    ahead.close()


def test_the_spend_cap_stops_new_calls() -> None:
    recording.spend().reset(cap_usd=0.5)
    ahead = Ahead(Model(str.upper, cost=lambda _: 0.3), 1)
    ahead.extend(plan(5))
    assert ahead.take("k0").exc is None
    assert ahead.take("k1").exc is None  # started before the cap was reached
    job = ahead.take("k2")
    assert isinstance(job.exc, SpendCapReached)
    assert isinstance(ahead.take("k3").exc, SpendCapReached)
    assert ahead.started == 2
    ahead.close()


def test_async_models_run_on_a_loop_of_their_own() -> None:
    loops: list[Any] = []

    async def fn(x: str) -> str:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return x.upper()

    ahead = Ahead(Model(fn), 8)
    ahead.extend(plan(12))
    assert [ahead.take(f"k{i}").output for i in range(12)] == [f"Q{i}" for i in range(12)]
    assert len({id(loop) for loop in loops}) == 1
    assert ahead.take("k0").recorder.calls[0].ahead
    ahead.close()


def test_extend_keeps_the_first_plan_of_a_key() -> None:
    ahead = Ahead(Model(str.upper), 2)
    ahead.extend([("a", ("x",))])
    ahead.extend([("a", ("y",)), ("b", ("z",))])
    assert ahead.take("a").output == "X"
    assert ahead.take("b").output == "Z"
    assert ahead.planned("b")
    assert not ahead.planned("c")
    ahead.close()


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Ahead(Model(str.upper), 0)


def test_drop_starts_none_of_the_dropped_and_moves_the_window_on() -> None:
    gate = Gate()
    ahead = Ahead(Model(gate), 3)
    ahead.extend(plan(12))
    wait_for(lambda: len(gate.started) == 3)
    # k0..k2 are in flight; k3..k7 (a resolved suite) are dropped
    assert ahead.drop([f"k{i}" for i in range(1, 8)]) == 5  # k1, k2 had started
    assert not ahead.planned("k4")
    assert ahead.planned("k8")
    gate.release.set()
    assert ahead.take("k0").output == "Q0"
    assert [ahead.take(f"k{i}").output for i in range(8, 12)] == ["Q8", "Q9", "Q10", "Q11"]
    assert sorted(gate.started) == sorted(["q0", "q1", "q2", "q8", "q9", "q10", "q11"])
    assert ahead.wasted == 2  # k1, k2: called before the drop, never taken
    ahead.close()


def test_drop_right_after_a_take_keeps_the_window_full() -> None:
    gate = Gate()
    gate.release.set()
    ahead = Ahead(Model(gate), 2)
    ahead.extend(plan(10))
    assert ahead.take("k0").output == "Q0"
    wait_for(lambda: ahead._running == 0)
    assert ahead.drop(["k1", "k2", "k3", "k4", "k5"]) == 4  # k1 had started
    wait_for(lambda: "q6" in gate.started)  # the window (k0 taken, 2 ahead) moved to k6
    assert ahead.drop(["k9"]) == 1
    assert [ahead.take(f"k{i}").output for i in (6, 7, 8)] == ["Q6", "Q7", "Q8"]
    assert "q9" not in gate.started
    # a dropped case that is taken after all is called then
    assert ahead.take("k3", ("q3",)).output == "Q3"
    ahead.close()


WORKSTEAL_CONFTEST = """
import os
import pytest
from pytest_prodgate import Model

def counted(x):
    with open(os.environ["CALLS_FILE"], "a", encoding="utf-8") as fh:
        fh.write(f"{x} {os.environ.get('PYTEST_XDIST_WORKER', '-')}\\n")
    return x

@pytest.fixture(scope="session")
def prodgate_model():
    return Model(counted, name="counted", version="1")
"""

WORKSTEAL_TEST = """
import time
import pytest
from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate("ws", accuracy_floor=0.5)

@pytest.mark.parametrize("case", load_cases("cases.jsonl"))
def test_case(prodgate_output, case):
    if int(case.id) < 50:  # the first worker's half is slow: the second steals from it
        time.sleep(0.05)
    assert prodgate_output == case.expected
"""


def test_worksteal_never_calls_a_case_twice(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case whose call was made ahead on one worker is not stolen by the other.

    xdist's worksteal gives each worker half the cases, then has an idle worker
    steal the tail of a busy one's queue; with 32 calls ahead of 48 queued cases,
    that tail holds cases already called. The thief gets only the others.
    """
    import json

    rows = [json.dumps({"id": str(i), "input": f"q{i}", "expected": f"q{i}"}) for i in range(100)]
    project.path.joinpath("cases.jsonl").write_text("\n".join(rows) + "\n")
    project.makeconftest(WORKSTEAL_CONFTEST)
    project.makepyfile(test_ws=WORKSTEAL_TEST)
    calls_file = project.path / "calls.txt"
    calls_file.write_text("")
    monkeypatch.setenv("CALLS_FILE", str(calls_file))
    result = project.runpytest(
        "-n", "2", "--dist", "worksteal", "-p", "no:cacheprovider", "-p", "no:randomly",
        "--prodgate", "--prodgate-concurrency=32", "--prodgate-report=r.json",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=100)
    calls = [line.split() for line in calls_file.read_text().splitlines()]
    prompts = [p for p, _ in calls]
    assert sorted(prompts) == sorted(f"q{i}" for i in range(100))  # each case once
    by_worker = {p: w for p, w in calls}
    slow_half = {by_worker[f"q{i}"] for i in range(50)}
    assert len(slow_half) == 2  # the slow half was shared: cases were stolen
    report = read_report(project.path / "r.json")
    assert report["run"]["calls_wasted"] == 0
