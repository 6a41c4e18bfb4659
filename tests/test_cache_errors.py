"""Failed calls in the journal, and ``--prodgate-cache-errors`` replaying them (SPEC §12)."""

from __future__ import annotations

import asyncio
import builtins
import json
import math
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_prodgate import Model, ModelTimeout, ReplayedModelError
from pytest_prodgate.measure import recording, replay
from pytest_prodgate.measure.cache import Journal
from pytest_prodgate.measure.replayed import replay_class, replayed_failure


def _failure(key: str, error: str = "ConnectionError", **call: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "key": key,
        "model": "m",
        "version": "1",
        "recorded_at": "2026-12-02T14:00:00+00:00",
        "call": {
            "ok": False,
            "error": error,
            "error_message": "upstream down",
            "timed_out": False,
            "latency_s": 0.25,
            "retries": 2,
            **call,
        },
    }


def _success(key: str, text: str = "ok") -> dict[str, Any]:
    return {
        "v": 1,
        "key": key,
        "model": "m",
        "version": "1",
        "recorded_at": "2026-12-02T14:00:00+00:00",
        "call": {"latency_s": 0.5, "retries": 0, "cost_usd": 0.5},
        "response": {"json": text},
    }


def _loaded(tmp_path: Path, *records: dict[str, Any]) -> Journal:
    journal = Journal(tmp_path)
    with open(journal.path, "a", encoding="utf-8") as fh:  # NaN as Python writes it
        fh.write("".join(json.dumps(r) + "\n" for r in records))
    journal.load()
    return journal


# ------------------------------------------------------------------------- reading records


def test_a_failed_record_loads_back_with_its_error_and_no_response(tmp_path: Path) -> None:
    journal = _loaded(tmp_path, _failure("k", timed_out=True, cost_usd=None))
    assert journal.problems == []
    entry = journal.entries["k"]
    assert entry.failed
    assert entry.response is None
    assert entry.call["error"] == "ConnectionError"
    assert entry.call["error_message"] == "upstream down"
    assert entry.call["timed_out"] is True
    assert (entry.call["latency_s"], entry.call["retries"]) == (0.25, 2)


_NAME = "a failed call's must be the name of its exception class"
_MESSAGE = "a failed call's must be a string of at most 500 characters"
_NONE = "a failed call returned no response, so it must be null"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"error": None}, f"bad call.error (null: {_NAME})"),
        ({"error": 3}, f"bad call.error (3: {_NAME})"),
        ({"error": "os.system()"}, f'bad call.error ("os.system()": {_NAME})'),
        ({"error": "E" * 201}, f'bad call.error ("{"E" * 36}...: {_NAME})'),
        ({"error_message": None}, f"bad call.error_message (null: {_MESSAGE})"),
        ({"error_message": ["x"]}, f'bad call.error_message (["x"]: {_MESSAGE})'),
        ({"error_message": "x" * 501}, f'bad call.error_message ("{"x" * 36}...: {_MESSAGE})'),
        ({"timed_out": "no"}, 'bad call.timed_out ("no": a failed call\'s must be true or false)'),
        ({"timed_out": None}, "bad call.timed_out (null: a failed call's must be true or false)"),
        ({"cost_usd": 0.5}, f"bad call.cost_usd (0.5: {_NONE})"),
        ({"cost_error": "x"}, f'bad call.cost_error ("x": {_NONE})'),
        ({"input_tokens": 3}, f"bad call.input_tokens (3: {_NONE})"),
        ({"output_tokens": 0}, f"bad call.output_tokens (0: {_NONE})"),
        (
            {"latency_s": math.nan},
            "bad call.latency_s (NaN: must be a number of seconds from 0 to under 86,400, a day)",
        ),
        ({"retries": -1}, "bad call.retries (-1: must be null or a whole number >= 0)"),
        ({"exception": "gASV"}, "unknown field call.exception (a figure this run cannot replay)"),
    ],
)
def test_every_field_of_a_failed_record_is_checked_and_a_bad_one_is_named(
    tmp_path: Path, change: dict[str, Any], why: str
) -> None:
    journal = _loaded(tmp_path, _success("good"), _failure("bad", **change))
    assert set(journal.entries) == {"good"}
    assert journal.problems == [f"{journal.path}:2: {why}: skipped"]


def test_a_failed_record_with_a_response_is_refused(tmp_path: Path) -> None:
    record = {**_failure("bad"), "response": {"json": "x"}}
    journal = _loaded(tmp_path, record)
    assert journal.entries == {}
    assert journal.problems == [
        f'{journal.path}:1: bad response ({{"json": "x"}}: a failed call has none): skipped'
    ]


