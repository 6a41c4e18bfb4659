"""Unit tests of measure.model: timing, errors, timeouts, retries, cost, spend cap."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import contextvars
import functools
import inspect
import math
import pickle
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_prodgate.measure import model as model_module
from pytest_prodgate.measure import recording
from pytest_prodgate.measure.model import Model, ModelTimeout, Pricing, find_usage
from pytest_prodgate.measure.recording import CallRecord, CaseRecorder, SpendCapReached

# A generous ceiling for "returned promptly after the timeout" on a loaded CI machine.
PROMPT = 1.5


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    recording.deactivate()
    recording.spend().reset()
    yield
    recording.deactivate()
    recording.spend().reset()


@pytest.fixture
def recorder() -> Iterator[CaseRecorder]:
    rec = CaseRecorder()
    recording.activate(rec)
    yield rec
    recording.deactivate()


def only_call(rec: CaseRecorder) -> CallRecord:
    assert len(rec.calls) == 1, rec.calls
    return rec.calls[0]


def echo(x: Any) -> Any:
    return x


async def aecho(x: Any) -> Any:
    await asyncio.sleep(0)
    return x


class Flaky:
    """Fails the first ``failures`` calls (with a fresh exception each time), then answers."""

    def __init__(self, failures: int, *, sleep_s: float = 0.0, answer: Any = "ok") -> None:
        self.failures = failures
        self.sleep_s = sleep_s
        self.answer = answer
        self.calls = 0
        self.raised: list[Exception] = []

    def __call__(self, x: Any) -> Any:
        self.calls += 1
        time.sleep(self.sleep_s)
        if self.calls <= self.failures:
            exc = ValueError(f"attempt {self.calls} failed")
            self.raised.append(exc)
            raise exc
        return self.answer


# -- success and latency --------------------------------------------------------------


def test_sync_success_records_one_call(recorder: CaseRecorder) -> None:
    m = Model(echo)
    assert m("hi") == "hi"
    call = only_call(recorder)
    assert call.ok is True
    assert call.error is None
    assert call.error_message is None
    assert call.timed_out is False
    assert call.retries == 0
    assert call.model == "echo"
    assert call.cost_usd is None
    assert call.cost_error is None
    assert call.input_tokens is None
    assert call.output_tokens is None
    assert call.latency_s >= 0.0


def test_sync_runs_in_calling_thread_without_timeout(recorder: CaseRecorder) -> None:
    m = Model(lambda: threading.get_ident())
    assert m() == threading.get_ident()


def test_kwargs_are_passed(recorder: CaseRecorder) -> None:
    m = Model(lambda a, *, b: (a, b), timeout_s=5)
    assert m(1, b=2) == (1, 2)


def test_sync_latency_is_measured(recorder: CaseRecorder) -> None:
    m = Model(lambda: time.sleep(0.05))
    m()
    assert 0.049 <= only_call(recorder).latency_s < PROMPT


def test_async_success_with_acall(recorder: CaseRecorder) -> None:
    m = Model(aecho)
    assert m.is_async
    assert asyncio.run(m.acall("hi")) == "hi"
    call = only_call(recorder)
    assert call.ok
    assert call.model == "aecho"


def test_async_model_called_without_a_loop_runs_to_completion(recorder: CaseRecorder) -> None:
    m = Model(aecho)
    assert m("hi") == "hi"
    assert only_call(recorder).ok


def test_async_latency_is_measured(recorder: CaseRecorder) -> None:
    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "done"

    assert Model(slow)() == "done"
    assert 0.049 <= only_call(recorder).latency_s < PROMPT


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.Runner is 3.11+")
def test_async_model_from_sync_code_keeps_the_threads_event_loop() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        assert Model(aecho)("x") == "x"
        assert asyncio.get_event_loop_policy().get_event_loop() is loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_async_model_inside_running_loop_returns_awaitable(recorder: CaseRecorder) -> None:
    m = Model(aecho)

    async def main() -> Any:
        pending = m("hi")
        assert inspect.isawaitable(pending)
        assert recorder.calls == []  # nothing happens until it is awaited
        return await pending

    assert asyncio.run(main()) == "hi"
    assert only_call(recorder).ok


def test_acall_runs_a_sync_callable_off_the_loop_thread(recorder: CaseRecorder) -> None:
    m = Model(lambda: threading.get_ident())

    async def main() -> tuple[int, int]:
        return await m.acall(), threading.get_ident()

    worker, loop_thread = asyncio.run(main())
    assert worker != loop_thread
    assert only_call(recorder).ok


def test_concurrent_async_calls_are_all_recorded(recorder: CaseRecorder) -> None:
    m = Model(aecho, timeout_s=5)

    async def main() -> list[Any]:
        return await asyncio.gather(*(m.acall(i) for i in range(20)))

    assert asyncio.run(main()) == list(range(20))
    assert len(recorder.calls) == 20
    assert all(c.ok for c in recorder.calls)


def test_async_callable_object_and_partial_are_recognised() -> None:
    class Client:
        async def __call__(self, x: Any) -> Any:
            return x

    async def add(a: int, b: int) -> int:
        return a + b

    assert Model(Client()).is_async
    assert Model(functools.partial(add, 1)).is_async
    assert Model(Client())("x") == "x"
    assert Model(functools.partial(add, 1))(2) == 3
    assert not Model(echo).is_async


def test_sync_callable_returning_a_coroutine_is_awaited(recorder: CaseRecorder) -> None:
    m = Model(lambda x: aecho(x), timeout_s=5)
    assert not m.is_async
    assert m("a") == "a"
    assert asyncio.run(m.acall("b")) == "b"
    assert len(recorder.calls) == 2
    assert all(c.ok for c in recorder.calls)


def test_sync_callable_returning_a_coroutine_inside_a_loop_is_a_usage_error(
    recorder: CaseRecorder,
) -> None:
    m = Model(lambda x: aecho(x), retries=3)

    async def main() -> None:
        with pytest.raises(TypeError, match="acall"):
            m("a")

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no "coroutine was never awaited"
        asyncio.run(main())
    assert recorder.calls == []


def test_contextvars_reach_the_worker_thread(recorder: CaseRecorder) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("set")
    m = Model(lambda: (var.get(), threading.get_ident()), timeout_s=5)
    value, ident = m()
    assert value == "set"
    assert ident != threading.get_ident()


# -- errors ----------------------------------------------------------------------------


def test_exception_is_recorded_and_reraised_unchanged(recorder: CaseRecorder) -> None:
    boom = ValueError("bad input")

    def fn() -> None:
        raise boom

    with pytest.raises(ValueError) as info:
        Model(fn, name="m")()
    assert info.value is boom
    assert recorder.is_model_exception(info.value)
    call = only_call(recorder)
    assert call.ok is False
    assert call.error == "ValueError"
    assert call.error_message == "bad input"
    assert call.timed_out is False
    assert call.model == "m"


def test_exception_in_worker_thread_is_reraised_unchanged(recorder: CaseRecorder) -> None:
    boom = KeyError("k")

    def fn() -> None:
        raise boom

    with pytest.raises(KeyError) as info:
        Model(fn, timeout_s=5)()
    assert info.value is boom
    assert recorder.is_model_exception(boom)


def test_async_exception_is_recorded_and_reraised_unchanged(recorder: CaseRecorder) -> None:
    boom = RuntimeError("upstream 500")

    async def fn() -> None:
        raise boom

    for m in (Model(fn), Model(fn, timeout_s=5)):
        with pytest.raises(RuntimeError) as info:
            m()
        assert info.value is boom
    assert [c.error for c in recorder.calls] == ["RuntimeError", "RuntimeError"]
    assert recorder.is_model_exception(boom)


def test_acall_on_sync_exception_is_reraised_unchanged(recorder: CaseRecorder) -> None:
    boom = ValueError("x")

    def fn() -> None:
        raise boom

    with pytest.raises(ValueError) as info:
        asyncio.run(Model(fn).acall())
    assert info.value is boom
    assert only_call(recorder).error == "ValueError"


def test_long_error_message_is_truncated(recorder: CaseRecorder) -> None:
    def fn() -> None:
        raise ValueError("x" * 5000)

    with pytest.raises(ValueError):
        Model(fn)()
    message = only_call(recorder).error_message
    assert message is not None
    assert 100 < len(message) <= 500


def test_base_exceptions_propagate_unrecorded(recorder: CaseRecorder) -> None:
    class Stop(BaseException):
        pass

    def fn() -> None:
        raise Stop

    with pytest.raises(Stop):
        Model(fn, retries=3)()
    assert recorder.calls == []


# -- timeouts ---------------------------------------------------------------------------


def test_sync_timeout(recorder: CaseRecorder) -> None:
    m = Model(lambda: time.sleep(2), name="slowpoke", timeout_s=0.05)
    start = time.perf_counter()
    with pytest.raises(ModelTimeout) as info:
        m()
    assert time.perf_counter() - start < PROMPT
    assert isinstance(info.value, TimeoutError)
    assert "slowpoke" in str(info.value)
    assert "0.05" in str(info.value)
    assert recorder.is_model_exception(info.value)
    call = only_call(recorder)
    assert call.ok is False
    assert call.timed_out is True
    assert call.error == "ModelTimeout"
    assert call.error_message == str(info.value)
    assert 0.05 <= call.latency_s < 0.05 + 0.5


def test_model_timeout_pickles() -> None:
    exc = pickle.loads(pickle.dumps(ModelTimeout("m", 1.5)))
    assert isinstance(exc, ModelTimeout)
    assert (exc.model, exc.timeout_s) == ("m", 1.5)
    assert str(exc) == str(ModelTimeout("m", 1.5))


def test_abandoned_worker_is_a_daemon_thread(recorder: CaseRecorder) -> None:
    m = Model(lambda: time.sleep(2), name="abandoned-one", timeout_s=0.05)
    with pytest.raises(ModelTimeout):
        m()
    workers = [t for t in threading.enumerate() if t.name == "prodgate-model:abandoned-one"]
    assert workers
    assert all(t.daemon for t in workers)


def test_async_timeout(recorder: CaseRecorder) -> None:
    cancelled = []

    async def slow() -> None:
        try:
            await asyncio.sleep(2)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    m = Model(slow, timeout_s=0.05)
    start = time.perf_counter()
    with pytest.raises(ModelTimeout):
        m()
    with pytest.raises(ModelTimeout):
        asyncio.run(m.acall())
    assert time.perf_counter() - start < 2 * PROMPT
    assert cancelled == [True, True]
    assert len(recorder.calls) == 2
    for call in recorder.calls:
        assert call.timed_out
        assert call.error == "ModelTimeout"
        assert 0.05 <= call.latency_s < 0.05 + 0.5


def test_async_timeout_ignoring_cancellation_does_not_hang_acall(recorder: CaseRecorder) -> None:
    async def stubborn() -> None:
        for _ in range(30):  # swallows cancellation for ~0.6 s
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.02)

    async def main() -> float:
        start = time.perf_counter()
        with pytest.raises(ModelTimeout):
            await Model(stubborn, timeout_s=0.05).acall()
        return time.perf_counter() - start

    assert asyncio.run(main()) < 0.45  # acall returned at the deadline, not after ~0.6 s
    assert only_call(recorder).timed_out


def test_acall_timeout_on_sync_callable(recorder: CaseRecorder) -> None:
    m = Model(lambda: time.sleep(2), timeout_s=0.05)
    start = time.perf_counter()
    with pytest.raises(ModelTimeout):
        asyncio.run(m.acall())
    assert time.perf_counter() - start < PROMPT
    call = only_call(recorder)
    assert call.timed_out
    assert 0.05 <= call.latency_s < 0.05 + 0.5


def test_an_inner_timeout_error_is_not_our_timeout(recorder: CaseRecorder) -> None:
    def fn() -> None:
        raise TimeoutError("socket timed out")

    with pytest.raises(TimeoutError, match="socket"):
        Model(fn, timeout_s=5)()
    call = only_call(recorder)
    assert call.error == "TimeoutError"
    assert call.timed_out is False


# -- retries ------------------------------------------------------------------------------


def test_success_on_second_attempt(recorder: CaseRecorder) -> None:
    fn = Flaky(1, sleep_s=0.03)
    m = Model(fn, retries=2, cost=lambda out: 0.01)
    assert m("q") == "ok"
    assert fn.calls == 2
    call = only_call(recorder)
    assert call.ok is True
    assert call.retries == 1
    assert call.error is None
    assert call.cost_usd == pytest.approx(0.01)
    assert 0.059 <= call.latency_s < PROMPT  # both attempts' time


def test_all_attempts_fail_reraises_the_last_exception(recorder: CaseRecorder) -> None:
    fn = Flaky(10)
    with pytest.raises(ValueError) as info:
        Model(fn, retries=2)("q")
    assert fn.calls == 3
    assert info.value is fn.raised[-1]
    assert recorder.is_model_exception(info.value)
    call = only_call(recorder)
    assert call.ok is False
    assert call.retries == 2
    assert call.error_message == "attempt 3 failed"


def test_retry_after_timeout_then_success(recorder: CaseRecorder) -> None:
    attempts = []

    def fn() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            time.sleep(2)
        return "late but fine"

    assert Model(fn, timeout_s=0.05, retries=1)() == "late but fine"
    call = only_call(recorder)
    assert call.ok
    assert call.retries == 1
    assert call.timed_out is False
    assert 0.05 <= call.latency_s < 0.05 + 0.5


def test_every_attempt_times_out(recorder: CaseRecorder) -> None:
    async def slow() -> None:
        await asyncio.sleep(2)

    with pytest.raises(ModelTimeout):
        Model(slow, timeout_s=0.05, retries=2)()
    call = only_call(recorder)
    assert call.timed_out
    assert call.retries == 2
    assert 0.15 <= call.latency_s < 0.15 + 0.75


def test_timed_out_describes_the_last_attempt(recorder: CaseRecorder) -> None:
    attempts = []

    def fn() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            time.sleep(2)
        raise ValueError("then broken")

    with pytest.raises(ValueError):
        Model(fn, timeout_s=0.05, retries=1)()
    call = only_call(recorder)
    assert call.error == "ValueError"
    assert call.timed_out is False
    assert call.retries == 1


def test_async_retries(recorder: CaseRecorder) -> None:
    state = {"n": 0}

    async def fn() -> str:
        state["n"] += 1
        if state["n"] < 3:
            raise ConnectionError("reset")
        return "ok"

    assert asyncio.run(Model(fn, retries=5).acall()) == "ok"
    assert only_call(recorder).retries == 2


# -- cost and tokens ------------------------------------------------------------------------


def test_cost_callable(recorder: CaseRecorder) -> None:
    m = Model(echo, cost=lambda out: len(out) * 0.001)
    m("abc")
    assert only_call(recorder).cost_usd == pytest.approx(0.003)
    assert recording.spend().total_usd == pytest.approx(0.003)


def test_cost_callable_raising_keeps_the_output(recorder: CaseRecorder) -> None:
    def cost(out: Any) -> float:
        raise ValueError("no price list")

    assert Model(echo, cost=cost)("answer") == "answer"
    call = only_call(recorder)
    assert call.ok is True
    assert call.cost_usd is None
    assert call.cost_error == "cost callable raised ValueError: no price list"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.01, "0.1", None, True, [1]])
def test_cost_callable_returning_garbage(recorder: CaseRecorder, bad: Any) -> None:
    assert Model(echo, cost=lambda out: bad)("x") == "x"
    call = only_call(recorder)
    assert call.ok is True
    assert call.cost_usd is None
    assert call.cost_error is not None
    assert call.cost_error.startswith("cost callable returned")


def test_cost_callable_wins_over_pricing(recorder: CaseRecorder) -> None:
    out = {"usage": {"prompt_tokens": 1_000_000, "completion_tokens": 0}}
    Model(echo, pricing=Pricing(1.0, 1.0), cost=lambda o: 0.5)(out)
    call = only_call(recorder)
    assert call.cost_usd == pytest.approx(0.5)
    assert call.input_tokens == 1_000_000  # tokens are still read


PRICING = Pricing(input_per_mtok=3.0, output_per_mtok=15.0)
EXPECTED = (1000 * 3.0 + 200 * 15.0) / 1e6


@pytest.mark.parametrize(
    "output",
    [
        SimpleNamespace(usage=SimpleNamespace(prompt_tokens=1000, completion_tokens=200)),
        SimpleNamespace(usage=SimpleNamespace(input_tokens=1000, output_tokens=200)),
        SimpleNamespace(usage={"prompt_tokens": 1000, "completion_tokens": 200}),
        {"usage": {"input_tokens": 1000, "output_tokens": 200}},
        {"usage": SimpleNamespace(prompt_tokens=1000, completion_tokens=200)},
        {"text": "hi", "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total": 1200}},
    ],
    ids=["attr-openai", "attr-anthropic", "attr-dict", "dict-anthropic", "dict-attr", "extra"],
)
def test_pricing_with_each_usage_shape(recorder: CaseRecorder, output: Any) -> None:
    assert Model(echo, pricing=PRICING)(output) is output
    call = only_call(recorder)
    assert call.input_tokens == 1000
    assert call.output_tokens == 200
    assert call.cost_usd == pytest.approx(EXPECTED)
    assert call.cost_error is None


class Hostile:
    @property
    def usage(self) -> Any:
        raise RuntimeError("property exploded")


@pytest.mark.parametrize(
    "output",
    [
        None,
        42,
        "plain text",
        object(),
        Hostile(),
        {"usage": None},
        {"usage": {"prompt_tokens": "12", "completion_tokens": 3.5}},
        {"usage": {"prompt_tokens": True, "completion_tokens": False}},
        {"usage": {"prompt_tokens": -1, "completion_tokens": -2}},
        SimpleNamespace(usage=7),
    ],
)
def test_pricing_with_garbage_output(recorder: CaseRecorder, output: Any) -> None:
    assert Model(echo, pricing=PRICING)(output) is output
    call = only_call(recorder)
    assert call.ok is True
    assert call.cost_usd is None
    counts = isinstance(output, dict) and output["usage"] is not None
    if counts:  # the usage is there, its counts are not: say which and what they are
        assert call.cost_error is not None
        assert call.cost_error.startswith("invalid token usage in the response: the input "
                                          "(prompt) token count prompt_tokens=")  # fmt: skip
        assert "completion_tokens=" in call.cost_error
        assert "is not an int >= 0" in call.cost_error
    else:
        assert call.cost_error == "no token usage in the response"
    assert call.input_tokens is None
    assert call.output_tokens is None


def test_pricing_with_half_the_usage(recorder: CaseRecorder) -> None:
    Model(echo, pricing=PRICING)({"usage": {"prompt_tokens": 10}})
    call = only_call(recorder)
    assert call.input_tokens == 10
    assert call.output_tokens is None
    assert call.cost_usd is None
    assert call.cost_error is not None
    assert call.cost_error.startswith("no token usage in the response")
    assert "output" in call.cost_error


def test_tokens_recorded_without_pricing(recorder: CaseRecorder) -> None:
    Model(echo)({"usage": {"input_tokens": 5, "output_tokens": 7}})
    call = only_call(recorder)
    assert (call.input_tokens, call.output_tokens) == (5, 7)
    assert call.cost_usd is None
    assert call.cost_error is None


def test_failed_call_has_no_cost(recorder: CaseRecorder) -> None:
    with pytest.raises(ValueError):
        Model(Flaky(5), pricing=PRICING, cost=lambda o: 1.0)("q")
    call = only_call(recorder)
    assert call.cost_usd is None
    assert call.cost_error is None


def test_find_usage_never_raises() -> None:
    assert find_usage(None) == (None, None)
    assert find_usage(Hostile()) == (None, None)
    assert find_usage({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}) == (3, 4)


def test_pricing_cost_and_validation() -> None:
    p = Pricing(input_per_mtok=2, output_per_mtok=8)
    assert isinstance(p.input_per_mtok, float)
    assert p.cost(1_000_000, 500_000) == pytest.approx(6.0)
    assert p.cost(0, 0) == 0.0
    with pytest.raises(AttributeError):
        p.input_per_mtok = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="input_per_mtok"):
        Pricing(-1.0, 1.0)
    with pytest.raises(ValueError, match="output_per_mtok"):
        Pricing(1.0, math.nan)
    with pytest.raises(TypeError, match="input_per_mtok"):
        Pricing("3", 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Pricing(True, 1.0)
    with pytest.raises(ValueError):
        p.cost(-1, 0)
    with pytest.raises(TypeError):
        p.cost(1.5, 0)  # type: ignore[arg-type]


# -- warm-up and spend cap -------------------------------------------------------------------


def test_call_outside_a_case_is_warmup() -> None:
    m = Model(echo, cost=lambda o: 0.25)
    assert m("x") == "x"
    assert recording.spend().warmup_calls == 1
    assert recording.spend().total_usd == pytest.approx(0.25)
    rec = CaseRecorder()
    recording.activate(rec)
    m("y")
    assert len(rec.calls) == 1
    assert recording.spend().warmup_calls == 1


def test_spend_cap_stops_calls(recorder: CaseRecorder) -> None:
    recording.spend().reset(cap_usd=0.002)
    fn = Flaky(0)
    m = Model(fn, cost=lambda o: 0.001)
    m("a")
    m("b")
    with pytest.raises(SpendCapReached):
        m("c")
    with pytest.raises(SpendCapReached):
        asyncio.run(m.acall("d"))
    assert fn.calls == 2
    assert len(recorder.calls) == 2


def test_spend_cap_reached_between_retries(recorder: CaseRecorder) -> None:
    recording.spend().reset(cap_usd=1.0)

    def fn() -> None:
        recording.spend().add(5.0)  # another thread spent the budget meanwhile
        raise ValueError("first attempt failed")

    with pytest.raises(SpendCapReached) as info:
        Model(fn, retries=3)()
    assert not recorder.is_model_exception(info.value)
    call = only_call(recorder)
    assert call.ok is False
    assert call.error == "ValueError"
    assert call.retries == 0


def test_calls_in_flight_hold_their_expected_cost_against_the_cap(
    recorder: CaseRecorder,
) -> None:
    """Threads calling at once stop after as many calls as one thread would: a call that
    has passed its check holds the mean cost so far until its own cost is recorded
    (without that, every thread past its check made one call more)."""
    recording.spend().reset(cap_usd=0.05)
    started = threading.Barrier(4)
    m = Model(echo, cost=lambda o: 0.01)
    m("first")  # the mean cost per call is known from here

    def slow(x: Any) -> Any:
        started.wait(timeout=10)
        time.sleep(0.05)
        return x

    slow_model = Model(slow, cost=lambda o: 0.01)
    results: list[str] = []

    def worker() -> None:
        try:
            slow_model("x")
            results.append("ok")
        except SpendCapReached:
            results.append("cap")

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["cap"] * 2 + ["ok"] * 4
    assert recording.spend().total_usd == pytest.approx(0.05)
    with pytest.raises(SpendCapReached, match=r"\$0\.0500 spent of \$0\.0500"):
        m("after")


def test_a_reservation_is_given_back_when_the_call_fails(recorder: CaseRecorder) -> None:
    recording.spend().reset(cap_usd=0.03)
    m = Model(echo, cost=lambda o: 0.01)
    m("a")

    def broken(x: Any) -> Any:
        raise ValueError("no")

    for _ in range(5):  # each failed call spends nothing and keeps nothing reserved
        with pytest.raises(ValueError):
            Model(broken)("x")
    m("b")
    m("c")
    with pytest.raises(SpendCapReached):
        m("d")
    assert recording.spend().total_usd == pytest.approx(0.03)


# -- validation and repr -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fn": 42}, TypeError, "callable"),
        ({"name": ""}, TypeError, "name"),
        ({"name": 3}, TypeError, "name"),
        ({"version": 2}, TypeError, "version"),
        ({"timeout_s": 0}, ValueError, "timeout_s"),
        ({"timeout_s": -1.0}, ValueError, "timeout_s"),
        ({"timeout_s": math.inf}, ValueError, "timeout_s"),
        ({"timeout_s": math.nan}, ValueError, "timeout_s"),
        ({"timeout_s": "5"}, TypeError, "timeout_s"),
        ({"timeout_s": True}, TypeError, "timeout_s"),
        ({"retries": -1}, ValueError, "retries"),
        ({"retries": 1.5}, TypeError, "retries"),
        ({"retries": True}, TypeError, "retries"),
        ({"pricing": {"input_per_mtok": 1}}, TypeError, "Pricing"),
        ({"cost": 0.01}, TypeError, "cost"),
    ],
)
def test_validation(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    fn = kwargs.pop("fn", echo)
    with pytest.raises(error, match=match):
        Model(fn, **kwargs)


def test_names_and_repr() -> None:
    class Client:
        def __call__(self, x: Any) -> Any:
            return x

    assert Model(echo).name == "echo"
    assert Model(Client()).name == "test_names_and_repr.<locals>.Client"
    assert Model(functools.partial(echo)).name == "echo"
    m = Model(echo, name="gpt-x", version="2024-05", timeout_s=2, retries=1)
    assert m.version == "2024-05"
    assert m.timeout_s == 2.0
    assert m.retries == 1
    assert repr(m) == "Model('gpt-x', version='2024-05', timeout_s=2, retries=1)"
    assert repr(Model(echo)) == "Model('echo')"


# -- concurrency and lightness ----------------------------------------------------------------


@pytest.mark.parametrize("timeout_s", [None, 5.0])
def test_concurrent_calls_from_threads_are_all_recorded(
    recorder: CaseRecorder, timeout_s: float | None
) -> None:
    m = Model(
        lambda x: {"usage": {"prompt_tokens": x, "completion_tokens": 1}}, timeout_s=timeout_s
    )
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                m(k * 100 + i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(recorder.calls) == 200
    assert sorted(c.input_tokens or 0 for c in recorder.calls) == sorted(
        k * 100 + i for k in range(8) for i in range(25)
    )


def test_model_module_imports_nothing_heavy() -> None:
    tree = ast.parse(Path(model_module.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & {"numpy", "scipy", "pytest", "_pytest", "pydantic"}


# ------------------------------------------------------------------ blocking async callables


async def _blocking(seconds: float = 0.4) -> str:
    time.sleep(seconds)  # blocks its event loop: no cancellation can reach it
    return "late"


def test_blocking_async_model_times_out_from_sync_code(recorder: CaseRecorder) -> None:
    """model(...) runs it on a private loop in a worker thread: released at the deadline."""
    m = Model(_blocking, timeout_s=0.05)
    start = time.perf_counter()
    with pytest.raises(ModelTimeout):
        m()
    assert time.perf_counter() - start < 0.35  # not the 0.4 s the coroutine blocks
    call = only_call(recorder)
    assert (call.ok, call.timed_out, call.error) == (False, True, "ModelTimeout")
    assert 0.05 <= call.latency_s < 0.05 + 0.5


def test_blocking_async_model_times_out_on_the_callers_loop(recorder: CaseRecorder) -> None:
    """acall holds the loop until the coroutine returns; its late result is still a timeout."""
    m = Model(_blocking, timeout_s=0.05, retries=1)
    with pytest.raises(ModelTimeout):
        asyncio.run(m.acall())
    call = only_call(recorder)
    assert (call.ok, call.timed_out, call.retries) == (False, True, 1)
    assert 0.1 <= call.latency_s < 0.1 + 0.5  # two attempts, each charged its timeout


def test_blocking_async_model_under_load_times_out() -> None:
    from pytest_prodgate.measure.load import run_load

    result = run_load(
        _blocking,
        [0.06],
        concurrency=1,
        requests=2,
        timeout_s=0.02,
        record=False,
    )
    assert [c[2:] for c in result.calls] == [(False, "TimeoutError")] * 2
    assert all(c[1] - c[0] == pytest.approx(0.02) for c in result.calls)


def test_await_limited_discards_a_result_that_arrives_late() -> None:
    from pytest_prodgate.measure.calling import Expired, await_limited

    async def main() -> None:
        assert await await_limited(asyncio.sleep(0, "on time"), 1.0) == "on time"
        with pytest.raises(Expired):
            await await_limited(_blocking(0.05), 0.01)

    asyncio.run(main())
