"""Unit tests of :mod:`pytest_prodgate.data.sealing` and the integrity rows (pure: no pytester)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_prodgate.data.dataset import (
    DEFAULT_FIELDS,
    DatasetInfo,
    clear_loaded_datasets,
    loaded_datasets,
    read_cases,
)
from pytest_prodgate.data.sealing import (
    LOCK_NAME,
    LOCK_VERSION,
    DatasetCheck,
    LockError,
    build_lock,
    dumps_lock,
    find_lock,
    lock_key,
    read_lock,
    stale_suites,
    unlocked_suites,
    unsealed_sources,
    verify_datasets,
    write_lock,
)
from pytest_prodgate.gating.integrity import integrity_gates, loosened_targets
from pytest_prodgate.schema.report import GateReport
from pytest_prodgate.schema.targets import Targets

RECORDS: list[dict[str, Any]] = [
    {"id": "a", "input": "hello", "expected": "hi", "tags": ["lang:en"], "source": "web"},
    {"id": "b", "input": "hallo", "expected": "hallo", "tags": ["lang:de"], "source": "web"},
    {"id": "c", "input": "salut", "expected": "salut", "tags": ["lang:fr"], "source": "app"},
]
CSV = "key,prompt,answer\nr1,one,1\nr2,two,2\n"
CSV_FIELDS: dict[str, Any] = {
    "id_field": "key",
    "input_field": "prompt",
    "expected_field": "answer",
}
TARGETS: dict[str, Any] = {
    "accuracy_floor": 0.92,
    "latency_p95_ms": 800,
    "cost_per_call_usd": 0.002,
    "error_rate_max": 0.01,
    "slice_floors": {"lang:de": 0.85, "lang:en": 0.9},
    "trials": 3,
}


@pytest.fixture(autouse=True)
def _fresh_registry() -> Any:
    clear_loaded_datasets()
    yield
    clear_loaded_datasets()


def jsonl(*records: Any) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A rootdir with two datasets, both loaded, and a written lock."""
    write(tmp_path / "evals" / "support.jsonl", jsonl(*RECORDS))
    write(tmp_path / "evals" / "qa.csv", CSV)
    read_cases("evals/support.jsonl", base_dir=tmp_path)
    read_cases("evals/qa.csv", base_dir=tmp_path, **CSV_FIELDS)
    write_lock(tmp_path, build_lock(tmp_path, loaded_datasets(), {"support-bot": TARGETS}))
    clear_loaded_datasets()
    return tmp_path


def check(root: Path, key: str = "evals/support.jsonl", **kwargs: Any) -> DatasetCheck:
    lock = read_lock(root / LOCK_NAME)
    return verify_datasets(root, lock, **kwargs)[key]


def edit(root: Path, records: list[dict[str, Any]]) -> None:
    write(root / "evals" / "support.jsonl", jsonl(*records))


def with_record(i: int, **changes: Any) -> list[dict[str, Any]]:
    records = [dict(r) for r in RECORDS]
    records[i].update(changes)
    return records


# -- dataset registry: fields, register=False -----------------------------------------------


def test_registry_records_the_fields_a_dataset_was_read_with(tmp_path: Path) -> None:
    write(tmp_path / "qa.csv", CSV)
    write(tmp_path / "s.jsonl", jsonl(*RECORDS))
    read_cases("qa.csv", base_dir=tmp_path, tags_field=None, **CSV_FIELDS)
    read_cases("s.jsonl", base_dir=tmp_path)
    infos = loaded_datasets()
    assert infos[str(tmp_path / "qa.csv")].fields == {
        "id_field": "key",
        "input_field": "prompt",
        "expected_field": "answer",
        "tags_field": None,
    }
    assert infos[str(tmp_path / "s.jsonl")].fields == dict(DEFAULT_FIELDS)
    # Default-constructible, and the registry hands out copies.
    assert DatasetInfo("p", "0" * 64, {}, 0).fields == dict(DEFAULT_FIELDS)
    infos[str(tmp_path / "qa.csv")].fields["id_field"] = "x"
    assert loaded_datasets()[str(tmp_path / "qa.csv")].fields["id_field"] == "key"