@pytest.mark.parametrize(
    "order", [("success", "failure"), ("failure", "success"), ("failure", "success", "failure")]
)
def test_a_recorded_success_always_wins_over_a_recorded_failure(
    tmp_path: Path, order: tuple[str, ...]
) -> None:
    records = [_success("k") if kind == "success" else _failure("k") for kind in order]
    journal = _loaded(tmp_path, *records)
    assert not journal.entries["k"].failed
    assert journal.entries["k"].response == {"json": "ok"}


def test_of_failures_alone_the_last_one_wins(tmp_path: Path) -> None:
    journal = _loaded(tmp_path, _failure("k", "ValueError"), _failure("k", "KeyError"))
    assert journal.entries["k"].call["error"] == "KeyError"


# ------------------------------------------------------------------------- the exception


def _builtin_exceptions() -> list[str]:
    return sorted(
        name
        for name, obj in vars(builtins).items()
        if isinstance(obj, type) and issubclass(obj, Exception)
    )


@pytest.mark.parametrize("name", _builtin_exceptions())
def test_a_replayed_builtin_exception_is_named_like_it_and_caught_like_it(name: str) -> None:
    exc = replayed_failure(name, "the message", model="m", recorded_at="t", timed_out=False)
    assert type(exc).__name__ == name
    assert str(exc) == "the message"
    assert isinstance(exc, ReplayedModelError)
    # These two cannot be made from a message (a list of exceptions; a preallocated
    # instance): their replays are ReplayedModelErrors named like them, nothing more.
    assert isinstance(exc, vars(builtins)[name]) == (name not in ("ExceptionGroup", "MemoryError"))
    back = pickle.loads(pickle.dumps(exc))
    assert (type(back), str(back), back.error) == (type(exc), "the message", name)


def test_a_replayed_class_the_plugin_cannot_rebuild_is_a_replayed_model_error_named_like_it() -> (
    None
):
    for name in ("RateLimitError", "print", "system", "__import__"):
        exc = replayed_failure(name, "slow down", model="m", recorded_at="t", timed_out=False)
        assert type(exc).__name__ == name
        assert type(exc).__mro__[1] is ReplayedModelError  # nothing it names is a base
        assert str(exc) == "slow down"
    assert replay_class("RateLimitError") is replay_class("RateLimitError")


def test_a_replayed_timeout_is_a_model_timeout() -> None:
    message = "model 'm' did not answer within timeout_s=2 s"
    exc = replayed_failure(
        "ModelTimeout", message, model="m", recorded_at="t", timed_out=True, timeout_s=2.0
    )
    assert isinstance(exc, ModelTimeout)
    assert isinstance(exc, TimeoutError)
    assert (exc.timeout_s, exc.timed_out, str(exc)) == (2.0, True, message)


# ------------------------------------------------------------------------- through Model


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "cache")
    replay.activate(journal)
    recording.spend().reset()
    yield journal
    replay.deactivate()
    recording.deactivate()
    recording.spend().reset()


def _reload(journal: Journal, *, errors: bool, mode: replay.CacheMode = "use") -> None:
    fresh = Journal(journal.directory)
    fresh.load()
    replay.activate(fresh, mode, errors=errors)


class Flaky:
    """Fails with ``exc`` until ``fail`` is set to ``None``."""

    def __init__(self, exc: Exception | None) -> None:
        self.fail = exc
        self.calls = 0

    def __call__(self, prompt: str) -> dict[str, Any]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return {"text": prompt}


def _call(model: Model, prompt: str = "q") -> tuple[Any, BaseException | None, Any]:
    rec = recording.CaseRecorder()
    replay.bind(rec, "c", 0)
    recording.activate(rec)
    try:
        return model(prompt), None, rec
    except Exception as exc:
        return None, exc, rec
    finally:
        recording.deactivate()
        replay.unbind(rec)


def _lines(journal: Journal) -> list[dict[str, Any]]:
    return [json.loads(line) for line in journal.path.read_text().splitlines()]


