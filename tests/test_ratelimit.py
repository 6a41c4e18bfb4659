"""Rate limits: signals, Retry-After, backoff, the AIMD limiter, and Model's handling of 429/503."""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_prodgate.measure import model as model_module
from pytest_prodgate.measure import ratelimit, recording
from pytest_prodgate.measure.model import Model
from pytest_prodgate.measure.ratelimit import (
    Limiter,
    backoff_s,
    parse_retry_after,
    rate_limit_signal,
)
from pytest_prodgate.measure.recording import CaseRecorder


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


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits Model asks for, without waiting (no timing in tests)."""
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    async def fake_asleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(model_module.time, "sleep", fake_sleep)
    monkeypatch.setattr(model_module.asyncio, "sleep", fake_asleep)
    return waits


class HTTPError(Exception):
    def __init__(self, status: int, headers: dict[str, str] | None = None, **kw: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status
        self.response = SimpleNamespace(status_code=status, headers=headers or {})
        for k, v in kw.items():
            setattr(self, k, v)


# -- signals and Retry-After -------------------------------------------------------------


def test_parse_retry_after_seconds_ms_and_http_date() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "150", "retry-after": "9"}) == 0.15
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0
    for bad in ("soon", "-1", "nan", "inf"):
        assert parse_retry_after({"retry-after": bad}) is None
    assert parse_retry_after(None) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize(
    ("exc", "limited", "wait"),
    [
        (HTTPError(429, {"retry-after": "1.5"}), True, 1.5),
        (HTTPError(503), True, None),
        (HTTPError(500), False, None),
        (type("E", (Exception,), {"status": 429})(), True, None),
        (type("R", (Exception,), {"response": SimpleNamespace(status_code=429)})(), True, None),
        (type("R", (Exception,), {"retry_after": 4})(), False, None),
        (ValueError("x"), False, None),
    ],
)
def test_rate_limit_signal_from_status_response_or_none(
    exc: Exception, limited: bool, wait: float | None
) -> None:
    assert rate_limit_signal(exc) == (limited, wait)


def test_rate_limit_signal_from_listed_classes_and_their_hints() -> None:
    class Throttled(Exception):
        retry_after = 2

    assert rate_limit_signal(Throttled(), (Throttled,)) == (True, 2.0)
    assert rate_limit_signal(Throttled()) == (False, None)
    headers_only = type("H", (Exception,), {"headers": {"retry-after": "5"}, "status": 503})()
    assert rate_limit_signal(headers_only) == (True, 5.0)


def test_backoff_has_full_jitter_and_a_cap() -> None:
    rng = random.Random(0)
    for step in range(12):
        top = min(ratelimit.BACKOFF_CAP_S, ratelimit.BACKOFF_BASE_S * 2**step)
        values = [backoff_s(step, rng) for _ in range(200)]
        assert all(0.001 <= v <= top for v in values)
        assert max(values) > top / 2  # jittered over the whole range, not a constant
    assert backoff_s(10_000, rng) <= ratelimit.BACKOFF_CAP_S


# -- the limiter -------------------------------------------------------------------------


def test_limiter_cuts_once_per_generation_and_grows_back_to_the_ceiling() -> None:
    lim = Limiter(ceiling=10)
    gens = [lim.acquire() for _ in range(10)]
    assert lim.try_acquire() is None  # 10 in flight: full
    lim.release(gens[0], limited=True)  # 10 in flight at the cut -> 8
    assert lim.limit == 8
    assert lim.cuts == 1
    for g in gens[1:5]:  # same generation: no further cut
        lim.release(g, limited=True)
    assert lim.limit == 8
    assert lim.cuts == 1
    for g in gens[5:]:
        lim.release(g, limited=False)
    assert lim.active == 0
    # 8 successes in a row raise the limit by one, up to the ceiling and no further.
    for _ in range(200):
        lim.release(lim.acquire(), limited=False)
    assert lim.limit == 10
    g = lim.acquire()
    lim.release(g, limited=True)  # a new generation cuts again: 1 in flight -> floor 1
    assert lim.limit == 1
    assert lim.cuts == 2


def test_limiter_without_ceiling_is_unbounded_until_a_cut() -> None:
    lim = Limiter()
    gens = [lim.acquire() for _ in range(100)]
    lim.release(gens[0], limited=True)
    assert lim.limit == 80
    lim.set_ceiling(4)
    assert lim.limit == 4


def test_limiter_async_acquire_waits_without_blocking_the_loop() -> None:
    lim = Limiter(ceiling=1)

    async def main() -> list[str]:
        order: list[str] = []
        g = await lim.acquire_async()

        async def second() -> None:
            g2 = await lim.acquire_async()
            order.append("second")
            lim.release(g2, limited=False)

        task = asyncio.ensure_future(second())
        await asyncio.sleep(0.02)
        order.append("first releases")
        lim.release(g, limited=False)
        await task
        return order

    assert asyncio.run(main()) == ["first releases", "second"]


# -- Model -------------------------------------------------------------------------------


def scripted(*errors: Exception | None) -> Any:
    """A callable failing with ``errors`` in order (``None``: succeed), then succeeding."""
    queue = list(errors)
    calls: list[int] = []

    def fn(x: Any) -> Any:
        calls.append(1)
        exc = queue.pop(0) if queue else None
        if exc is not None:
            raise exc
        return {"text": x, "usage": {"prompt_tokens": 3, "completion_tokens": 2}}

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def test_429_waits_for_retry_after_and_does_not_use_up_retries(
    recorder: CaseRecorder, sleeps: list[float]
) -> None:
    fn = scripted(HTTPError(429, {"retry-after": "1.5"}), HTTPError(503, {"retry-after": "2"}))
    out = Model(fn, retries=0)("q")
    assert out["text"] == "q"
    assert sleeps == [1.5, 2.0]
    (call,) = recorder.calls
    assert call.ok
    assert call.retries == 0
    assert call.rate_limited == 2
    assert call.throttled_s >= 3.5  # the waits, whatever the clock did
    assert call.input_tokens == 3
    assert call.error is None


def test_429_without_retry_after_backs_off_with_jitter(
    recorder: CaseRecorder, sleeps: list[float]
) -> None:
    fn = scripted(HTTPError(429), HTTPError(429), HTTPError(429))
    Model(fn)("q")
    assert len(sleeps) == 3
    for step, wait in enumerate(sleeps):
        assert 0.001 <= wait <= ratelimit.BACKOFF_BASE_S * 2**step
    assert recorder.calls[0].rate_limited == 3


def test_rate_limit_and_ordinary_retries_are_counted_apart(
    recorder: CaseRecorder, sleeps: list[float]
) -> None:
    fn = scripted(ConnectionError("reset"), HTTPError(429, {"retry-after": "0"}))
    Model(fn, retries=1)("q")
    (call,) = recorder.calls
    assert (call.ok, call.retries, call.rate_limited) == (True, 1, 1)
    assert len(fn.calls) == 3


def test_listed_classes_are_rate_limits(recorder: CaseRecorder, sleeps: list[float]) -> None:
    class Busy(Exception):
        pass

    fn = scripted(Busy(), Busy())
    Model(fn, rate_limit_errors=(Busy,))("q")
    assert recorder.calls[0].rate_limited == 2
    assert recorder.calls[0].ok
    with pytest.raises(Busy):
        Model(scripted(Busy()), rate_limit_errors=())("q")


def test_still_rate_limited_after_the_timeout_fails_as_a_model_error(
    recorder: CaseRecorder, sleeps: list[float]
) -> None:
    fn = scripted(*[HTTPError(429, {"retry-after": "4"}) for _ in range(10)])
    with pytest.raises(HTTPError) as info:
        Model(fn, rate_limit_timeout_s=10)("q")
    assert recorder.is_model_exception(info.value)
    (call,) = recorder.calls
    assert not call.ok
    assert call.error == "HTTPError"
    assert call.rate_limited == 3
    assert sleeps == [4.0, 4.0]  # a third wait would pass 10 s


def test_throttled_time_is_not_latency(recorder: CaseRecorder) -> None:
    fn = scripted(HTTPError(429, {"retry-after": "0.3"}))
    Model(fn)("q")
    (call,) = recorder.calls
    assert call.throttled_s >= 0.3
    assert call.latency_s < call.throttled_s  # the successful attempt is instant


def test_async_model_handles_rate_limits(recorder: CaseRecorder, sleeps: list[float]) -> None:
    queue: list[Exception] = [HTTPError(429, {"retry-after": "0.5"})]

    async def fn(x: Any) -> Any:
        if queue:
            raise queue.pop()
        return x

    assert asyncio.run(Model(fn).acall("q")) == "q"
    assert sleeps == [0.5]
    assert recorder.calls[0].rate_limited == 1


def test_a_429_cuts_the_models_limit(recorder: CaseRecorder, sleeps: list[float]) -> None:
    model = Model(scripted(HTTPError(429, {"retry-after": "0"})))
    model.limiter.set_ceiling(8)
    model("q")
    # cut to 1 (one attempt in flight), then the success grows it by one
    assert model.limiter.cuts == 1
    assert model.limiter.limit == 2


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"rate_limit_errors": (int,)}, TypeError),
        ({"rate_limit_errors": ("x",)}, TypeError),
        ({"rate_limit_timeout_s": 0}, ValueError),
        ({"rate_limit_timeout_s": "5"}, TypeError),
    ],
)
def test_bad_rate_limit_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error, match="rate_limit"):
        Model(lambda x: x, **kwargs)


def test_calls_in_flight_are_counted(recorder: CaseRecorder) -> None:
    seen: list[int] = []

    def fn(x: Any) -> Any:
        seen.append(recording.calls_in_flight())
        return x

    Model(fn)("q")
    assert seen == [1]
    assert recorder.calls[0].in_flight == 1
    assert recording.calls_in_flight() == 0


def test_limiter_acquire_waits_for_a_release_when_full() -> None:
    import threading

    lim = Limiter(ceiling=1)
    first = lim.acquire()
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(lim.acquire()))
    waiter.start()
    while lim._waiting == 0:  # the waiter is blocked on the full limit
        waiter.join(0.001)
    assert got == []
    lim.release(first, limited=False)
    waiter.join(5)
    assert got == [lim.generation]
    assert lim.active == 1
    assert lim._waiting == 0
