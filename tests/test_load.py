"""Unit tests of pytest_prodgate.measure.load: the load runner and the throughput interval."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import http.client
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from pytest_prodgate import Model
from pytest_prodgate.measure import recording
from pytest_prodgate.measure.load import (
    SATURATION_OCCUPANCY,
    LoadResult,
    arun_load,
    run_load,
    throughput_interval,
    window_counts,
)


@pytest.fixture
def case() -> Iterator[recording.CaseRecorder]:
    """An active eval case, deactivated afterwards."""
    rec = recording.CaseRecorder()
    recording.activate(rec)
    try:
        yield rec
    finally:
        recording.deactivate()


def sleeper(seconds: float) -> Callable[[Any], Any]:
    def fn(x: Any) -> Any:
        time.sleep(seconds)
        return x

    return fn


class InFlight:
    """Counts calls in flight, remembering the most at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


# --------------------------------------------------------------------------- event arithmetic
# A load run is checked against its own recorded events (each call's start, end, ok),
# never against the wall clock or an expected rate: the machines are shared.


def max_overlap(calls: list[tuple[float, float, bool, str | None]]) -> int:
    """Most calls in flight at once, from the recorded (start, end) events (sweep line)."""
    events = sorted([(s, 1) for s, _, _, _ in calls] + [(e, -1) for _, e, _, _ in calls])
    now = most = 0
    for _, step in events:  # at a tie an end (-1) sorts before a start (+1)
        now += step
        most = max(most, now)
    return most


def busy_until(calls: list[tuple[float, float, bool, str | None]], t_end: float) -> float:
    """Integral over [0, t_end] of the number of calls in flight, from the events (sweep)."""
    events = sorted(
        [(s, 1) for s, _, _, _ in calls if s < t_end]
        + [(min(e, t_end), -1) for s, e, _, _ in calls if s < t_end]
    )
    total = prev = 0.0
    now = 0
    for x, step in events:
        total += now * (x - prev)
        now += step
        prev = x
    return total


def check_arithmetic(r: LoadResult) -> None:
    """Every figure the run reports equals the one computed independently from its events."""
    calls = r.calls
    assert r.requests == len(calls)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert all(0.0 <= s <= e for s, e, _, _ in calls)
    assert calls[0][0] == 0.0  # times are from the first measured start
    assert r.duration_s == max(e for _, e, _, _ in calls)
    ok = sum(1 for c in calls if c[2])
    assert (r.successes(), r.errors()) == (ok, len(calls) - ok)
    assert r.throughput_rps() == pytest.approx(ok / r.duration_s)
    assert r.latencies_ms() == pytest.approx([(e - s) * 1000 for s, e, _, _ in calls])
    # concurrency never exceeds the limit (a timed-out call is recorded as ending at
    # its timeout, when a fresh thread takes its place)
    assert max_overlap(calls) <= r.concurrency
    # successes per window, counted here by their end times
    counts, width = window_counts(calls, r.duration_s)
    n = len(counts)
    mine = [0] * n
    for _, e, good, _ in calls:
        if good:
            mine[min(int(e / width), n - 1)] += 1
    assert counts == mine
    assert sum(k * width for k in counts) == pytest.approx(ok * width)
    assert r.window_rates() == pytest.approx([k / width for k in mine])
    # Little's law over the whole run: mean in flight = rate of calls x mean latency
    busy = busy_until(calls, r.duration_s)
    mean_latency = sum(e - s for s, e, _, _ in calls) / len(calls)
    assert busy / r.duration_s == pytest.approx(len(calls) / r.duration_s * mean_latency)
    # ... and while requests were being issued: the runner's occupancy and saturation flag
    last_start = calls[-1][0]
    if last_start > 0:
        occupancy = busy_until(calls, last_start) / last_start
        assert r.mean_in_flight() == pytest.approx(occupancy)
        assert r.saturated == (occupancy < SATURATION_OCCUPANCY * r.concurrency)


