"""Unit tests of pytest_prodgate.measure.drill: recovery drills and the recovery estimate.

Every drill here runs on a fake clock (:class:`FakeClock` replaces the module's
``time`` and ``asyncio.sleep``): a drill's times are checked exactly against
the clock's recorded events (when the fault happened, when the predicate
turned true, every sleep), never against the wall clock of a shared machine.
"""

from __future__ import annotations

import asyncio
import json
import math
import types
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_prodgate.gating.service import recovery_estimate
from pytest_prodgate.measure import drill as drill_module
from pytest_prodgate.measure import recording
from pytest_prodgate.measure.drill import Drill, DrillError

#: How much a sleep overshoots on the fake clock: a real sleep never returns early nor
#: in no time (and the drill's schedule relies on the clock moving on); the tolerance.
OVERSHOOT = 1e-6
EPS = 1e-4


class FakeClock:
    """``perf_counter``/``time``/``sleep`` of a clock that moves only when slept on."""

    WALL = 1_800_000_000.0

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def perf_counter(self) -> float:
        return self.now

    def time(self) -> float:
        return self.WALL + self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds + OVERSHOOT

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)  # the real loop: other tasks get their turn

    def at(self, t: float) -> Any:
        """A predicate that turns true at clock time ``t``."""
        return lambda: self.now >= t


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(drill_module, "time", fake)
    monkeypatch.setattr(drill_module, "asyncio", types.SimpleNamespace(sleep=fake.asleep))
    return fake


@pytest.fixture
def case() -> Iterator[recording.CaseRecorder]:
    """An active eval case, deactivated afterwards."""
    rec = recording.CaseRecorder()
    recording.activate(rec)
    try:
        yield rec
    finally:
        recording.deactivate()


# --------------------------------------------------------------------------- timing


@pytest.mark.parametrize("interval", [0.01, 0.1])
def test_recovery_time_is_accurate_to_the_poll_interval(clock: FakeClock, interval: float) -> None:
    with Drill("accuracy", poll_interval_s=interval, record=False) as d:
        clock.sleep(0.05)
        d.fault()
        healthy_at = clock.now + 0.3
        got = d.wait_until(clock.at(healthy_at), timeout=5)
    # Recovered at the first check at or after healthy_at, measured from the fault.
    assert got == pytest.approx(clock.now - (healthy_at - 0.3))
    assert 0.3 - EPS <= got <= 0.3 + interval + EPS
    assert d.result is not None
    assert d.result["recovered"] is True
    assert d.result["recovered_s"] == got
    assert d.result["poll_interval_s"] == interval
    assert d.result["timeout_s"] == 5
    checks = d.result["steps"][0]["checks"]
    assert checks == len(clock.sleeps[1:]) + 1  # one check at once, one after each sleep
    assert all(s <= interval + EPS for s in clock.sleeps[1:])  # on schedule, not busily
    assert 0.3 / interval <= checks <= 0.3 / interval + 2


def test_the_fault_defaults_to_the_start_of_the_drill(clock: FakeClock) -> None:
    with Drill("implicit", poll_interval_s=0.01, record=False) as d:
        start, wall = clock.now, clock.time()
        clock.sleep(0.1)
        got = d.wait_until(clock.at(start + 0.2), timeout=5)
    assert 0.2 - EPS <= got <= 0.2 + 0.01 + EPS
    assert got == pytest.approx(clock.now - start)
    assert d.result is not None
    assert d.result["fault_at"] == wall  # wall clock of the fault