def test_read_cases_register_false_leaves_the_registry_alone(tmp_path: Path) -> None:
    write(tmp_path / "s.jsonl", jsonl(*RECORDS))
    assert [c.id for c in read_cases("s.jsonl", base_dir=tmp_path, register=False)] == [
        "a",
        "b",
        "c",
    ]
    assert loaded_datasets() == {}


# -- building, writing, reading --------------------------------------------------------------


def test_build_lock_shape(project: Path) -> None:
    lock = read_lock(project / LOCK_NAME)
    assert lock["lock_version"] == LOCK_VERSION == 1
    assert list(lock["datasets"]) == ["evals/qa.csv", "evals/support.jsonl"]
    support = lock["datasets"]["evals/support.jsonl"]
    assert support["fields"] == dict(DEFAULT_FIELDS)
    assert set(support["cases"]) == {"a", "b", "c"}
    qa = lock["datasets"]["evals/qa.csv"]
    assert qa["fields"] == {**CSV_FIELDS, "tags_field": "tags"}
    assert list(qa["cases"]) == ["r1", "r2"]
    assert lock["suites"] == {
        "support-bot": {
            "accuracy_floor": 0.92,
            "latency_p95_ms": 800.0,
            "cost_per_call_usd": 0.002,
            "error_rate_max": 0.01,
            "slice_floors": {"lang:de": 0.85, "lang:en": 0.9},
            "trials": 3,
        }
    }


def test_lock_text_is_stable_sorted_and_diff_friendly(tmp_path: Path) -> None:
    write(tmp_path / "evals" / "b.jsonl", jsonl({"id": "z", "input": 1, "expected": 2}))
    write(tmp_path / "evals" / "a.jsonl", jsonl({"id": "ü", "input": 1, "expected": 2}))
    read_cases("evals/b.jsonl", base_dir=tmp_path)
    read_cases("evals/a.jsonl", base_dir=tmp_path)
    suites: dict[str, Any] = {
        "s2": {"latency_p95_ms": 800, "accuracy_floor": 0.9},
        "s1": {"trials": 2},
    }
    first = dumps_lock(build_lock(tmp_path, loaded_datasets(), suites))
    # Same input in another order (registry, suites, keys) -> identical bytes.
    clear_loaded_datasets()
    read_cases("evals/a.jsonl", base_dir=tmp_path)
    read_cases("evals/b.jsonl", base_dir=tmp_path)
    reordered: dict[str, Any] = {
        "s1": {"trials": 2},
        "s2": {"accuracy_floor": 0.9, "latency_p95_ms": 800.0},
    }
    second = dumps_lock(build_lock(tmp_path, loaded_datasets(), reordered))
    assert first == second
    assert first.endswith("}\n")
    assert '"ü"' in first  # ensure_ascii=False: ids stay readable
    assert first.index('"datasets"') < first.index('"lock_version"') < first.index('"suites"')
    assert first.index('"evals/a.jsonl"') < first.index('"evals/b.jsonl"')
    assert first.index('"s1"') < first.index('"s2"')
    assert '  "lock_version": 1,\n' in first  # indent 2, one key a line
    assert json.loads(first) == build_lock(tmp_path, loaded_datasets(), suites)


def test_write_read_round_trip_and_find_lock(tmp_path: Path) -> None:
    assert find_lock(tmp_path) is None
    write(tmp_path / "d.jsonl", jsonl(*RECORDS))
    read_cases("d.jsonl", base_dir=tmp_path)
    lock = build_lock(tmp_path, loaded_datasets(), {"s": TARGETS})
    path = write_lock(tmp_path, lock)
    assert path == tmp_path / LOCK_NAME
    assert find_lock(tmp_path) == path
    assert read_lock(path) == lock
    assert path.read_text(encoding="utf-8") == dumps_lock(lock)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    # Rewriting an unchanged lock changes no byte.
    write_lock(tmp_path, read_lock(path))
    assert path.read_text(encoding="utf-8") == dumps_lock(lock)