# --------------------------------------------------------------------------- requests, inputs


def test_requests_mode_makes_exactly_that_many_calls() -> None:
    seen: list[Any] = []
    lock = threading.Lock()

    def fn(x: Any) -> Any:
        with lock:
            seen.append(x)
        return x

    r = run_load(fn, [1, 2, 3], concurrency=4, requests=37, record=False)
    assert r.requests == len(r.calls) == len(seen) == 37
    assert r.successes() == 37
    assert r.errors() == 0
    assert r.concurrency == 4
    assert not r.timed_out
    check_arithmetic(r)


def test_inputs_are_cycled_in_order_across_warmup_and_measurement() -> None:
    seen: list[Any] = []
    r = run_load(seen.append, ["abc"], concurrency=1, requests=1, record=False)
    assert seen == ["abc"]
    assert r.requests == 1
    seen.clear()
    r = run_load(seen.append, ["a", "b", "c"], concurrency=1, requests=5, warmup=2, record=False)
    assert seen == ["a", "b", "c", "a", "b", "c", "a"]
    assert r.requests == 5
    assert r.warmup == 2


def test_warmup_calls_are_made_but_not_measured() -> None:
    count = 0
    lock = threading.Lock()

    def fn(x: Any) -> None:
        nonlocal count
        with lock:
            count += 1
        time.sleep(0.001)

    r = run_load(fn, [0], concurrency=3, requests=10, warmup=6, record=False)
    assert count == 16
    assert len(r.calls) == 10
    assert r.warmup == 6


def test_warmup_phase_ends_before_the_measured_phase_starts() -> None:
    events: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def fn(x: str) -> None:
        t0 = time.perf_counter()
        time.sleep(0.02 if x == "w" else 0.001)
        t1 = time.perf_counter()
        with lock:
            events.append((x, t0, t1))

    run_load(fn, ["w", "w", "m", "m", "m"], concurrency=2, requests=3, warmup=2, record=False)
    warm_ends = [t1 for x, _, t1 in events if x == "w"]
    measured_starts = [t0 for x, t0, _ in events if x == "m"]
    assert len(warm_ends) == 2
    assert len(measured_starts) == 3
    assert min(measured_starts) >= max(warm_ends)


def test_warmup_runs_on_the_threads_that_measure() -> None:
    local = threading.local()
    opened: list[int] = []
    lock = threading.Lock()

    def fn(x: Any) -> None:  # a per-thread "connection", opened on first use
        if getattr(local, "conn", None) is None:
            local.conn = threading.get_ident()
            with lock:
                opened.append(local.conn)
        time.sleep(0.002)

    run_load(fn, [0], concurrency=4, requests=40, warmup=8, record=False)
    assert len(opened) == 4  # one pool: warm connections serve the measurement


def test_a_warmup_call_that_times_out_is_not_measured() -> None:
    release = threading.Event()

    def fn(x: str) -> str:
        if x == "hang":
            release.wait(5)
        return x

    try:
        r = run_load(fn, ["hang"] + ["ok"] * 9, concurrency=2, requests=5, warmup=2, timeout_s=0.05)
    finally:
        release.set()
    assert r.requests == 5
    assert r.errors() == 0


def test_errors_are_recorded_and_the_run_goes_on() -> None:
    def fn(x: int) -> int:
        if x % 3 == 0:
            raise ConnectionError("refused")
        if x % 3 == 1:
            raise ValueError("bad")
        return x

    r = run_load(fn, list(range(9)), concurrency=2, requests=30, record=False)
    assert r.requests == 30
    assert r.successes() == 10
    assert r.errors() == 20
    errs = sorted(str(err) for _, _, ok, err in r.calls if not ok)
    assert errs == ["ConnectionError"] * 10 + ["ValueError"] * 10
    assert all(err is None for _, _, ok, err in r.calls if ok)