def test_detection_and_recovery(clock: FakeClock) -> None:
    with Drill("bad-deploy", poll_interval_s=0.01, record=False) as d:
        d.fault()
        t0 = clock.now
        detected = d.wait_until(clock.at(t0 + 0.1), timeout=5, step="detected")
        detected_at = clock.now
        recovered = d.wait_until(clock.at(t0 + 0.25), timeout=5)
        assert d.detected_s == detected
        assert d.recovered_s == recovered
        assert d.recovered
    assert detected == pytest.approx(detected_at - t0)
    assert recovered == pytest.approx(clock.now - t0)
    assert 0.1 - EPS <= detected <= 0.1 + 0.01 + EPS
    assert 0.25 - EPS <= recovered <= 0.25 + 0.01 + EPS
    r = d.result
    assert r is not None
    assert r["name"] == "bad-deploy"
    assert r["detected_s"] == detected
    assert r["recovered_s"] == recovered
    assert r["recovered"] is True
    assert r["error"] is None
    assert [s["step"] for s in r["steps"]] == ["detected", "recovered"]
    assert all(s["ok"] for s in r["steps"])
    assert r["steps"][1]["wait_s"] == pytest.approx(recovered - detected)
    assert json.loads(json.dumps(r)) == r  # builtins only


def test_other_step_names_are_kept() -> None:
    with Drill("custom", poll_interval_s=0.01, record=False) as d:
        d.wait_until(lambda: True, timeout=1, step="rolled-back")
        d.wait_until(lambda: True, timeout=1)
    assert d.result is not None
    assert [s["step"] for s in d.result["steps"]] == ["rolled-back", "recovered"]
    assert d.result["detected_s"] is None


def test_a_system_that_never_recovers_is_a_failed_drill_timed_at_its_deadline(
    clock: FakeClock,
) -> None:
    with Drill("stuck", poll_interval_s=0.02, record=False) as d:
        d.fault()
        clock.sleep(0.1)
        t0 = clock.now
        got = d.wait_until(lambda: False, timeout=0.2)
        waited = clock.now - t0
        assert not d.recovered
    assert waited == pytest.approx(0.2, abs=EPS)  # no exception, and it waited the timeout
    assert got == pytest.approx(0.3, abs=EPS)  # fault -> deadline
    r = d.result
    assert r is not None
    assert r["recovered"] is False
    assert r["error"] is None
    assert r["recovered_s"] == got
    assert r["timeout_s"] == 0.2
    assert r["steps"][0]["ok"] is False
    assert r["steps"][0]["wait_s"] == pytest.approx(0.2)  # exactly the timeout
    assert r["steps"][0]["checks"] == 11  # at 0, every 20 ms, and at the deadline
    assert recovery_estimate([r]) == (got, 1, True)


def test_a_failed_detection_does_not_stop_the_drill() -> None:
    with Drill("quiet", poll_interval_s=0.01, record=False) as d:
        d.wait_until(lambda: False, timeout=0.05, step="detected")
        d.wait_until(lambda: True, timeout=1)
    assert d.result is not None
    assert d.result["detected_s"] is None
    assert d.result["recovered"] is True


def test_a_raising_predicate_counts_as_not_yet() -> None:
    calls = 0

    def healthy() -> bool:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionError(f"refused #{calls}")
        return True

    with Drill("flaky", poll_interval_s=0.01, record=False) as d:
        d.wait_until(healthy, timeout=2)
    assert d.result is not None
    step = d.result["steps"][0]
    assert step["ok"] is True
    assert step["checks"] == 4
    assert step["last_error"] == "ConnectionError: refused #3"

    def broken() -> bool:
        raise OSError("down")

    with Drill("down", poll_interval_s=0.01, record=False) as d2:
        d2.wait_until(broken, timeout=0.05)
    assert d2.result is not None
    assert d2.result["recovered"] is False
    assert d2.result["steps"][0]["last_error"] == "OSError: down"


def test_a_predicate_whose_truth_raises_counts_as_not_yet() -> None:
    class Ambiguous:
        def __bool__(self) -> bool:
            raise ValueError("ambiguous")

    with Drill("ambiguous", poll_interval_s=0.01, record=False) as d:
        d.wait_until(Ambiguous, timeout=0.03)
    assert d.result is not None
    assert d.result["recovered"] is False
    assert d.result["steps"][0]["last_error"] == "ValueError: ambiguous"


