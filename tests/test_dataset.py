"""Unit tests of :mod:`pytest_prodgate.data.dataset` (pure: no pytester)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib.util
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_prodgate import load_cases
from pytest_prodgate.data import readers as readers_module
from pytest_prodgate.data.dataset import (
    CSV_TAG_SEPARATOR,
    Case,
    DatasetError,
    DatasetInfo,
    clear_loaded_datasets,
    dataset_digest,
    loaded_datasets,
    read_cases,
)


@pytest.fixture(autouse=True)
def _fresh_registry() -> Any:
    clear_loaded_datasets()
    yield
    clear_loaded_datasets()


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def jsonl(*records: Any) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def canonical_digest(record: dict[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def error_of(path: Path, **kwargs: Any) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        read_cases(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return info.value


# -- formats ------------------------------------------------------------------------------


def test_jsonl_reads_every_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "cases.jsonl",
        jsonl(
            {"id": "q-1", "input": "2+2?", "expected": "4", "tags": ["math", "easy"], "lang": "en"},
            {"id": 7, "input": {"q": "x"}, "expected": [1, 2], "tags": "hard"},
        )
        + "\n   \n"
        + jsonl({"id": "q-3", "input": None, "expected": None}),
    )
    first, second, third = read_cases(path)
    assert first == Case(
        id="q-1",
        input="2+2?",
        expected="4",
        tags=("math", "easy"),
        meta={"lang": "en"},
        source=str(path),
        line=1,
        digest=first.digest,
    )
    assert first.digest == canonical_digest(
        {"id": "q-1", "input": "2+2?", "expected": "4", "tags": ["math", "easy"], "lang": "en"}
    )
    assert (second.id, second.input, second.expected, second.tags) == (
        "7",
        {"q": "x"},
        [1, 2],
        ("hard",),
    )
    assert dict(second.meta) == {}
    # Blank lines are skipped but still counted.
    assert (third.line, third.input, third.expected, third.tags) == (5, None, None, ())


def test_ndjson_crlf_and_bom(tmp_path: Path) -> None:
    body = jsonl({"id": "a", "input": 1, "expected": 2}, {"id": "b", "input": 3, "expected": 4})
    path = write(tmp_path / "cases.NDJSON", "\ufeff".encode() + body.replace("\n", "\r\n").encode())
    cases = read_cases(path)
    assert [(c.id, c.input, c.line) for c in cases] == [("a", 1, 1), ("b", 3, 2)]


def test_json_list_with_physical_line_numbers(tmp_path: Path) -> None:
    text = """\ufeff[
  {"id": "a", "input": "x", "expected": "y"},

  {
    "id": "b",
    "input": "p",
    "expected": "q",
    "tags": ["t"],
    "source_doc": "faq.md"
  }, {"id": "c", "input": "", "expected": ""}
]
"""
    path = write(tmp_path / "cases.json", text)
    cases = read_cases(path)
    assert [(c.id, c.line) for c in cases] == [("a", 2), ("b", 4), ("c", 10)]
    assert cases[1].tags == ("t",)
    assert dict(cases[1].meta) == {"source_doc": "faq.md"}


def test_csv(tmp_path: Path) -> None:
    text = (
        "id, input ,expected,tags,difficulty\r\n"
        "r1,hello,world,lang:en; smalltalk ,1\r\n"
        "\r\n"
        'r2,"multi\nline","with ""quotes"", and comma",,\r\n'
        "r3,,,;,3\r\n"
    )
    path = write(tmp_path / "cases.csv", text)
    r1, r2, r3 = read_cases(path)
    assert CSV_TAG_SEPARATOR == ";"
    assert (r1.id, r1.input, r1.expected, r1.tags, dict(r1.meta), r1.line) == (
        "r1",
        "hello",
        "world",
        ("lang:en", "smalltalk"),
        {"difficulty": "1"},
        2,
    )
    assert (r2.input, r2.expected, r2.tags, r2.meta["difficulty"], r2.line) == (
        "multi\nline",
        'with "quotes", and comma',
        (),
        "",
        4,
    )
    assert (r3.input, r3.expected, r3.tags, r3.line) == ("", "", (), 6)
    assert r1.digest == canonical_digest(
        {
            "id": "r1",
            "input": "hello",
            "expected": "world",
            "tags": "lang:en; smalltalk ",
            "difficulty": "1",
        }
    )


def test_expected_field_none_and_custom_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path / "cases.jsonl",
        jsonl({"key": 1, "prompt": "hi", "expected": "kept in meta", "labels": ["x"]}),
    )
    (case,) = read_cases(
        path, id_field="key", input_field="prompt", expected_field=None, tags_field="labels"
    )
    assert (case.id, case.input, case.expected, case.tags) == ("1", "hi", None, ("x",))
    assert dict(case.meta) == {"expected": "kept in meta"}
    (untagged,) = read_cases(path, id_field="key", input_field="prompt", tags_field=None)
    assert untagged.tags == ()
    assert dict(untagged.meta) == {"labels": ["x"]}
    with pytest.raises(ValueError, match="must differ"):
        read_cases(path, id_field="prompt", input_field="prompt")


def test_load_cases_returns_pytest_params(tmp_path: Path) -> None:
    path = write(
        tmp_path / "cases.jsonl",
        jsonl({"id": "é-1", "input": 1, "expected": 1}, {"id": 2, "input": 2, "expected": 2}),
    )
    params = load_cases(path)
    assert [p.id for p in params] == ["é-1", "2"]
    assert [p.values for p in params] == [(c,) for c in read_cases(path)]
    assert all(p.marks == () for p in params)


# -- path resolution ------------------------------------------------------------------------


def _import_file(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_relative_path_resolves_against_the_calling_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = tmp_path / "suite"
    data = write(suite / "evals" / "support.jsonl", jsonl({"id": "a", "input": 1, "expected": 1}))
    write(
        suite / "test_support.py",
        "from pytest_prodgate import load_cases\nPARAMS = load_cases('evals/support.jsonl')\n",
    )
    elsewhere = tmp_path / "elsewhere"
    # A decoy at the same relative path under the cwd must not be picked up.
    write(elsewhere / "evals" / "support.jsonl", jsonl({"id": "decoy", "input": 0, "expected": 0}))
    monkeypatch.chdir(elsewhere)
    module = _import_file(suite / "test_support.py", "prodgate_caller_module")
    (param,) = module.PARAMS
    assert param.id == "a"
    assert param.values[0].source == str(data)
    assert list(loaded_datasets()) == [str(data)]


def test_relative_path_without_caller_file_uses_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "d" / "c.jsonl", jsonl({"id": "a", "input": 1, "expected": 1}))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"load_cases": load_cases}
    exec("PARAMS = load_cases('d/c.jsonl')", namespace)
    assert namespace["PARAMS"][0].values[0].source == str(tmp_path / "d" / "c.jsonl")


def test_read_cases_base_dir_and_load_cases_override(tmp_path: Path) -> None:
    path = write(tmp_path / "x" / "c.jsonl", jsonl({"id": "a", "input": 1, "expected": 1}))
    assert read_cases("c.jsonl", base_dir=tmp_path / "x")[0].source == str(path)
    assert load_cases("x/c.jsonl", base_dir=tmp_path)[0].values[0].source == str(path)
    # An absolute path ignores the base directory.
    assert read_cases(path, base_dir="/nonexistent")[0].source == str(path)


# -- errors: each names the file and the line -------------------------------------------------


GOOD = {"id": "ok", "input": 1, "expected": 1}


@pytest.mark.parametrize(
    ("lines", "line", "fragment"),
    [
        (
            [GOOD, {"id": "ok", "input": 2, "expected": 2}],
            2,
            "duplicate case id 'ok' (first at line 1)",
        ),
        (
            [GOOD, {"id": 1, "input": 2, "expected": 2}, {"id": "1", "input": 3, "expected": 3}],
            3,
            "duplicate case id '1' (first at line 2)",
        ),
        ([GOOD, {"input": 2, "expected": 2}], 2, "no case id (field 'id')"),
        ([GOOD, {"id": None, "input": 2, "expected": 2}], 2, "no case id"),
        ([{"id": "", "input": 2, "expected": 2}], 1, "empty case id"),
        (
            [{"id": 1.5, "input": 2, "expected": 2}],
            1,
            "must be a string or an integer, got a number",
        ),
        ([{"id": True, "input": 2, "expected": 2}], 1, "got a boolean"),
        ([GOOD, {"id": "b", "expected": 2}], 2, "case 'b' has no 'input' field"),
        (
            [GOOD, {"id": "b", "input": 1, "expected": None}, {"id": "c", "input": 1}],
            3,
            "case 'c' has no 'expected' field (pass expected_field=None",
        ),
        ([GOOD, [1, 2]], 2, "must be a JSON object, got a list"),
        (["just a string"], 1, "must be a JSON object, got a string"),
        ([GOOD | {"tags": [1]}], 1, "'tags' must be a list of non-empty strings"),
        ([GOOD | {"tags": {"a": 1}}], 1, "'tags' must be a list"),
        ([GOOD | {"tags": ["a", ""]}], 1, "'tags' must be a list"),
    ],
)
def test_jsonl_record_errors(tmp_path: Path, lines: list[Any], line: int, fragment: str) -> None:
    path = write(tmp_path / "bad.jsonl", jsonl(*lines))
    error = error_of(path)
    assert f"{path}:{line}: " in str(error)
    assert fragment in str(error)
    assert error.line == line
    assert error.path == str(path)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('{"id": "a", "input": 1, "expected": 1}\n\n{"id": "b", "input": \n', 3, "invalid JSON"),
        ('{"id": "a", "input": 1, "expected": 1} {"id": "b"}\n', 1, "extra data after the record"),
        ('{"id": "a", "input": 1, "input": 2, "expected": 1}\n', 1, "duplicate key 'input'"),
        ("[1, 2]\n", 1, "got a list"),
    ],
)
def test_jsonl_malformed_lines(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path / "bad.jsonl", text)
    error = error_of(path)
    assert f"{path}:{line}: " in str(error)
    assert fragment in str(error)


def test_relative_path_error_names_given_and_resolved(tmp_path: Path) -> None:
    write(tmp_path / "evals" / "support.jsonl", jsonl(GOOD, GOOD))
    with pytest.raises(DatasetError) as info:
        read_cases("evals/support.jsonl", base_dir=tmp_path)
    resolved = tmp_path / "evals" / "support.jsonl"
    assert str(info.value) == (
        f"evals/support.jsonl:2: duplicate case id 'ok' (first at line 1) (resolved: {resolved})"
    )
    assert info.value.resolved == str(resolved)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            '[\n  {"id": "a", "input": 1, "expected": 1},\n  {"id": "a", "input": 2, "expected": 2}'
            "\n]",
            3,
            "duplicate case id 'a' (first at line 2)",
        ),
        (
            # Several records on one line (json.dump's layout): ids 1 and "1" are one id.
            '[{"id": 1, "input": 1, "expected": 1}, {"id": "1", "input": 2, "expected": 2}]',
            1,
            "duplicate case id '1' (first at line 1)",
        ),
        (
            '[\n  {"id": "a", "input": 1, "expected": 1},\n  {"id": "b", "input": 1,\n]',
            4,
            "invalid JSON",
        ),
        ('[\n  {"id": "a", "input": 1, "expected": 1},\n]', 3, "trailing comma"),
        ('[\n  {"id": "a", "input": 1, "expected": 1}\n  {"id": "b"}]', 3, "expected ',' or ']'"),
        ('[\n  {"id": "a", "input": 1, "expected": 1}\n', 3, "not closed"),
        ('[{"id": "a", "input": 1, "expected": 1}]\n[]', 2, "extra data after the list"),
        ('\n{"id": "a", "input": 1, "expected": 1}', 2, "must be a list of objects, got an object"),
        ('[\n  "a"\n]', 2, "must be a JSON object, got a string"),
    ],
)
def test_json_errors(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path / "bad.json", text)
    error = error_of(path)
    assert f"{path}:{line}: " in str(error)
    assert fragment in str(error)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("id,input,expected\na,1,1\na,2,2\n", 3, "duplicate case id 'a' (first at line 2)"),
        ("id,input,expected\na,1,1\n,2,2\n", 3, "empty case id"),
        ("id,input\na,1\n", 1, "no 'expected' column (columns: id, input) (pass expected_field"),
        ("id,expected\na,1\n", 1, "no 'input' column"),
        ("input,expected\n1,1\n", 1, "no 'id' column"),
        ("id,input,expected,\na,1,1,\n", 1, "column 4 has no name"),
        ("id,input,expected,id\na,1,1,b\n", 1, "duplicate column 'id'"),
        ("id,input,expected\na,1,1\nb,2\n", 3, "row has 2 cells but the header (line 1) has 3"),
        ('id,input,expected\na,1,1\nb,"2\n\n', 3, "malformed CSV"),
        (
            'id,input,expected,tags\na,1,1,x\n\nb,"q\n",1,x\nc,1,1,x\nc,1,1,x\n',
            7,
            "duplicate case id 'c' (first at line 6)",
        ),
    ],
)
def test_csv_errors(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path / "bad.csv", text)
    error = error_of(path)
    assert f"{path}:{line}: " in str(error)
    assert fragment in str(error)


def test_csv_without_expected_column_is_fine_with_expected_field_none(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "id,input\na,1\n")
    assert read_cases(path, expected_field=None)[0].expected is None


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.jsonl", ""),
        ("blank.jsonl", "\n  \n"),
        ("empty.json", "[]"),
        ("blank.json", " \n"),
        ("header.csv", "id,input,expected\n"),
        ("empty.csv", ""),
    ],
)
def test_empty_dataset_is_an_error(tmp_path: Path, name: str, content: str) -> None:
    path = write(tmp_path / name, content)
    error = error_of(path)
    assert str(error) == f"{path}: no cases in dataset (an empty eval set cannot be gated)"
    assert error.line is None


def test_file_level_errors(tmp_path: Path) -> None:
    missing = error_of(tmp_path / "missing.jsonl")
    assert str(missing) == f"{tmp_path / 'missing.jsonl'}: dataset file not found"
    assert "unknown dataset format (extension '.txt'" in str(
        error_of(write(tmp_path / "cases.txt", jsonl(GOOD)))
    )
    assert "no extension" in str(error_of(write(tmp_path / "cases", jsonl(GOOD))))
    (tmp_path / "dir.jsonl").mkdir()
    assert "is a directory" in str(error_of(tmp_path / "dir.jsonl"))


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.jsonl", jsonl(GOOD).encode() + b'{"id": "caf\xe9"}\n')
    error = error_of(path)
    assert str(error) == f"{path}:2: not valid UTF-8 (byte 0xe9)"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated: file permissions do not stop root, who often runs CI containers.
    path = write(tmp_path / "secret.jsonl", jsonl(GOOD))

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(readers_module, "open", denied, raising=False)
    error = error_of(path)
    assert str(error) == f"{path}: cannot read dataset file: Permission denied"


def test_dataset_error_pickles(tmp_path: Path) -> None:
    error = DatasetError("a.jsonl", "boom", line=3, resolved="/x/a.jsonl")
    clone = pickle.loads(pickle.dumps(error))
    assert str(clone) == str(error) == "a.jsonl:3: boom (resolved: /x/a.jsonl)"
    assert (clone.path, clone.reason, clone.line, clone.resolved) == (
        "a.jsonl",
        "boom",
        3,
        "/x/a.jsonl",
    )
    assert isinstance(clone, ValueError)


# -- immutability -------------------------------------------------------------------------------


def test_case_is_immutable(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", jsonl(GOOD | {"note": "n", "tags": ["a"]}))
    (case,) = read_cases(path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.input = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.expected = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        case.meta["note"] = "changed"  # type: ignore[index]
    with pytest.raises(AttributeError):
        case.extra = 1  # type: ignore[attr-defined]
    assert isinstance(case.tags, tuple)
    assert hash(case) == hash(read_cases(path)[0])
    assert {case, read_cases(path)[0]} == {case}


def test_case_built_by_hand_freezes_meta_and_pickles() -> None:
    meta: dict[str, Any] = {"k": [1]}
    case = Case(id="x", input={"q": 1}, meta=meta, tags=["a"])  # type: ignore[arg-type]
    meta["k2"] = 2
    assert dict(case.meta) == {"k": [1]}
    assert case.tags == ("a",)
    assert (case.expected, case.source, case.line, case.digest) == (None, "", 0, "")
    assert pickle.loads(pickle.dumps(case)) == case
    assert copy.deepcopy(case) == case


# -- digests and the registry ---------------------------------------------------------------------


RECORDS: list[dict[str, Any]] = [
    {"id": "a", "input": "x", "expected": "y", "tags": ["t"], "note": 1},
    {"id": "b", "input": {"k": [1, 2]}, "expected": None},
    {"id": "c", "input": "é", "expected": "z", "tags": "solo"},
]


def digests(path: Path) -> dict[str, str]:
    return {case.id: case.digest for case in read_cases(path)}


def test_digests_ignore_order_and_formatting(tmp_path: Path) -> None:
    base = digests(write(tmp_path / "a.jsonl", jsonl(*RECORDS)))
    shuffled = digests(write(tmp_path / "b.jsonl", jsonl(*reversed(RECORDS))))
    reformatted = "\n".join(
        json.dumps(dict(reversed(list(r.items()))), indent=None, separators=(" , ", " : "))
        for r in RECORDS
    )
    as_json = digests(write(tmp_path / "c.json", json.dumps(RECORDS[::-1], indent=2)))
    assert base == shuffled == digests(write(tmp_path / "d.jsonl", reformatted)) == as_json
    assert len(set(base.values())) == 3


@pytest.mark.parametrize(
    "edit",
    [
        {"input": "x2"},
        {"expected": "y2"},
        {"tags": ["t", "u"]},
        {"note": 2},
        {"extra": True},
    ],
)
def test_digest_changes_with_any_edit(tmp_path: Path, edit: dict[str, Any]) -> None:
    base = digests(write(tmp_path / "a.jsonl", jsonl(*RECORDS)))
    edited = digests(write(tmp_path / "b.jsonl", jsonl(RECORDS[0] | edit, *RECORDS[1:])))
    assert edited["a"] != base["a"]
    assert edited["b"] == base["b"]
    assert edited["c"] == base["c"]


def test_dataset_digest_is_sha256_of_bytes(tmp_path: Path) -> None:
    body = jsonl(*RECORDS).encode()
    path = write(tmp_path / "a.jsonl", body)
    assert dataset_digest(path) == hashlib.sha256(body).hexdigest()
    with pytest.raises(DatasetError, match="not found"):
        dataset_digest(tmp_path / "nope.jsonl")


def test_registry(tmp_path: Path) -> None:
    assert loaded_datasets() == {}
    first = write(tmp_path / "a.jsonl", jsonl(*RECORDS))
    second = write(tmp_path / "b.csv", "id,input,expected\nr,1,2\n")
    load_cases(first)
    read_cases(second)
    registry = loaded_datasets()
    assert list(registry) == [str(first), str(second)]
    info = registry[str(first)]
    assert info == DatasetInfo(
        path=str(first),
        sha256=dataset_digest(first),
        case_digests={r["id"]: canonical_digest(r) for r in RECORDS},
        n_cases=3,
    )
    assert list(info.case_digests) == ["a", "b", "c"]  # file order
    # The result is a copy.
    info.case_digests.clear()
    registry.clear()
    assert loaded_datasets()[str(first)].n_cases == 3
    # A failed read leaves the registry alone; a re-read replaces the entry.
    write(first, jsonl(RECORDS[0]))
    read_cases(first)
    assert loaded_datasets()[str(first)].n_cases == 1
    write(tmp_path / "bad.jsonl", jsonl(GOOD, GOOD))
    with pytest.raises(DatasetError):
        read_cases(tmp_path / "bad.jsonl")
    assert str(tmp_path / "bad.jsonl") not in loaded_datasets()
    clear_loaded_datasets()
    assert loaded_datasets() == {}


# -- property: JSONL round trip --------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
records_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "input": json_values,
            "expected": json_values,
            "tags": st.lists(st.text(min_size=1, max_size=6), max_size=3),
        },
        optional={"meta_a": json_values, "meta_b": st.text()},
    ),
    min_size=1,
    max_size=6,
)


@settings(
    derandomize=True,
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(records=records_strategy, ids=st.data())
def test_jsonl_round_trip(
    tmp_path: Path, records: list[dict[str, Any]], ids: st.DataObject
) -> None:
    keys = ids.draw(
        st.lists(
            st.text(min_size=1) | st.integers(),
            min_size=len(records),
            max_size=len(records),
            unique_by=str,
        )
    )
    records = [{"id": key, **record} for key, record in zip(keys, records, strict=True)]
    path = write(tmp_path / "round.jsonl", jsonl(*records))
    cases = read_cases(path)
    assert [c.id for c in cases] == [str(k) for k in keys]
    for case, record in zip(cases, records, strict=True):
        assert case.input == record["input"]
        assert case.expected == record["expected"]
        assert case.tags == tuple(record["tags"])
        assert dict(case.meta) == {
            k: v for k, v in record.items() if k not in {"id", "input", "expected", "tags"}
        }
        assert case.digest == canonical_digest(record)
    assert [c.line for c in cases] == list(range(1, len(records) + 1))
    shuffled = write(tmp_path / "shuffled.jsonl", jsonl(*reversed(records)))
    assert {c.id: c.digest for c in read_cases(shuffled)} == {c.id: c.digest for c in cases}