def test_duration_mode_issues_calls_until_the_deadline_only() -> None:
    r = run_load(sleeper(0.01), [0], concurrency=2, duration_s=0.3, record=False)
    assert r.requests >= 2
    # The deadline is 0.3 s after the measured phase began, which is at or before the first
    # recorded start: no call starts at or after 0.3 s on the run's own clock.
    assert all(s < 0.3 for s, _, _, _ in r.calls)
    assert not r.timed_out
    check_arithmetic(r)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"concurrency": 0, "requests": 1}, ValueError, r"concurrency=.*int >= 1.*got 0"),
        ({"concurrency": 2.0, "requests": 1}, TypeError, r"concurrency=.*int >= 1"),
        ({"concurrency": True, "requests": 1}, TypeError, r"concurrency="),
        ({"concurrency": 1}, ValueError, r"exactly one of requests=.*duration_s="),
        ({"concurrency": 1, "requests": 1, "duration_s": 1}, ValueError, r"exactly one"),
        ({"concurrency": 1, "requests": 0}, ValueError, r"requests=.*int >= 1.*got 0"),
        ({"concurrency": 1, "duration_s": 0}, ValueError, r"duration_s=.*> 0"),
        ({"concurrency": 1, "duration_s": -1.0}, ValueError, r"duration_s=.*> 0"),
        ({"concurrency": 1, "duration_s": math.inf}, ValueError, r"duration_s=.*finite"),
        ({"concurrency": 1, "duration_s": "1"}, TypeError, r"duration_s="),
        ({"concurrency": 1, "requests": 1, "warmup": -1}, ValueError, r"warmup=.*>= 0"),
        ({"concurrency": 1, "requests": 1, "timeout_s": 0}, ValueError, r"timeout_s="),
        ({"concurrency": 1, "requests": 1, "grace_s": -1}, ValueError, r"grace_s="),
        ({"concurrency": 1, "requests": 1, "name": ""}, TypeError, r"name="),
        ({"concurrency": 1, "requests": 1, "record": 1}, TypeError, r"record="),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        run_load(lambda x: x, [1], **kwargs)