def test_a_slow_predicate_keeps_the_schedule(clock: FakeClock) -> None:
    def slow() -> bool:
        clock.sleep(0.025)
        return False

    with Drill("slow", poll_interval_s=0.01, record=False) as d:
        d.wait_until(slow, timeout=0.2)
    assert d.result is not None
    # checks at 0, 30, 60, ... 180 ms (each overruns two ticks), not every 10 ms
    assert d.result["steps"][0]["checks"] == 7


# --------------------------------------------------------------------------- ending a drill


def test_a_drill_without_a_recovery_step_is_an_error(case: recording.CaseRecorder) -> None:
    with (
        pytest.raises(DrillError, match=r"drill 'x' has no recovery step: call wait_until"),
        Drill("x", poll_interval_s=0.01) as d,
    ):
        d.wait_until(lambda: True, timeout=1, step="detected")
    assert d.result is not None
    assert d.result["recovered"] is False
    assert d.result["error"].startswith("DrillError: drill 'x' has no recovery step")
    assert case.drills == [d.result]


def test_an_exception_inside_is_recorded_and_propagates(case: recording.CaseRecorder) -> None:
    with pytest.raises(ValueError, match="boom"), Drill("crash") as d:
        raise ValueError("boom")
    assert d.result is not None
    assert d.result["error"] == "ValueError: boom"
    assert d.result["recovered"] is False
    assert d.result["recovered_s"] is None
    assert case.drills == [d.result]
    assert recovery_estimate(case.drills) == (math.inf, 1, True)


def test_an_exception_after_recovery_fails_the_drill_but_keeps_the_time() -> None:
    d = Drill("late", record=False)
    got: list[float] = []

    def drill() -> None:
        with d:
            got.append(d.wait_until(lambda: True, timeout=1))
            raise AssertionError("post-check failed")

    with pytest.raises(AssertionError, match="post-check failed"):
        drill()
    assert d.result is not None
    assert d.result["recovered"] is False
    assert d.result["recovered_s"] == got[0]
    assert d.result["error"] == "AssertionError: post-check failed"


def test_several_drills_per_case_are_recorded(
    clock: FakeClock, case: recording.CaseRecorder
) -> None:
    for i in range(3):
        with Drill(f"rep-{i}", poll_interval_s=0.01) as d:
            d.wait_until(clock.at(clock.now + 0.02 * i), timeout=1)
    with Drill("unrecorded", record=False) as d:
        d.wait_until(lambda: True, timeout=1)
    assert [x["name"] for x in case.drills] == ["rep-0", "rep-1", "rep-2"]
    worst, n, failed = recovery_estimate(case.drills)
    assert n == 3
    assert not failed
    assert worst == max(x["recovered_s"] for x in case.drills)
    assert 0.04 - EPS <= worst <= 0.04 + 0.01 + EPS


# --------------------------------------------------------------------------- misuse


def test_misuse_is_named() -> None:
    d = Drill("m", record=False)
    with pytest.raises(DrillError, match=r"drill 'm': wait_until\(\) outside the drill"):
        d.wait_until(lambda: True, timeout=1)
    with pytest.raises(DrillError, match=r"fault\(\) outside the drill"):
        d.fault()
    with d:
        d.fault()
        with pytest.raises(DrillError, match=r"fault\(\) was already called"):
            d.fault()
        d.wait_until(lambda: True, timeout=1)
        with pytest.raises(DrillError, match=r"already has a 'recovered' step"):
            d.wait_until(lambda: True, timeout=1)
    with pytest.raises(DrillError, match=r"after the drill ended"):
        d.wait_until(lambda: True, timeout=1, step="late")
    with pytest.raises(DrillError, match=r"has already run: create a new Drill"), d:
        pass

    with Drill("order", record=False) as d2:
        d2.wait_until(lambda: True, timeout=1, step="detected")
        with pytest.raises(DrillError, match=r"fault\(\) must come before the first"):
            d2.fault()
        d2.wait_until(lambda: True, timeout=1)


