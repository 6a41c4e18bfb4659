"""Reports on disk: read, written, redacted (SPEC §10, §18).

Pure: no pytest. The model is :mod:`pytest_prodgate.schema.report`; this module is
every way a report reaches the disk or comes back. Files are written by
:func:`~pytest_prodgate.schema.atomic.write_atomic` (re-exported here).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pytest_prodgate.errors import ReportError
from pytest_prodgate.schema.atomic import write_atomic
from pytest_prodgate.schema.report import (
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    CaseReport,
    RunReport,
)

__all__ = [
    "dump_report",
    "load_report",
    "paused_gc",
    "redact_report",
    "write_atomic",
    "write_report",
]


def load_report(path: str | os.PathLike[str]) -> RunReport:
    """Read and validate a report; any problem is one :class:`ReportError` naming the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{p}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{p}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:  # e.g. 100,000 nested "[": no report nests like that
        raise ReportError(f"{p}: not a prodgate report (JSON nested too deeply)") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ReportError(f"{p}: not a prodgate report (no schema_version)")
    if data["schema_version"] not in READABLE_VERSIONS:
        raise ReportError(
            f"{p}: report schema_version {data['schema_version']!r} is not supported "
            f"(this pytest-prodgate reads versions 1 and {SCHEMA_VERSION})"
        )
    try:
        report = RunReport.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ReportError(
            f"{p}: invalid prodgate report at {loc}: {first['msg']}"
            + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")
        ) from None
    # Types are pydantic's; the values gating reads (scores, latencies, costs, each
    # case once) are checked here, on reading only: the plugin writes none that fail.
    from pytest_prodgate.schema.values import report_problem

    problem = report_problem(report, data)
    if problem is not None:
        raise ReportError(f"{p}: invalid prodgate report at {problem}")
    return report


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large report is built, read or written.

    Building 100,000 cases allocates millions of objects and no cycles; the
    collector would scan the whole heap (pytest's items too) again and again, for
    half the CPU time of gating. It runs as before afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def dump_report(report: RunReport, root: str | os.PathLike[str] | None = None) -> str:
    """The report as compact JSON (one line, defaults left out): what ``--prodgate-report`` writes.

    Each case's ``source`` goes into the run's ``datasets`` list once, relative to
    ``root`` (the rootdir) when under it, and the case keeps its index. Fills
    ``report.datasets`` and each case's ``dataset``.
    """
    return b"".join(_json_chunks(report, root)).decode("utf-8")


def write_report(
    path: str | os.PathLike[str], report: RunReport, root: str | os.PathLike[str] | None = None
) -> None:
    """Redact ``report`` (SPEC §18) and write it to ``path`` as :func:`dump_report`
    gives it, with a final newline, atomically (:func:`write_atomic`).

    The JSON goes to the file as it is made, a block of cases at a time, never held
    whole: a 30 MB report of 100,000 cases costs a block's size in memory, not its own.
    """
    write_atomic(path, itertools.chain(_json_chunks(redact_report(report), root), [b"\n"]))


#: Cases serialized at a time (about 300 KB of JSON for cases of one call each).
_CASE_BLOCK = 1000
_CASES = TypeAdapter(list[CaseReport])


def _json_chunks(report: RunReport, root: str | os.PathLike[str] | None) -> Iterator[bytes]:
    """The report's JSON in pieces: the run's fields, then each suite's, then its cases a
    block at a time. Joined, the pieces are what pydantic gives for the whole report
    (with ``suites`` last in the run and ``cases`` last in each suite)."""
    index: dict[str, int] = {p: i for i, p in enumerate(report.datasets)}
    seen: dict[str, int] = {}
    for suite in report.suites:
        for case in suite.cases:
            source = case.source
            if source is None:
                continue
            i = seen.get(source)
            if i is None:
                key = _relative(source, root)
                i = seen[source] = index.setdefault(key, len(index))
            case.dataset = i
    report.datasets = list(index)
    head = report.__pydantic_serializer__.to_json(report, exclude_defaults=True, exclude={"suites"})
    # exclude_defaults leaves out the version too; a reader needs it first.
    fields = head[1:-1]
    yield b'{"schema_version":%d%s%s' % (SCHEMA_VERSION, b"," if fields else b"", fields)
    if not report.suites:
        yield b"}"
        return
    yield b',"suites":['
    for k, suite in enumerate(report.suites):
        data = suite.__pydantic_serializer__.to_json(
            suite, exclude_defaults=True, exclude={"cases"}
        )
        yield (b"," if k else b"") + data[:-1]  # a suite always has a name: never {}
        cases = suite.cases
        if cases:
            yield b',"cases":['
            for start in range(0, len(cases), _CASE_BLOCK):
                block = _CASES.dump_json(cases[start : start + _CASE_BLOCK], exclude_defaults=True)
                yield (b"," if start else b"") + block[1:-1]
            yield b"]"
        yield b"}"
    yield b"]}"


def _relative(path: str, root: str | os.PathLike[str] | None) -> str:
    p = Path(path)
    if root is not None and p.is_absolute():
        try:
            return p.relative_to(root).as_posix()
        except ValueError:
            pass
    return p.as_posix()


def redact_report(report: RunReport) -> RunReport:
    """Redact secrets (SPEC §18) in every free-text field of ``report``, in place; returns it.

    The plugin redacts where text is captured; this is the last pass before a
    report is printed or written, also for a report written elsewhere. Only the
    fields that hold free text are looked at (most are ``None``), so it costs little
    at 100,000 cases, where redacting every JSON string would cost seconds.
    """
    from pytest_prodgate.schema.redact import redact_json, redactor, report_ids

    redact = redactor()

    def fix_notes(notes: Any) -> Any:
        # Notes are the user's JSON (prodgate_case.note): keys, nested values, and a
        # value whose key names a secret ({"api_key": "..."}).
        return redact_json(notes, redact)

    # The free-text fields, gathered over every suite and redacted in blocks at the end
    # (Redactor.many): most cases have none but their node id.
    where: list[tuple[object, str]] = []
    texts: list[str] = []

    def take(obj: object, *names: str) -> None:
        for name in names:
            value = getattr(obj, name)
            if isinstance(value, str) and value:
                where.append((obj, name))
                texts.append(value)

    object.__setattr__(report, "notes", fix_notes(report.notes))
    for suite in report.suites:
        object.__setattr__(suite, "notes", fix_notes(suite.notes))
        for g in suite.gates:
            take(g, "gate", "reason", "hint")  # slice_floor[TAG]: tags are redacted too
        floors = suite.targets.get("slice_floors")
        if isinstance(floors, dict) and floors:
            object.__setattr__(
                suite, "targets", {**suite.targets, "slice_floors": fix_notes(floors)}
            )
        if suite.regression is not None:
            reg = suite.regression
            take(reg, "note")
            for name in ("only_current", "only_baseline", "regressed", "fixed"):
                object.__setattr__(reg, name, [redact(i) for i in getattr(reg, name)])
                # (ids the run paired on are report ids already: gating.regression)
        if suite.slices:
            object.__setattr__(suite, "slices", {redact(k): v for k, v in suite.slices.items()})
        cases = suite.cases
        ids: dict[str, str] = {}  # the ids redaction changed: old -> new
        for case, clean in zip(cases, report_ids([c.id for c in cases], redact), strict=True):
            # Ids, tags and node ids come from parameters, which may carry a token.
            if clean != case.id:
                ids[case.id] = clean
                object.__setattr__(case, "id", clean)
        for case in cases:
            if case.tags:
                object.__setattr__(case, "tags", tuple(redact.many(case.tags)))
            if case.error:
                take(case, "error")
            if case.notes:
                case.notes = fix_notes(case.notes)
            for t in case.trials:
                where.append((t, "nodeid"))
                texts.append(t.nodeid)
                if t.reason or t.error:
                    take(t, "reason", "error")
                for c in t.calls:
                    if c.error_message or c.cost_error or c.cache_note or c.error:
                        take(c, "error", "error_message", "cost_error", "cache_note")
                for d in t.drills:
                    take(d, "error")
                    for step in d.steps:
                        take(step, "last_error")
        if suite.flaky_cases:
            flaky = [ids.get(i) or redact(i) for i in suite.flaky_cases]
            object.__setattr__(suite, "flaky_cases", flaky)
        if ids and suite.early_stop is not None:  # the seeded order names the cases too
            order = [ids.get(i) or redact(i) for i in suite.early_stop.order]
            object.__setattr__(suite.early_stop, "order", order)
    for (obj, name), value, clean in zip(where, texts, redact.many(texts), strict=True):
        if clean != value:
            # Past pydantic's __setattr__ on a model: a str stays a str.
            object.__setattr__(obj, name, clean)
    return report