def test_bad_fn_and_inputs_are_named() -> None:
    with pytest.raises(TypeError, match=r"takes a callable or a Model, got 42"):
        run_load(42, [1], concurrency=1, requests=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"inputs=.*empty"):
        run_load(lambda x: x, [], concurrency=1, requests=1)
    with pytest.raises(TypeError, match=r"inputs=.*list of inputs.*'abc'"):
        run_load(lambda x: x, "abc", concurrency=1, requests=1)
    with pytest.raises(TypeError, match=r"inputs="):
        run_load(lambda x: x, 5, concurrency=1, requests=1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- timeouts, fatal


def test_sync_timeout_fails_the_call_and_keeps_the_run_going() -> None:
    release = threading.Event()
    returned = 0  # hung calls that came back

    def fn(x: str) -> str:
        nonlocal returned
        if x == "hang":
            release.wait(60)
            returned += 1
        else:
            time.sleep(0.005)
        return x

    try:
        r = run_load(fn, ["hang"] + ["ok"] * 9, concurrency=2, requests=40, timeout_s=0.1)
        assert returned == 0  # the run ended while every hung call was still blocked
    finally:
        release.set()
    assert r.requests == 40
    timeouts = [c for c in r.calls if c[3] == "TimeoutError"]
    assert len(timeouts) == 4  # inputs 0, 10, 20, 30
    assert all(not ok and e - s == pytest.approx(0.1) for s, e, ok, _ in timeouts)
    assert r.successes() == 36
    assert not r.timed_out
    check_arithmetic(r)  # a fresh thread replaced each hung one: never more than 2 in flight


def test_model_timeout_is_used_and_no_call_records_land_in_the_case(
    case: recording.CaseRecorder,
) -> None:
    release = threading.Event()

    def fn(x: str) -> str:
        if x == "hang":
            release.wait(5)
        return x

    model = Model(fn, name="m", timeout_s=0.05)
    try:
        r = run_load(model, ["hang", "a", "b", "c"], concurrency=2, requests=8)
    finally:
        release.set()
    assert r.name == "m"
    assert [c[3] for c in r.calls].count("TimeoutError") == 2
    assert case.calls == []  # per-call data went to the load run, not the latency list
    assert case.load_runs == [r.to_dict()]


def test_async_timeout_cancels_the_call() -> None:
    cancelled = 0

    async def fn(x: str) -> str:
        nonlocal cancelled
        try:
            await asyncio.sleep(3600 if x == "hang" else 0.001)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return x

    r = run_load(fn, ["hang", "a", "b"], concurrency=3, requests=9, timeout_s=0.05, record=False)
    assert [c[3] for c in r.calls].count("TimeoutError") == 3
    assert cancelled == 3  # the run returned: the hour-long calls were cancelled
    assert r.successes() == 6
    assert all(e - s == pytest.approx(0.05) for s, e, _, err in r.calls if err)


def test_duration_mode_gives_up_on_calls_after_the_grace_period() -> None:
    release = threading.Event()
    returned = 0

    def fn(x: str) -> str:
        nonlocal returned
        if x == "hang":
            release.wait(60)
            returned += 1
        else:
            time.sleep(0.005)
        return x

    try:
        r = run_load(fn, ["hang"] + ["ok"] * 999, concurrency=2, duration_s=0.2, grace_s=0.1)
        assert returned == 0  # given up on, not waited for
    finally:
        release.set()
    assert r.timed_out
    hung = [c for c in r.calls if c[3] == "TimeoutError"]
    assert len(hung) == 1
    start, end, ok, _ = hung[0]
    assert not ok
    assert r.duration_s == end  # recorded as ending when it was given up on
    # It started before the deadline and was given up on no earlier than grace_s after it.
    assert start < 0.2
    assert end - start > 0.1
    assert all(s < 0.2 for s, _, _, _ in r.calls)


def test_async_duration_mode_gives_up_on_calls_after_the_grace_period() -> None:
    async def fn(x: str) -> str:
        await asyncio.sleep(3600 if x == "hang" else 0.005)
        return x

    r = run_load(fn, ["hang"] + ["ok"] * 999, concurrency=2, duration_s=0.2, grace_s=0.1)
    assert r.timed_out  # returned: the hour-long call was given up on
    hung = [c for c in r.calls if c[3] == "TimeoutError"]
    assert len(hung) == 1
    assert hung[0][1] - hung[0][0] > 0.1
    assert r.successes() >= 1


class Stop(BaseException):
    """Not an Exception: stops the run."""


def test_a_base_exception_stops_the_run_and_propagates() -> None:
    def fn(x: int) -> int:
        if x == 5:
            raise Stop
        return x

    with pytest.raises(Stop):
        run_load(fn, list(range(100)), concurrency=3, requests=1000, record=False)

    async def afn(x: int) -> int:
        if x == 5:
            raise Stop
        return x

    with pytest.raises(Stop):
        run_load(afn, list(range(100)), concurrency=3, requests=1000, record=False)


def test_a_sync_callable_returning_an_awaitable_is_a_type_error() -> None:
    async def coro(x: Any) -> Any:
        return x

    with pytest.raises(TypeError, match=r"returned an awaitable.*async def"):
        run_load(lambda x: coro(x), [1], concurrency=2, requests=4, record=False)


def test_cancelled_error_raised_by_the_model_is_a_failed_call() -> None:
    async def fn(x: int) -> int:
        if x == 0:
            raise asyncio.CancelledError
        return x

    r = run_load(fn, [0, 1], concurrency=1, requests=4, record=False)
    assert [c[3] for c in r.calls] == ["CancelledError", None, "CancelledError", None]


def test_worker_threads_see_the_callers_context_variables() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("caller")
    seen: set[str] = set()
    run_load(lambda x: seen.add(var.get()), [0], concurrency=3, requests=6, record=False)

    async def afn(x: Any) -> None:
        seen.add(var.get() + "-async")

    run_load(afn, [0], concurrency=3, requests=6, record=False)
    assert seen == {"caller", "caller-async"}


# --------------------------------------------------------------------------- async


def test_async_callable_runs_concurrently_on_one_private_loop() -> None:
    loops: set[int] = set()
    threads: set[int] = set()
    flight = InFlight()

    async def fn(x: Any) -> Any:
        loops.add(id(asyncio.get_running_loop()))
        threads.add(threading.get_ident())
        with flight:
            await asyncio.sleep(0.01)
        return x

    r = run_load(fn, [0], concurrency=8, requests=64, record=False)
    assert r.successes() == 64
    assert len(loops) == 1
    assert threads
    assert threading.get_ident() not in threads
    assert flight.most == 8
    check_arithmetic(r)  # never more than 8 in flight


def test_run_load_works_from_inside_a_running_loop() -> None:
    async def afn(x: Any) -> Any:
        await asyncio.sleep(0.001)
        return x

    async def main() -> tuple[LoadResult, LoadResult, int]:
        outer = id(asyncio.get_running_loop())
        a = run_load(afn, [1, 2], concurrency=4, requests=20, record=False)
        s = run_load(lambda x: x, [1, 2], concurrency=4, requests=20, record=False)
        assert id(asyncio.get_running_loop()) == outer
        return a, s, outer

    a, s, _ = asyncio.run(main())
    assert a.successes() == 20
    assert s.successes() == 20


def test_arun_load_runs_on_the_callers_loop() -> None:
    loops: set[int] = set()
    flight = InFlight()

    async def fn(x: Any) -> Any:
        loops.add(id(asyncio.get_running_loop()))
        with flight:
            await asyncio.sleep(0.005)
        return x

    calls: list[tuple[float, float]] = []

    def sync_fn(x: Any) -> Any:
        t0 = time.perf_counter()
        time.sleep(0.01)
        calls.append((t0, time.perf_counter()))
        return x

    async def main() -> tuple[LoadResult, LoadResult, int, list[float]]:
        r = await arun_load(fn, [0], concurrency=5, requests=25, warmup=5, record=False)
        ticks: list[float] = []

        async def ticker() -> None:  # the loop stays free while a sync run goes on
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.002)

        task = asyncio.create_task(ticker())
        s = await arun_load(sync_fn, [0], concurrency=2, requests=20, record=False)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return r, s, id(asyncio.get_running_loop()), ticks

    r, s, loop_id, ticks = asyncio.run(main())
    assert loops == {loop_id}
    assert flight.most == 5
    assert r.requests == 25
    assert r.warmup == 5
    assert r.successes() == 25
    assert s.successes() == 20
    # the loop ticked while the sync calls were in flight (events, not a tick rate)
    first, last = min(c[0] for c in calls), max(c[1] for c in calls)
    assert any(first < t < last for t in ticks)