def test_an_async_predicate_in_the_sync_wait_is_an_error() -> None:
    async def healthy() -> bool:
        return True

    with Drill("async", record=False) as d:
        with pytest.raises(DrillError, match=r"returned an awaitable.*wait_until_async"):
            d.wait_until(healthy, timeout=1)
        d.wait_until(lambda: True, timeout=1)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"timeout": 0}, ValueError, r"timeout=.*> 0"),
        ({"timeout": math.nan}, ValueError, r"timeout="),
        ({"timeout": "1"}, TypeError, r"timeout="),
        ({"timeout": 1, "poll_interval_s": 0}, ValueError, r"poll_interval_s="),
        ({"timeout": 1, "step": ""}, TypeError, r"step="),
        ({"timeout": 1, "predicate": 3}, TypeError, r"callable predicate"),
    ],
)
def test_bad_wait_arguments_are_named(
    kwargs: dict[str, Any], exc: type[Exception], match: str
) -> None:
    predicate = kwargs.pop("predicate", lambda: True)
    with Drill("args", record=False) as d:
        with pytest.raises(exc, match=match):
            d.wait_until(predicate, **kwargs)
        d.wait_until(lambda: True, timeout=1)


def test_bad_drill_arguments_are_named() -> None:
    with pytest.raises(TypeError, match=r"Drill\(name=...\)"):
        Drill("")
    with pytest.raises(ValueError, match=r"poll_interval_s=.*> 0"):
        Drill("x", poll_interval_s=-1)
    with pytest.raises(TypeError, match=r"Drill\(record=...\)"):
        Drill("x", record="yes")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- async


def test_wait_until_async_awaits_async_predicates_without_blocking_the_loop(
    clock: FakeClock,
) -> None:
    async def main() -> tuple[Drill, int]:
        ticks = 0

        async def ticker() -> None:  # runs whenever the drill's waits yield to the loop
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        healthy_at = clock.now + 0.15

        async def healthy() -> bool:
            await asyncio.sleep(0)
            return clock.now >= healthy_at

        with Drill("async", poll_interval_s=0.01, record=False) as d:
            d.fault()
            await d.wait_until_async(clock.at(healthy_at - 0.1), 2, step="detected")
            await d.wait_until_async(healthy, timeout=2)
        task.cancel()
        return d, ticks

    d, ticks = asyncio.run(main())
    assert ticks >= len(clock.sleeps)  # every wait let the ticker run
    assert d.result is not None
    assert d.result["recovered"]
    assert 0.15 - EPS <= d.result["recovered_s"] <= 0.15 + 0.01 + EPS
    assert d.result["detected_s"] < d.result["recovered_s"]
    assert d.result["detected_s"] == pytest.approx(0.05, abs=0.01 + EPS)


# --------------------------------------------------------------------------- recovery_estimate


def test_recovery_estimate_picks_the_worst_and_counts_failures() -> None:
    ok = [{"recovered_s": s, "recovered": True, "error": None} for s in (1.5, 4.0, 2.0)]
    assert recovery_estimate(ok) == (4.0, 3, False)
    failed = {"recovered_s": 6.0, "recovered": False, "error": None}  # timed out at 6 s
    assert recovery_estimate([*ok, failed]) == (6.0, 4, True)
    short_fail = {"recovered_s": 3.0, "recovered": False, "error": None}
    assert recovery_estimate([*ok, short_fail]) == (4.0, 4, True)
    crashed = {"recovered_s": None, "recovered": False, "error": "ValueError: x"}
    assert recovery_estimate([*ok, crashed]) == (math.inf, 4, True)
    assert recovery_estimate([{"recovered_s": 1.0}]) == (1.0, 1, True)  # no flag: failed
    with pytest.raises(ValueError, match="at least one drill"):
        recovery_estimate([])
