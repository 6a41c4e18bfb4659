"""The response journal (measure/cache.py) and replaying calls through Model (measure/replay.py)."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pydantic
import pytest

from pytest_prodgate import Model, Pricing
from pytest_prodgate.measure import recording, replay
from pytest_prodgate.measure.cache import (
    JOURNAL_NAME,
    Journal,
    JournalError,
    Unstorable,
    decode_response,
    encode_response,
    redacted,
)
from pytest_prodgate.schema.redact import redactor


class Answer(pydantic.BaseModel):
    text: str
    usage: dict[str, int]


def _record(key: str, latency_s: float = 0.25, text: str = "ok") -> dict[str, Any]:
    return {
        "v": 1,
        "key": key,
        "model": "m",
        "version": "1",
        "recorded_at": "2026-12-02T14:00:00+00:00",
        "call": {"latency_s": latency_s, "retries": 0, "cost_usd": 0.5},
        "response": {"json": text},
    }


# ------------------------------------------------------------------------- encoding


@pytest.mark.parametrize(
    "value", ["text", 3, 2.5, None, True, {"a": [1, {"b": None}]}, [1, "x", 2.0]]
)
def test_json_values_round_trip_exactly(value: Any) -> None:
    back = decode_response(json.loads(json.dumps(encode_response(value))))
    assert back == value
    assert type(back) is type(value)


def test_a_decoded_response_is_a_fresh_copy_each_time() -> None:
    record = encode_response({"items": [1, 2]})
    first = decode_response(record)
    first["items"].append(3)
    assert decode_response(record) == {"items": [1, 2]}


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ((1, 2), "does not survive JSON unchanged"),
        ({1: "a"}, "does not survive JSON unchanged"),
        (object(), "is not JSON"),
        (float("nan"), "is not JSON"),
        ({1, 2}, "is not JSON"),
    ],
)
def test_responses_json_cannot_hold_faithfully_are_unstorable(value: Any, why: str) -> None:
    with pytest.raises(Unstorable, match=why):
        encode_response(value)


def test_a_pydantic_response_round_trips_through_its_already_imported_class() -> None:
    answer = Answer(text="hi", usage={"prompt_tokens": 3})
    record = json.loads(json.dumps(encode_response(answer)))
    assert record["pydantic"] == f"{__name__}:Answer"
    back = decode_response(record)
    assert isinstance(back, Answer)
    assert back == answer


def test_loading_never_imports_a_module_the_journal_names() -> None:
    with pytest.raises(Unstorable, match="not imported in this run"):
        decode_response({"pydantic": "prodgate_no_such_module_xyz:Thing", "data": {}})
    with pytest.raises(Unstorable, match="not a pydantic model class"):
        decode_response({"pydantic": "os:system", "data": "echo hacked"})
    assert "prodgate_no_such_module_xyz" not in sys.modules


class _LooksLikeAModel:
    """Not pydantic, yet it has a ``model_validate``: the journal must not call it."""

    called: ClassVar[list[Any]] = []

    @classmethod
    def model_validate(cls, data: Any) -> Any:
        cls.called.append(data)
        return data


def test_loading_calls_nothing_but_model_validate_of_an_imported_pydantic_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked_up: list[str] = []
    lazy = types.ModuleType("prodgate_lazy_module")

    def __getattr__(name: str) -> Any:  # a module that imports on attribute access
        looked_up.append(name)
        return Answer

    lazy.__getattr__ = __getattr__  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "prodgate_lazy_module", lazy)
    with pytest.raises(Unstorable, match="not a pydantic model class"):
        decode_response({"pydantic": "prodgate_lazy_module:Answer", "data": {}})
    assert looked_up == []
    with pytest.raises(Unstorable, match="not a pydantic model class"):
        decode_response({"pydantic": f"{__name__}:_LooksLikeAModel", "data": "echo hacked"})
    assert _LooksLikeAModel.called == []
    for bad in ("os:system; rm", "os", ":x", "os:", 3):
        with pytest.raises(Unstorable, match="not a module:Class name"):
            decode_response({"pydantic": bad, "data": {}})
    with pytest.raises(Unstorable, match=r"unknown codec .'pickle'; .* never unpickles"):
        decode_response({"pickle": "gASVIAAAAAAAAACMAm9zlIwGc3lzdGVtlJOUjAhlY2hvIGhplIWUUpQu"})


# ------------------------------------------------------------------------- the journal


def test_records_append_and_load_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "c")
    journal.append(_record("k1"))
    journal.append(_record("k2", 0.5))
    again = Journal(tmp_path / "c")
    again.load()
    assert again.problems == []
    assert set(again.entries) == {"k1", "k2"}
    assert again.entries["k2"].call["latency_s"] == 0.5
    assert again.entries["k2"].recorded_at == "2026-12-02T14:00:00+00:00"


def test_the_last_record_of_a_key_wins(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(_record("k", text="old"))
    journal.append(_record("k", text="new"))
    journal.load()
    assert journal.entries["k"].response == {"json": "new"}


def test_a_torn_last_line_is_skipped_and_the_next_append_keeps_every_good_record(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path)
    journal.append(_record("k1"))
    with open(journal.path, "ab") as fh:  # a crash in the middle of a write
        fh.write(json.dumps(_record("k2")).encode()[:40])
    torn = Journal(tmp_path)
    torn.load()
    assert set(torn.entries) == {"k1"}
    assert torn.problems == [
        f"{journal.path}:2: incomplete last record (a crash while writing?): skipped"
    ]
    torn.append(_record("k3"))
    after = Journal(tmp_path)
    after.load()
    assert set(after.entries) == {"k1", "k3"}
    assert len(after.problems) == 1
    assert after.problems[0].startswith(f"{journal.path}:2: not valid JSON")


def test_corrupt_lines_are_named_and_skipped_and_nothing_is_lost(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(_record("k1"))
    lines = [
        "{not json",
        json.dumps([1, 2]),
        json.dumps({**_record("k2"), "v": 99}),
        json.dumps({**_record("k3"), "call": {"latency_s": "fast"}}),
        json.dumps({k: v for k, v in _record("k4").items() if k != "response"}),
    ]
    with open(journal.path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    journal.append(_record("k5"))
    before = journal.path.read_bytes()
    loaded = Journal(tmp_path)
    loaded.load()
    assert set(loaded.entries) == {"k1", "k5"}
    assert [p.split(": ", 1)[0] for p in loaded.problems] == [
        f"{journal.path}:{n}" for n in range(2, 7)
    ]
    assert "not valid JSON" in loaded.problems[0]
    assert "not an object" in loaded.problems[1]
    assert "version 1" in loaded.problems[2]
    assert "bad call.latency_s" in loaded.problems[3]
    assert "no 'call' or 'response'" in loaded.problems[4]
    assert journal.path.read_bytes() == before  # never rewritten


_DAY = "must be a number of seconds from 0 to under 86,400, a day"
_USD = "must be null or a number of USD from 0 to under 10,000"
_COUNT = "must be null or a whole number >= 0"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"call": {"latency_s": math.nan}}, f"bad call.latency_s (NaN: {_DAY})"),
        ({"call": {"latency_s": math.inf}}, f"bad call.latency_s (Infinity: {_DAY})"),
        ({"call": {"latency_s": -math.inf}}, f"bad call.latency_s (-Infinity: {_DAY})"),
        ({"call": {"latency_s": 1e308}}, f"bad call.latency_s (1e+308: {_DAY})"),
        ({"call": {"latency_s": 86_400}}, f"bad call.latency_s (86400: {_DAY})"),
        ({"call": {"latency_s": -0.1}}, f"bad call.latency_s (-0.1: {_DAY})"),
        ({"call": {"latency_s": 10**400}}, f"bad call.latency_s ({'1' + '0' * 36}...: {_DAY})"),
        ({"call": {"latency_s": True}}, f"bad call.latency_s (true: {_DAY})"),
        ({"call": {}}, f"bad call.latency_s (null: {_DAY})"),
        ({"call": {"cost_usd": -5}}, f"bad call.cost_usd (-5: {_USD})"),
        ({"call": {"cost_usd": math.nan}}, f"bad call.cost_usd (NaN: {_USD})"),
        ({"call": {"cost_usd": 1e308}}, f"bad call.cost_usd (1e+308: {_USD})"),
        ({"call": {"cost_usd": "0.1"}}, f'bad call.cost_usd ("0.1": {_USD})'),
        ({"call": {"input_tokens": -1}}, f"bad call.input_tokens (-1: {_COUNT})"),
        ({"call": {"output_tokens": 2.0}}, f"bad call.output_tokens (2.0: {_COUNT})"),
        ({"call": {"output_tokens": 2**53}}, f"bad call.output_tokens ({2**53}: {_COUNT})"),
        ({"call": {"retries": -1}}, f"bad call.retries (-1: {_COUNT})"),
        ({"call": {"retries": False}}, f"bad call.retries (false: {_COUNT})"),
        ({"call": {"cost_error": 3}}, "bad call.cost_error (3: must be null or a string)"),
        (
            {"call": {"ok": False}},
            "bad call.error (null: a failed call's must be the name of its exception class)",
        ),
        ({"call": {"ok": "no"}}, 'bad call.ok ("no": must be true or false)'),
        (
            {"call": {"error": "Boom"}},
            'bad call.error ("Boom": a successful call has no error, so it must be null'
            " unless call.ok is false)",
        ),
        (
            {"call": {"timed_out": True}},
            "bad call.timed_out (true: a successful call has no error, so it must be false",
        ),
        ({"call": {"throttled_s": 1.0}}, "unknown field call.throttled_s (a figure this run"),
        ({"recorded_at": "yesterday"}, 'bad recorded_at ("yesterday": must be an ISO 8601'),
        ({"recorded_at": 1}, "bad recorded_at (1: must be an ISO 8601 date and time)"),
        (
            {"recorded_at": "2026-12-02T14:00:00"},
            'bad recorded_at ("2026-12-02T14:00:00": must give its UTC offset)',
        ),
        ({"model": 3}, "bad model (3: must be a string)"),
        ({"version": ["1"]}, 'bad version (["1"]: must be a string)'),
        ({"trial": -1}, "bad trial (-1: must be a whole number >= 0)"),
        ({"response": {"json": [1.0, math.nan]}}, "bad response (a number in it is not finite)"),
        ({"response": {"pickle": "gASV"}}, "bad response (unknown codec ('pickle'; this run"),
        ({"response": {"json": 1, "pickle": "x"}}, "bad response (unknown codec ('json', 'pickle'"),
        ({"response": {}}, "bad response (unknown codec (none;"),
        (
            {"response": {"pydantic": "os:system(1)", "data": {}}},
            "bad response ('pydantic' is not a module:Class name (\"os:system(1)\"))",
        ),
    ],
)
def test_every_field_a_replay_reuses_is_checked_and_a_bad_record_is_named_by_field(
    tmp_path: Path, change: dict[str, Any], why: str
) -> None:
    record = _record("bad")
    for name, value in change.items():
        record[name] = {**record[name], **value} if name == "call" and value else value
    journal = Journal(tmp_path)
    journal.append(_record("good"))
    with open(journal.path, "a", encoding="utf-8") as fh:  # NaN and Infinity as Python writes them
        fh.write(json.dumps(record) + "\n")
    journal.load()
    assert set(journal.entries) == {"good"}
    assert len(journal.problems) == 1
    assert journal.problems[0].startswith(f"{journal.path}:2: {why}")
    assert journal.problems[0].endswith(": skipped")


def test_every_figure_of_a_valid_record_loads_back_as_written(tmp_path: Path) -> None:
    record = _record("k")
    record["call"] = {
        "latency_s": 0,
        "retries": 2,
        "cost_usd": 0,
        "cost_error": None,
        "input_tokens": 0,
        "output_tokens": 5,
        "ok": True,
    }
    record["recorded_at"] = "2026-12-02T14:00:00Z"
    journal = Journal(tmp_path)
    journal.append(record)
    journal.load()
    assert journal.problems == []
    entry = journal.entries["k"]
    assert entry.call["retries"] == 2
    assert entry.where == f"{journal.path}:1"


# ------------------------------------------------------------------------- secrets


def test_redacted_cleans_every_string_keys_included_and_pairs_a_key_announces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SVC_API_KEY", "supersecretvalue123")
    value = {
        "debug": "Authorization: Bearer abcdefghijklmnop123",
        "tok": "supersecretvalue123",
        "api_key": "plainlookingvalue42",
        "nested": [{"supersecretvalue123": 1}, ["x supersecretvalue123 y"], 3, None, True],
    }
    assert redacted(value, redactor()) == {
        "debug": "Authorization: [REDACTED]",
        "tok": "[REDACTED]",
        "api_key": "[REDACTED]",
        "nested": [{"[REDACTED]": 1}, ["x [REDACTED] y"], 3, None, True],
    }
    with pytest.raises(Unstorable, match="would merge two of its keys"):
        redacted({"supersecretvalue123": 1, "[REDACTED]": 2}, redactor())


def test_a_directory_that_is_a_file_or_cannot_be_created_is_refused(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(JournalError, match="is a file, not a directory"):
        Journal(afile)
    with pytest.raises(JournalError, match="cannot write the journal"):
        Journal(afile / "sub")


def _writer(directory: str, worker: int, n: int) -> None:
    journal = Journal(Path(directory))
    for i in range(n):
        journal.append(_record(f"w{worker}-{i}", text="x" * 20_000))


def test_several_processes_append_to_one_journal_without_interleaving(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 60)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    journal = Journal(tmp_path)
    journal.load()
    assert journal.problems == []
    assert len(journal.entries) == 240
    assert len((tmp_path / JOURNAL_NAME).read_bytes().splitlines()) == 240


# ------------------------------------------------------------------------- replay through Model


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "cache")
    replay.activate(journal)
    recording.spend().reset()
    yield journal
    replay.deactivate()
    recording.deactivate()


def _reload(journal: Journal, mode: replay.CacheMode = "use") -> Journal:
    fresh = Journal(journal.directory)
    fresh.load()
    replay.activate(fresh, mode)
    return fresh


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, prompt: str) -> dict[str, Any]:
        self.calls += 1
        return {
            "text": f"{prompt}#{self.calls}",
            "usage": {"prompt_tokens": 3, "completion_tokens": 7},
        }


def _in_case(
    model: Model, *prompts: str, case: str = "c", trial: int = 0
) -> tuple[list[Any], recording.CaseRecorder]:
    rec = recording.CaseRecorder()
    replay.bind(rec, case, trial)
    recording.activate(rec)
    try:
        return [model(p) for p in prompts], rec
    finally:
        recording.deactivate()
        replay.unbind(rec)


def test_a_replay_returns_the_recorded_answer_with_its_recorded_figures_and_spends_nothing(
    cache: Journal,
) -> None:
    fn = Counting()
    model = Model(
        fn, name="m", version="1", pricing=Pricing(input_per_mtok=1000, output_per_mtok=1000)
    )
    first, rec1 = _in_case(model, "q")
    assert fn.calls == 1
    assert recording.spend().total_usd == pytest.approx(0.01)
    _reload(cache)
    recording.spend().reset(cap_usd=0.001)  # the cap is long reached: a replay needs no spend
    second, rec2 = _in_case(model, "q")
    assert fn.calls == 1
    assert second == first
    a, b = rec1.calls[0], rec2.calls[0]
    assert b.replayed
    assert not a.replayed
    assert b.recorded_at
    for name in ("latency_s", "retries", "cost_usd", "input_tokens", "output_tokens"):
        assert getattr(b, name) == getattr(a, name)
    assert recording.spend().total_usd == 0.0


def test_trials_and_repeated_calls_are_never_replays_of_each_other(cache: Journal) -> None:
    fn = Counting()
    model = Model(fn, name="m", version="1")
    t0, _ = _in_case(model, "q", "q", trial=0)
    t1, _ = _in_case(model, "q", trial=1)
    assert fn.calls == 3
    assert len({r["text"] for r in t0 + t1}) == 3
    _reload(cache)
    assert _in_case(model, "q", "q", trial=0)[0] == t0
    assert _in_case(model, "q", trial=1)[0] == t1
    assert fn.calls == 3
    _in_case(model, "q", trial=2)  # a new trial is a new key
    assert fn.calls == 4


def test_another_model_version_or_argument_or_case_is_a_miss(cache: Journal) -> None:
    fn = Counting()
    _in_case(Model(fn, name="m", version="1"), "q")
    _reload(cache)
    _in_case(Model(fn, name="m", version="2"), "q")
    _in_case(Model(fn, name="other", version="1"), "q")
    _in_case(Model(fn, name="m", version="1"), "q2")
    _in_case(Model(fn, name="m", version="1"), "q", case="another")
    assert fn.calls == 5


def test_an_unversioned_model_is_keyed_on_its_source_code() -> None:
    def one(x: str) -> str:
        return x

    def two(x: str) -> str:
        return x + "!"

    assert replay.model_version("m", "1", one) == "v:1"
    assert replay.model_version("m", None, one).startswith("source:")
    assert replay.model_version("m", None, one) != replay.model_version("m", None, two)
    assert replay.model_version("m", None, Counting()) == replay.model_version(
        "m", None, Counting()
    )


def test_refresh_calls_everything_again_and_the_new_record_wins(cache: Journal) -> None:
    fn = Counting()
    model = Model(fn, name="m", version="1")
    _in_case(model, "q")
    _reload(cache, "refresh")
    refreshed, _ = _in_case(model, "q")
    assert fn.calls == 2
    _reload(cache)
    assert _in_case(model, "q")[0] == refreshed
    assert fn.calls == 2


def test_an_unstorable_response_is_recorded_with_a_note_and_not_cached(cache: Journal) -> None:
    calls: list[int] = []

    def fn(x: str) -> object:
        calls.append(1)
        return object()

    model = Model(fn, name="opaque", version="1")
    _, rec = _in_case(model, "q")
    assert rec.calls[0].ok
    assert "not cached: a object is not JSON" in (rec.calls[0].cache_note or "")
    assert cache.path.read_text() == ""
    _reload(cache)
    _in_case(model, "q")
    assert len(calls) == 2


def test_no_secret_is_journaled_and_a_replay_returns_the_redacted_response(
    cache: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVC_API_KEY", "supersecretvalue123")

    def fn(x: str) -> Any:
        secret = "Authorization: Bearer abcdefghijklmnop123"
        if x == "typed":
            return Answer(text=f"{secret} {os.environ['SVC_API_KEY']}", usage={"t": 1})
        return {"debug": secret, "tok": os.environ["SVC_API_KEY"], "list": [secret]}

    def cost(output: Any) -> float:
        raise RuntimeError(f"pricing lookup failed with key {os.environ['SVC_API_KEY']}")

    model = Model(fn, name="m", version="1", cost=cost)
    fresh, rec = _in_case(model, "plain", "typed")
    assert fresh[0]["tok"] == "supersecretvalue123"  # the fresh call returns what the model did
    text = cache.path.read_text()
    assert len(text.splitlines()) == 2
    assert "supersecretvalue123" not in text
    assert "abcdefghijklmnop123" not in text
    assert text.count("[REDACTED]") == 5 + 2  # five in the responses, one per cost error
    _reload(cache)
    replayed, rec = _in_case(model, "plain", "typed")
    assert all(c.replayed for c in rec.calls)
    assert replayed[0] == {
        "debug": "Authorization: [REDACTED]",
        "tok": "[REDACTED]",
        "list": ["Authorization: [REDACTED]"],
    }
    assert replayed[1] == Answer(text="Authorization: [REDACTED] [REDACTED]", usage={"t": 1})
    assert "[REDACTED]" in (rec.calls[0].cost_error or "")


def test_failed_calls_are_not_cached(cache: Journal) -> None:
    calls: list[int] = []

    def fn(x: str) -> str:
        calls.append(1)
        raise ConnectionError("down")

    model = Model(fn, name="m", version="1")
    for _ in range(2):
        with pytest.raises(ConnectionError):
            _in_case(model, "q")
        _reload(cache)
    assert len(calls) == 2


async def _async_model(x: str) -> dict[str, str]:
    return {"text": x.upper()}


def test_async_models_replay_through_acall(cache: Journal) -> None:
    import asyncio

    model = Model(_async_model, name="am", version="1")
    [first], _ = _in_case(model, "q")
    assert first == {"text": "Q"}
    _reload(cache)
    rec = recording.CaseRecorder()
    replay.bind(rec, "c", 0)
    recording.activate(rec)
    try:
        again = asyncio.run(model.acall("q"))
    finally:
        recording.deactivate()
    assert again == first
    assert rec.calls[0].replayed


def test_no_active_cache_costs_one_check_and_records_nothing_extra() -> None:
    replay.deactivate()
    fn = Counting()
    model = Model(fn, name="m")
    _, rec = _in_case(model, "q")
    assert rec.calls[0].cache_note is None
    assert not rec.calls[0].replayed


def test_calls_made_in_an_explicit_scope_are_keyed_by_that_case_and_trial(
    cache: Journal,
) -> None:
    import threading

    fn = Counting()
    model = Model(fn, name="m", version="1")
    answers: dict[str, Any] = {}

    def ahead(case: str) -> None:  # e.g. a call made ahead of its case, on another thread
        with replay.scope(case, 0):
            answers[case] = model("q")

    threads = [threading.Thread(target=ahead, args=(c,)) for c in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fn.calls == 2
    _reload(cache)
    assert _in_case(model, "q", case="a")[0] == [answers["a"]]
    assert _in_case(model, "q", case="b")[0] == [answers["b"]]
    assert fn.calls == 2