# --------------------------------------------------------------------------- recording, result


def test_the_run_is_recorded_on_the_active_case(case: recording.CaseRecorder) -> None:
    r = run_load(lambda x: x, [1], concurrency=2, requests=5, name="echo")
    run_load(lambda x: x, [1], concurrency=2, requests=5, record=False)
    assert case.load_runs == [r.to_dict()]
    assert case.load_runs[0]["name"] == "echo"
    assert case.calls == []


def test_without_an_active_case_nothing_is_recorded() -> None:
    assert recording.current_case() is None
    run_load(lambda x: x, [1], concurrency=1, requests=3)  # no error


def test_to_dict_holds_builtins_only_and_round_trips() -> None:
    def fn(x: int) -> int:
        if x:
            raise KeyError(x)
        return x

    r = run_load(fn, [0, 1], concurrency=2, requests=10, warmup=2, name="rt", record=False)
    d = r.to_dict()
    assert set(d) == {
        "concurrency",
        "duration_s",
        "calls",
        "saturated",
        "timed_out",
        "requests",
        "warmup",
        "name",
    }
    assert json.loads(json.dumps(d)) == d
    assert all(type(c) is list and len(c) == 4 for c in d["calls"])
    assert [tuple(c) for c in d["calls"]] == r.calls


def test_results_derived_from_calls() -> None:
    calls = [(0.0, 0.4, True, None), (0.1, 0.3, False, "E"), (0.2, 1.0, True, None)]
    r = LoadResult(concurrency=2, duration_s=1.0, calls=calls, saturated=False, timed_out=False)
    assert r.successes() == 2
    assert r.errors() == 1
    assert r.throughput_rps() == 2.0
    assert r.latencies_ms() == pytest.approx([400.0, 200.0, 800.0])
    assert r.window_rates(2) == [2.0, 2.0]  # one success ends in each half
    assert r.window_rates(4) == [0.0, 4.0, 0.0, 4.0]
    assert r.window_rates(1) == [2.0]
    empty = LoadResult(concurrency=1, duration_s=0.0, calls=[], saturated=False, timed_out=False)
    assert empty.throughput_rps() == 0.0
    assert empty.window_rates() == []
    with pytest.raises(ValueError, match="n_windows"):
        r.window_rates(0)