def test_a_failed_call_is_journaled_with_its_error_redacted(
    cache: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVC_API_KEY", "supersecretvalue123")
    fn = Flaky(ConnectionError("refused for key supersecretvalue123"))
    _, exc, rec = _call(Model(fn, name="m", version="1", retries=1))
    assert isinstance(exc, ConnectionError)
    [record] = _lines(cache)
    assert "supersecretvalue123" not in cache.path.read_text()
    assert "response" not in record
    call = record["call"]
    assert call["ok"] is False
    assert call["error"] == "ConnectionError"
    assert call["error_message"] == "refused for key [REDACTED]"
    assert (call["timed_out"], call["retries"]) == (False, 1)
    assert call["latency_s"] == rec.calls[0].latency_s


def test_without_cache_errors_a_recorded_failure_is_called_again(cache: Journal) -> None:
    fn = Flaky(ConnectionError("down"))
    model = Model(fn, name="m", version="1")
    _call(model)
    _reload(cache, errors=False)
    fn.fail = None
    out, exc, rec = _call(model)
    assert (out, exc, fn.calls) == ({"text": "q"}, None, 2)
    assert not rec.calls[0].replayed
    assert replay.failures_called() == 1
    # The success now recorded is what replays, with or without --prodgate-cache-errors.
    for errors in (False, True):
        _reload(cache, errors=errors)
        out, exc, rec = _call(model)
        assert (out, exc, fn.calls) == ({"text": "q"}, None, 2)
        assert rec.calls[0].replayed
        assert rec.calls[0].ok


def test_with_cache_errors_a_recorded_failure_replays_as_that_failure(cache: Journal) -> None:
    fn = Flaky(ConnectionError("upstream down"))
    model = Model(fn, name="m", version="1", retries=2)
    _, first, rec1 = _call(model)
    _reload(cache, errors=True)
    recording.spend().reset(cap_usd=0.0)  # a replay needs no spend
    _, again, rec2 = _call(model)
    assert fn.calls == 3  # the three attempts of the first call, none since
    assert isinstance(again, ReplayedModelError)
    assert isinstance(again, ConnectionError)
    assert (type(again).__name__, str(again)) == ("ConnectionError", str(first))
    assert (again.error, again.model, again.timed_out) == ("ConnectionError", "m", False)
    assert rec2.is_model_exception(again)  # scored as a model error, as the first time
    a, b = rec1.calls[0], rec2.calls[0]
    assert (b.ok, b.replayed, b.recorded_at is not None) == (False, True, True)
    for name in ("latency_s", "retries", "error", "error_message", "timed_out", "cost_usd"):
        assert getattr(b, name) == getattr(a, name)
    assert len(_lines(cache)) == 1  # a replay writes nothing


def test_a_replayed_timeout_is_raised_as_a_model_timeout(cache: Journal) -> None:
    import time

    model = Model(lambda q: time.sleep(1), name="slow", version="1", timeout_s=0.05)
    _, first, _ = _call(model)
    assert isinstance(first, ModelTimeout)
    _reload(cache, errors=True)
    _, again, rec = _call(model)
    assert isinstance(again, ModelTimeout)
    assert isinstance(again, ReplayedModelError)
    assert str(again) == str(first)
    assert rec.calls[0].timed_out
    assert rec.calls[0].latency_s == pytest.approx(0.05, abs=0.02)


def test_refresh_journals_failures_but_never_replays_them(cache: Journal) -> None:
    fn = Flaky(ValueError("bad"))
    model = Model(fn, name="m", version="1")
    _reload(cache, errors=True, mode="refresh")
    _call(model)
    _call(model)
    assert fn.calls == 2
    assert [r["call"]["ok"] for r in _lines(cache)] == [False, False]


def test_a_call_cut_short_by_the_spend_cap_is_not_journaled(cache: Journal) -> None:
    def fn(q: str) -> str:
        recording.spend().add(1.0)  # the first attempt spends the cap
        raise ConnectionError("down")

    recording.spend().reset(cap_usd=0.5)
    _, exc, rec = _call(Model(fn, name="m", version="1", retries=3))
    assert isinstance(exc, recording.SpendCapReached)
    assert not rec.calls[0].ok
    assert cache.path.read_text() == ""


def test_an_async_model_replays_a_recorded_failure_through_acall(cache: Journal) -> None:
    calls: list[str] = []

    async def fn(q: str) -> str:
        calls.append(q)
        raise KeyError(q)

    model = Model(fn, name="am", version="1")
    rec = recording.CaseRecorder()
    replay.bind(rec, "c", 0)
    recording.activate(rec)
    try:
        with pytest.raises(KeyError):
            asyncio.run(model.acall("q"))
        _reload(cache, errors=True)
        replay.bind(rec, "c", 1)  # another trial: a miss, called
        with pytest.raises(KeyError):
            asyncio.run(model.acall("q"))
        replay.bind(rec, "c", 0)
        with pytest.raises(ReplayedModelError) as info:
            asyncio.run(model.acall("q"))
    finally:
        recording.deactivate()
    assert calls == ["q", "q"]
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "'q'"
    assert [c.replayed for c in rec.calls] == [False, False, True]