def test_dataset_outside_root_keeps_its_absolute_path(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    outside = write(tmp_path / "shared" / "d.jsonl", jsonl(*RECORDS))
    read_cases(outside)
    lock = build_lock(root, loaded_datasets(), {})
    assert list(lock["datasets"]) == [outside.as_posix()]
    write_lock(root, lock)
    assert not check(root, outside.as_posix()).tampered
    write(outside, jsonl(*RECORDS[:2]))
    assert check(root, outside.as_posix()).removed == ["c"]


def test_lock_key(tmp_path: Path) -> None:
    assert lock_key(tmp_path, tmp_path / "evals" / "x.jsonl") == "evals/x.jsonl"
    assert lock_key(tmp_path / "a", tmp_path / "b.csv") == (tmp_path / "b.csv").as_posix()
    link = tmp_path / "link"
    try:
        os.symlink(tmp_path, link, target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("no symlinks here")
    assert lock_key(link, tmp_path / "evals" / "x.jsonl") == "evals/x.jsonl"


def test_build_lock_takes_targets_drops_none_and_rejects_bad_targets(tmp_path: Path) -> None:
    lock = build_lock(
        tmp_path,
        {},
        {
            "a": Targets(accuracy_floor=0.9),
            "b": {"accuracy_floor": 0.9, "latency_p95_ms": None},
        },
    )
    assert lock["suites"] == {"a": {"accuracy_floor": 0.9}, "b": {"accuracy_floor": 0.9}}
    with pytest.raises(ValueError, match=r"suite 'c'.*accuracy_floor"):
        build_lock(tmp_path, {}, {"c": {"accuracy_floor": 1.5}})


# -- tampering -------------------------------------------------------------------------------


def test_untouched_dataset_is_not_tampered(project: Path) -> None:
    assert check(project) == DatasetCheck("evals/support.jsonl")
    assert not check(project).tampered
    assert not check(project, "evals/qa.csv").tampered


@pytest.mark.parametrize(
    ("records", "changed"),
    [
        pytest.param(with_record(1, input="HALLO"), ["b"], id="input"),
        pytest.param(with_record(0, expected="hello"), ["a"], id="expected"),
        pytest.param(with_record(2, tags=["lang:fr", "easy"]), ["c"], id="tags"),
        pytest.param(with_record(2, tags=None), ["c"], id="tags-removed"),
        pytest.param(with_record(0, source="app"), ["a"], id="other-field"),
        pytest.param(with_record(0, difficulty=3), ["a"], id="new-field"),
        pytest.param(with_record(1, expected=1), ["b"], id="type"),
    ],
)
def test_an_edited_case_is_tampering(
    project: Path, records: list[dict[str, Any]], changed: list[str]
) -> None:
    edit(project, records)
    result = check(project)
    assert result.tampered
    assert (result.changed, result.added, result.removed) == (changed, [], [])
    assert result.error is None
    assert not result.reordered


def test_removed_and_added_cases_are_tampering(project: Path) -> None:
    edit(project, RECORDS[:2])
    assert (check(project).removed, check(project).tampered) == (["c"], True)
    edit(project, [*RECORDS, {"id": "d", "input": "x", "expected": "y"}])
    assert (check(project).added, check(project).tampered) == (["d"], True)
    # Renaming a case is one of each.
    edit(project, with_record(0, id="a2"))
    result = check(project)
    assert (result.changed, result.added, result.removed) == ([], ["a2"], ["a"])


def test_reordering_or_reformatting_is_not_tampering(project: Path) -> None:
    edit(project, list(reversed(RECORDS)))
    result = check(project)
    assert (result.tampered, result.reordered) == (False, True)
    reformatted = "\n\n".join(
        json.dumps(dict(reversed(list(r.items()))), indent=None, separators=(" , ", " : "))
        for r in RECORDS
    )
    write(project / "evals" / "support.jsonl", reformatted + "\n")
    result = check(project)
    assert (result.tampered, result.reordered) == (False, True)
    # CSV: columns reordered.
    write(project / "evals" / "qa.csv", "answer,key,prompt\n2,r2,two\n1,r1,one\n")
    result = check(project, "evals/qa.csv")
    assert (result.tampered, result.reordered) == (False, True)


def test_edited_csv_cell_is_tampering(project: Path) -> None:
    write(project / "evals" / "qa.csv", CSV.replace("two,2", "two,3"))
    assert check(project, "evals/qa.csv").changed == ["r2"]


def test_deleted_dataset_is_tampering(project: Path) -> None:
    (project / "evals" / "support.jsonl").unlink()
    result = check(project)
    assert result.tampered
    assert result.error is not None
    assert "evals/support.jsonl" in result.error
    assert "not found" in result.error


def test_malformed_dataset_is_tampering_naming_the_line(project: Path) -> None:
    text = jsonl(*RECORDS).splitlines()
    text[2] = text[2][:-1]  # drop the closing brace of line 3
    write(project / "evals" / "support.jsonl", "\n".join(text) + "\n")
    result = check(project)
    assert result.tampered
    assert result.error is not None
    assert "evals/support.jsonl:3:" in result.error
    assert "invalid JSON" in result.error


def test_a_case_now_missing_a_sealed_field_is_tampering(project: Path) -> None:
    records = [dict(r) for r in RECORDS]
    del records[1]["expected"]
    edit(project, records)
    result = check(project)
    assert result.tampered
    assert result.error is not None
    assert "'expected'" in result.error


def test_reading_with_other_fields_than_sealed_is_tampering(project: Path) -> None:
    # The file is untouched, but this run reads "source" as the expected value.
    read_cases("evals/support.jsonl", base_dir=project, expected_field="source")
    result = check(project, loaded=loaded_datasets())
    assert result.tampered
    assert result.fields_changed == ["expected_field: 'expected' (locked) -> 'source'"]
    assert "read with other fields than sealed" in result.describe()
    # Read the same way as sealed: fine.
    clear_loaded_datasets()
    read_cases("evals/support.jsonl", base_dir=project)
    assert not check(project, loaded=loaded_datasets()).tampered


def test_verify_reads_from_disk_without_touching_the_registry(project: Path) -> None:
    read_cases("evals/qa.csv", base_dir=project, **CSV_FIELDS)
    before = loaded_datasets()
    edit(project, RECORDS[:1])
    checks = verify_datasets(project, read_lock(project / LOCK_NAME))
    assert set(checks) == {"evals/qa.csv", "evals/support.jsonl"}
    assert checks["evals/support.jsonl"].removed == ["b", "c"]
    assert loaded_datasets() == before


def test_describe_caps_the_lists(tmp_path: Path) -> None:
    ids = [f"c{i:02d}" for i in range(25)]
    result = DatasetCheck("d.jsonl", changed=ids, added=["x"], removed=ids[:10])
    text = result.describe()
    assert text.startswith("d.jsonl: 25 cases changed (c00, c01,")
    assert "c09 and 15 more)" in text
    assert "c10" not in text
    assert "1 case added (x)" in text
    assert "10 cases removed (c00, c01, c02, c03, c04, c05, c06, c07, c08, c09);" not in text
    assert text.endswith("10 cases removed (c00, c01, c02, c03, c04, c05, c06, c07, c08, c09)")
    assert DatasetCheck("d.jsonl", reordered=True).describe() == ""


# -- loosened targets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"accuracy_floor": 0.9}, ("accuracy_floor", 0.92, 0.9), id="floor-lowered"),
        pytest.param({"accuracy_floor": None}, ("accuracy_floor", 0.92, None), id="floor-removed"),
        pytest.param({"latency_p95_ms": 900}, ("latency_p95_ms", 800, 900), id="latency-raised"),
        pytest.param({"latency_p95_ms": None}, ("latency_p95_ms", 800, None), id="latency-removed"),
        pytest.param(
            {"cost_per_call_usd": 0.003}, ("cost_per_call_usd", 0.002, 0.003), id="cost-raised"
        ),
        pytest.param(
            {"error_rate_max": 0.02}, ("error_rate_max", 0.01, 0.02), id="error-rate-raised"
        ),
        pytest.param(
            {"slice_floors": {"lang:de": 0.8, "lang:en": 0.9}},
            ("slice_floor[lang:de]", 0.85, 0.8),
            id="slice-lowered",
        ),
        pytest.param(
            {"slice_floors": {"lang:en": 0.9}},
            ("slice_floor[lang:de]", 0.85, None),
            id="slice-removed",
        ),
        pytest.param({"trials": 2}, ("trials", 3, 2), id="trials-lowered"),
        pytest.param({"trials": None}, ("trials", 3, None), id="trials-removed"),
    ],
)
def test_loosened_targets_found(change: dict[str, Any], expected: tuple[str, Any, Any]) -> None:
    current = {**TARGETS, **change}
    assert loosened_targets(TARGETS, current) == [expected]