def test_default_windows_span_at_least_five_median_latencies() -> None:
    def run(duration: float, latency: float, n: int) -> LoadResult:
        ends = np.linspace(latency, duration, n)
        calls: list[tuple[float, float, bool, str | None]] = [
            (float(e) - latency, float(e), True, None) for e in ends
        ]
        return LoadResult(1, duration, calls, saturated=False, timed_out=False)

    assert len(run(10.0, 0.01, 1000).window_rates()) == 20  # capped at 20
    assert len(run(1.0, 0.02, 50).window_rates()) == 10  # 1 s / (5 x 20 ms)
    assert len(run(0.3, 0.1, 3).window_rates()) == 1  # too short: one window
    r = run(10.0, 0.01, 1000)
    counts, width = window_counts(r.calls, r.duration_s)
    assert sum(counts) == 1000
    assert width == pytest.approx(0.5)
    assert sum(x * width for x in r.window_rates()) == pytest.approx(1000)


# --------------------------------------------------------------------------- throughput


def test_sync_run_of_a_sleeping_callable_matches_its_events() -> None:
    # How close the rate comes to concurrency / latency is benchmarks/bench_load.py's job.
    k = 8
    r = run_load(sleeper(0.01), [0], concurrency=k, requests=k * 20, warmup=k, record=False)
    assert r.successes() == k * 20
    check_arithmetic(r)


def test_async_run_of_a_sleeping_callable_matches_its_events() -> None:
    async def fn(x: Any) -> Any:
        await asyncio.sleep(0.02)
        return x

    r = run_load(fn, [0], concurrency=16, requests=16 * 10, record=False)
    assert r.successes() == 160
    check_arithmetic(r)


def test_an_instant_callable_saturates_the_runner() -> None:
    r = run_load(lambda x: x, [0], concurrency=4, requests=20_000, record=False)
    assert r.saturated  # calls take far less time than the runner spends between them
    in_flight = r.mean_in_flight()
    assert in_flight is not None
    assert in_flight < SATURATION_OCCUPANCY * 4
    check_arithmetic(r)


# --------------------------------------------------------------------------- real HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _CapacityServer

    def do_GET(self) -> None:
        self.server.serve()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _CapacityServer(ThreadingHTTPServer):
    """A loopback HTTP server with exactly `workers` service slots of `service_s` each.

    Each request takes the slot that frees first and is served for `service_s`
    from the moment that slot is free (or from its arrival, if later): a FIFO
    queue with `workers` servers, capacity `workers / service_s` requests/s.
    Slots are booked on the clock rather than handed from thread to thread, so
    the capacity stays exact on a busy machine where waking a thread can take
    milliseconds.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, workers: int, service_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.free_at = [0.0] * workers
        self.book = threading.Lock()
        self.service_s = service_s
        self.served = 0  # requests served, counted on the server's side

    def serve(self) -> None:
        with self.book:
            self.served += 1
            now = time.perf_counter()
            k = min(range(len(self.free_at)), key=self.free_at.__getitem__)
            done = max(now, self.free_at[k]) + self.service_s
            self.free_at[k] = done
        time.sleep(max(0.0, done - time.perf_counter()))


@contextlib.contextmanager
def capacity_server(workers: int, service_s: float) -> Iterator[_CapacityServer]:
    server = _CapacityServer(workers, service_s)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def keepalive_client(port: int) -> Iterator[Callable[[Any], bytes]]:
    """A sync GET function with one persistent connection per calling thread."""
    local = threading.local()
    conns: list[http.client.HTTPConnection] = []
    lock = threading.Lock()

    def get(_: Any) -> bytes:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            local.conn = conn
            with lock:
                conns.append(conn)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read()
        except Exception:
            conn.close()
            local.conn = None
            raise
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
        return body

    try:
        yield get
    finally:
        with lock:
            for conn in conns:
                conn.close()


#: Service time of the test HTTP server (its capacity as a rate is benchmarks/bench_load.py's).
SERVICE_S = 0.005


@pytest.mark.parametrize("concurrency", [8, 2], ids=["c8", "c2"])
def test_a_real_http_server_serves_every_recorded_call(concurrency: int) -> None:
    # 4 service slots: above them (c=8) requests queue at the server, below (c=2) not.
    with capacity_server(workers=4, service_s=SERVICE_S) as server:
        with keepalive_client(server.server_address[1]) as get:
            r = run_load(get, [0], concurrency=concurrency, requests=120, warmup=concurrency)
        served = server.served
    assert r.errors() == 0
    assert served == concurrency + 120  # the server saw exactly the warm-up and the run
    check_arithmetic(r)
    est, lo, hi, n, method = throughput_interval([r.to_dict()], resamples=1999)
    assert est == pytest.approx(r.throughput_rps())
    assert lo <= est <= hi
    assert n == len(r.window_rates())
    assert method.startswith(("window-", "too-few-windows"))


def test_async_http_client_against_a_real_server_with_arun_load() -> None:
    httpx = pytest.importorskip("httpx")

    async def main(port: int) -> LoadResult:
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:

            async def get(_: Any) -> bytes:
                resp = await client.get("/")
                resp.raise_for_status()
                body: bytes = resp.content
                return body

            return await arun_load(get, [0], concurrency=4, requests=80, warmup=4)

    with capacity_server(workers=2, service_s=SERVICE_S) as server:
        r = asyncio.run(main(server.server_address[1]))
        served = server.served
    assert r.errors() == 0
    assert served == 4 + 80
    check_arithmetic(r)


# --------------------------------------------------------------------------- throughput_interval


def poisson_run(
    rng: np.random.Generator, rate: float, windows: int, width: float
) -> dict[str, Any]:
    """A fake run whose successes per window are Poisson(rate * width), 10 ms each."""
    calls: list[list[Any]] = []
    for i in range(windows):
        for end in rng.uniform(i * width, (i + 1) * width, size=rng.poisson(rate * width)):
            calls.append([float(end) - 0.01, float(end), True, None])
    calls.sort()
    return {
        "concurrency": 4,
        "duration_s": windows * width,
        "calls": calls,
        "saturated": False,
        "timed_out": False,
        "requests": len(calls),
        "warmup": 0,
        "name": "sim",
    }


def test_throughput_interval_contains_the_estimate() -> None:
    rng = np.random.default_rng(1)
    run = poisson_run(rng, rate=40.0, windows=20, width=0.5)
    est, lo, hi, n, method = throughput_interval([run])
    assert n == 20
    assert method == "window-poisson-ar1"
    assert est == pytest.approx(len(run["calls"]) / 10.0)
    assert lo < est < hi
    assert lo > 30
    assert hi < 50
    r = LoadResult(
        concurrency=run["concurrency"],
        duration_s=run["duration_s"],
        calls=[tuple(c) for c in run["calls"]],
        saturated=False,
        timed_out=False,
    )
    assert throughput_interval([r]) == (est, lo, hi, n, method)  # LoadResults too


def test_throughput_interval_is_deterministic_and_pools_runs() -> None:
    rng = np.random.default_rng(2)
    a = poisson_run(rng, rate=40.0, windows=20, width=0.5)
    b = poisson_run(rng, rate=40.0, windows=20, width=0.25)  # other window length
    one = throughput_interval([a, b], seed=3)
    assert one == throughput_interval([a, b], seed=3)
    est, lo, hi, n, _ = one
    assert n == 40
    assert est == pytest.approx((len(a["calls"]) + len(b["calls"])) / 15.0)
    assert lo < est < hi


def test_throughput_interval_coverage_on_simulated_runs() -> None:
    rng = np.random.default_rng(0)
    rate, sims = 40.0, 300
    hits = 0
    for i in range(sims):
        _, lo, hi, _, _ = throughput_interval(
            [poisson_run(rng, rate, windows=20, width=0.5)], resamples=999, seed=i
        )
        hits += lo <= rate <= hi
    assert 0.88 <= hits / sims <= 0.99  # nominal 0.95; BCa at 20 windows runs a bit short


def test_too_few_windows_give_an_unbounded_interval() -> None:
    # 0.3 s of 100 ms calls: windows must span >= 0.5 s, so there is one
    calls = [[i * 0.1, i * 0.1 + 0.1, True, None] for i in range(3)]
    run = {"concurrency": 1, "duration_s": 0.3, "calls": calls}
    est, lo, hi, n, method = throughput_interval([run])
    assert n == 1
    assert method == "too-few-windows"
    assert est == pytest.approx(10.0)
    assert (lo, hi) == (-math.inf, math.inf)
    assert throughput_interval([]) == (0.0, -math.inf, math.inf, 0, "too-few-windows")


def test_throughput_interval_of_a_dead_system_is_zero() -> None:
    calls = [[i * 0.1, i * 0.1 + 0.01, False, "ConnectionError"] for i in range(100)]
    run = {"concurrency": 1, "duration_s": 9.91, "calls": calls}
    est, lo, hi, n, method = throughput_interval([run])
    # No success: the exact Poisson bound, never a zero-width interval.
    assert (est, lo, n, method) == (0.0, 0.0, 20, "window-poisson-ar1")
    assert hi == pytest.approx(-np.log(0.025) / 9.91)
    assert throughput_interval([run], method="bootstrap")[1:] == (0.0, 0.0, 20, "window-constant")


def test_throughput_interval_keeps_unit_rates_as_rates() -> None:
    # windows of 1 s with 0 or 1 success each: rates 0/1 must not be read as proportions
    calls: list[list[Any]] = [[i + 0.5, i + 0.6, True, None] for i in range(0, 20, 2)]
    calls += [[i + 0.5, i + 0.6, False, "E"] for i in range(1, 20, 2)]
    calls.sort()
    run = {"concurrency": 1, "duration_s": 20.0, "calls": calls}
    counts, width = window_counts(calls, 20.0, None)
    assert width == pytest.approx(1.0)
    assert sorted(set(counts)) == [0, 1]
    est, lo, hi, _, method = throughput_interval([run])
    assert est == 0.5
    assert lo < 0.5 < hi
    assert method == "window-poisson-ar1"
    *_, method = throughput_interval([run], method="bootstrap")
    assert method == "window-bca"