@pytest.mark.parametrize(
    ("locked", "current", "expected"),
    [
        ({"throughput_rps": 20}, {"throughput_rps": 10}, [("throughput_rps", 20, 10)]),
        ({"recovery_s": 60}, {"recovery_s": 90}, [("recovery_s", 60, 90)]),
        ({"recovery_s": 60}, {}, [("recovery_s", 60, None)]),
        ({"latency_p99_ms": 2000}, {}, [("latency_p99_ms", 2000, None)]),
        ({"max_regression": 0.01}, {"max_regression": 0.05}, [("max_regression", 0.01, 0.05)]),
        # Removed, max_regression falls back to 0.0: stricter, not looser.
        ({"max_regression": 0.01}, {}, []),
        # Removed trials=1 stays at least 1.
        ({"trials": 1}, {}, []),
        (
            {"slice_floors": {"x": 0.5, "y": 0.6}},
            {},
            [("slice_floor[x]", 0.5, None), ("slice_floor[y]", 0.6, None)],
        ),
    ],
)
def test_loosened_targets_other_gates(
    locked: dict[str, Any], current: dict[str, Any], expected: list[Any]
) -> None:
    assert loosened_targets(locked, current) == expected


def test_tightened_or_new_targets_are_fine() -> None:
    tighter = {
        "accuracy_floor": 0.95,
        "latency_p95_ms": 700,
        "latency_p50_ms": 300,  # new
        "cost_per_call_usd": 0.002,  # same
        "error_rate_max": 0.005,
        "slice_floors": {"lang:de": 0.9, "lang:en": 0.9, "lang:fr": 0.8},
        "trials": 5,
        "throughput_rps": 10,  # new
    }
    assert loosened_targets(TARGETS, tighter) == []
    assert loosened_targets({}, tighter) == []


def test_several_loosened_targets_in_table_order() -> None:
    current = {"latency_p95_ms": 900, "slice_floors": {"lang:de": 0.5}, "trials": 3}
    assert [k for k, _, _ in loosened_targets(TARGETS, current)] == [
        "accuracy_floor",
        "latency_p95_ms",
        "cost_per_call_usd",
        "error_rate_max",
        "slice_floor[lang:de]",
        "slice_floor[lang:en]",
    ]


# -- read_lock errors ------------------------------------------------------------------------


def lock_text(**changes: Any) -> str:
    data: dict[str, Any] = {
        "lock_version": 1,
        "datasets": {
            "evals/x.jsonl": {
                "sha256": "a" * 64,
                "fields": dict(DEFAULT_FIELDS),
                "cases": {"c1": "b" * 64},
            }
        },
        "suites": {"s": {"accuracy_floor": 0.9}},
    }
    for dotted, value in changes.items():
        # "datasets__x__sha256" -> data["datasets"]["evals/x.jsonl"]["sha256"]
        *parents, last = ("evals/x.jsonl" if k == "x" else k for k in dotted.split("__"))
        target = data
        for key in parents:
            target = target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return dumps_lock(data)


_DELETE = object()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            lock_text().replace('"c1": ', '"c1" '),
            r"not valid JSON \(line \d+: Expecting ':' delimiter\)",
            id="invalid-json",
        ),
        pytest.param(
            '{\n  "lock_version": 1,\n  "datasets": {}\n  "suites": {}\n}\n',
            r"not valid JSON \(line 4: Expecting ',' delimiter\)",
            id="missing-comma",
        ),
        pytest.param(
            lock_text().replace('  "lock_version"', '<<<<<<< HEAD\n  "lock_version"'),
            r"unresolved merge conflict \(line \d+\).*pytest --prodgate-lock",
            id="merge-conflict",
        ),
        pytest.param(
            lock_text().replace('"lock_version": 1,', '"lock_version": 1, "lock_version": 1,'),
            r"duplicate key 'lock_version'",
            id="duplicate-key",
        ),
        pytest.param("[]", r"expected a JSON object, got a list", id="not-object"),
        pytest.param("", r"not valid JSON \(line 1", id="empty"),
        pytest.param(lock_text(lock_version=_DELETE), r"no lock_version", id="no-version"),
        pytest.param(
            lock_text(lock_version=2),
            r"lock_version: 2 is not supported \(this pytest-prodgate reads version 1\)",
            id="version-2",
        ),
        pytest.param(lock_text(lock_version=True), r"lock_version: True", id="version-bool"),
        pytest.param(lock_text(lock_version="1"), r"lock_version: '1'", id="version-str"),
        pytest.param(lock_text(suite={}), r": unknown key 'suite'", id="unknown-top-key"),
        pytest.param(lock_text(suites=_DELETE), r": missing key 'suites'", id="no-suites"),
        pytest.param(
            lock_text(datasets=[]), r": datasets: expected an object, got a list", id="datasets"
        ),
        pytest.param(
            lock_text(datasets={"": {}}), r": datasets: empty dataset path", id="empty-path"
        ),
        pytest.param(
            lock_text(datasets__x=None),
            r": datasets\.evals/x\.jsonl: expected an object, got null",
            id="entry",
        ),
        pytest.param(
            lock_text(datasets__x__sha256=_DELETE),
            r": datasets\.evals/x\.jsonl: missing key 'sha256'",
            id="no-sha",
        ),
        pytest.param(
            lock_text(datasets__x__sha256="abc"),
            r": datasets\.evals/x\.jsonl\.sha256: expected a SHA-256 .* got 'abc'",
            id="bad-sha",
        ),
        pytest.param(
            lock_text(datasets__x__cases=["c1"]),
            r": datasets\.evals/x\.jsonl\.cases: expected an object, got a list",
            id="cases-list",
        ),
        pytest.param(
            lock_text(datasets__x__cases={"c1": 3}),
            r": datasets\.evals/x\.jsonl\.cases\.c1: expected a SHA-256 .* got a number",
            id="case-digest",
        ),
        pytest.param(
            lock_text(datasets__x__cases={"": "b" * 64}),
            r": datasets\.evals/x\.jsonl\.cases: empty case id",
            id="empty-case-id",
        ),
        pytest.param(
            lock_text(datasets__x__extra=1),
            r": datasets\.evals/x\.jsonl: unknown key 'extra'",
            id="entry-extra",
        ),
        pytest.param(
            lock_text(datasets__x__fields__id_field=None),
            r": datasets\.evals/x\.jsonl\.fields\.id_field: expected a non-empty string, got null",
            id="id-field-null",
        ),
        pytest.param(
            lock_text(datasets__x__fields__tags_field=3),
            r"\.fields\.tags_field: expected a non-empty string or null, got a number",
            id="tags-field",
        ),
        pytest.param(
            lock_text(datasets__x__fields__expected_field=_DELETE),
            r"\.fields: missing key 'expected_field'",
            id="fields-missing",
        ),
        pytest.param(
            lock_text(datasets__x__fields__input_field="id"),
            r"\.fields: field names must differ",
            id="fields-same",
        ),
        pytest.param(
            lock_text(suites={"s": {"accuracy_floor": 1.5}}),
            r": suites\.s: accuracy_floor: Input should be less than or equal to 1",
            id="target-range",
        ),
        pytest.param(
            lock_text(suites={"s": {"acuracy_floor": 0.9}}),
            r": suites\.s: acuracy_floor: unknown target keyword",
            id="target-unknown",
        ),
        pytest.param(
            lock_text(suites={"s": {"trials": "3"}}),
            r": suites\.s: trials: ",
            id="target-type",
        ),
        pytest.param(
            lock_text(suites={"s": 0.9}),
            r": suites\.s: expected an object, got a number",
            id="suite-not-object",
        ),
    ],
)
def test_read_lock_errors_are_one_line_naming_the_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path / LOCK_NAME, text)
    with pytest.raises(LockError, match=message) as info:
        read_lock(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_lock_text_helper_builds_a_valid_lock(tmp_path: Path) -> None:
    path = write(tmp_path / LOCK_NAME, lock_text())
    assert read_lock(path)["suites"] == {"s": {"accuracy_floor": 0.9}}


def test_read_lock_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(LockError, match=r"prodgate\.lock: no such file$"):
        read_lock(tmp_path / LOCK_NAME)
    (tmp_path / LOCK_NAME).mkdir()
    assert find_lock(tmp_path) == tmp_path / LOCK_NAME  # found, so the error is reported
    with pytest.raises(LockError, match="is a directory"):
        read_lock(tmp_path / LOCK_NAME)
    bad = tmp_path / "other.lock"
    bad.write_bytes(b'{"lock_version": 1, \xff}')
    with pytest.raises(LockError, match=r"other\.lock: not valid UTF-8"):
        read_lock(bad)


def test_read_lock_tolerates_a_bom_and_null_targets(tmp_path: Path) -> None:
    text = lock_text(suites={"s": {"accuracy_floor": 0.9, "latency_p95_ms": None}})
    path = tmp_path / LOCK_NAME
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert read_lock(path)["suites"] == {"s": {"accuracy_floor": 0.9}}


# -- integrity gates -------------------------------------------------------------------------


def test_integrity_gates_rows(project: Path) -> None:
    lock = read_lock(project / LOCK_NAME)
    edit(project, [*with_record(0, expected="x")[:2], {"id": "d", "input": 1, "expected": 2}])
    checks = verify_datasets(project, lock)
    sources = [str(project / "evals" / "support.jsonl"), str(project / "evals" / "qa.csv")]
    current = {**TARGETS, "accuracy_floor": 0.9, "latency_p95_ms": 900, "trials": None}
    rows = integrity_gates(
        "support-bot", lock["suites"]["support-bot"], current, checks, sources, project
    )
    assert all(isinstance(r, GateReport) for r in rows)
    assert [(r.gate, r.verdict, r.comparator, r.target) for r in rows] == [
        ("sealed_dataset[evals/support.jsonl]", "TAMPERED", "<=", 0.0),
        ("locked:accuracy_floor", "LOOSENED", ">=", 0.9),
        ("locked:latency_p95_ms", "LOOSENED", "<=", 900.0),
        ("locked:trials", "LOOSENED", ">=", 3.0),
    ]
    for r in rows:
        assert (r.suite, r.n, r.estimate, r.lower, r.upper) == (
            "support-bot",
            0,
            None,
            None,
            None,
        )
        assert "pytest --prodgate-lock" in r.reason
        assert "\n" not in r.reason
    tampered = rows[0].reason
    assert tampered.startswith("evals/support.jsonl: 1 case changed (a); 1 case added (d);")
    assert "1 case removed (c)" in tampered
    assert "If the change is intended, review it and rewrite the lock" in tampered
    assert rows[1].reason == (
        "accuracy_floor lowered from 0.92 (locked) to 0.9; "
        "rewrite the lock on purpose with pytest --prodgate-lock"
    )
    assert rows[2].reason.startswith("latency_p95_ms raised from 800 (locked) to 900;")
    assert rows[3].reason.startswith("trials removed (locked at 3);")
    # Plain builtins all the way (they cross xdist and go in the JSON report).
    json.dumps([r.model_dump(mode="json") for r in rows])


def test_integrity_gates_new_suite_and_clean_suite(project: Path) -> None:
    lock = read_lock(project / LOCK_NAME)
    (project / "evals" / "support.jsonl").unlink()
    checks = verify_datasets(project, lock)
    source = [str(project / "evals" / "support.jsonl")]
    rows = integrity_gates("new", None, {"accuracy_floor": 0.1}, checks, source, project)
    assert [(r.gate, r.verdict) for r in rows] == [
        ("sealed_dataset[evals/support.jsonl]", "TAMPERED")
    ]
    assert "cannot be read any more" in rows[0].reason
    assert "not found" in rows[0].reason
    # Untouched datasets, same targets: nothing.
    qa = [str(project / "evals" / "qa.csv")]
    assert integrity_gates("support-bot", TARGETS, TARGETS, checks, qa, project) == []
    # Reordered is not a row either.
    edit(project, list(reversed(RECORDS)))
    checks = verify_datasets(project, lock)
    assert checks["evals/support.jsonl"].reordered
    assert integrity_gates("support-bot", TARGETS, TARGETS, checks, source, project) == []


def test_unsealed_unlocked_and_stale(project: Path) -> None:
    lock = read_lock(project / LOCK_NAME)
    sources = [
        str(project / "evals" / "support.jsonl"),
        str(project / "evals" / "new.jsonl"),
        str(project / "evals" / "new.jsonl"),
    ]
    assert unsealed_sources(lock, project, sources) == ["evals/new.jsonl"]
    checks = verify_datasets(project, lock)
    # An unsealed dataset is a note, never a gate row.
    assert integrity_gates("support-bot", TARGETS, TARGETS, checks, sources, project) == []
    assert unlocked_suites(lock, ["support-bot", "b", "a", "b"]) == ["a", "b"]
    assert stale_suites(lock, ["a"]) == ["support-bot"]
    assert stale_suites(lock, ["support-bot"]) == []
