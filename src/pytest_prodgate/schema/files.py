"""Reports on disk: read, written atomically with the user's umask, redacted (SPEC §10, §18).

Pure: no pytest. The model is :mod:`pytest_prodgate.schema.report`; this module is
every way a report (or another file, such as a lock) reaches the disk or comes back.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pytest_prodgate.errors import ReportError
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


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


#: A temporary file of a writer that is gone, on another host or in another pid
#: namespace (where its pid says nothing), is removed once it is this old.
STALE_TEMP_AGE_S = 24 * 3600


def _writer_tag() -> str:
    """This host and pid namespace, short: which pids a temporary file's name can be checked
    against (a container sharing the directory has its own pids)."""
    import hashlib
    import socket

    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return hashlib.sha256(f"{socket.gethostname()}\0{namespace}".encode()).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another write in this process: never ours to remove
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid we can ask about: keep it
    return True


def _remove_stale_temps(target: Path, tag: str) -> None:
    """Remove the temporary files earlier writers of ``target`` left (killed mid-write).

    Ours are named ``.NAME.PID.TAG.RANDOM.tmp``: one whose TAG is this host's and
    whose PID is not running is removed; one of another host, or of a version
    before this naming (``.NAME.RANDOM.tmp``), once it is older than
    :data:`STALE_TEMP_AGE_S`. Nothing else in the directory is looked at.
    """
    import re
    import time

    ours = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.([0-9a-f]{{8}})\.[a-z0-9_]{{8}}\.tmp")
    older = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")
    prefix = f".{target.name}."
    try:
        names = [
            n for n in os.listdir(target.parent) if n.startswith(prefix) and n.endswith(".tmp")
        ]
    except OSError:
        return
    now = time.time()
    for name in names:
        m = ours.fullmatch(name)
        if m is None and older.fullmatch(name) is None:
            continue
        path = target.parent / name
        if m is not None and m.group(2) == tag:
            stale = not _pid_alive(int(m.group(1)))
        else:
            try:
                stale = now - path.lstat().st_mtime > STALE_TEMP_AGE_S
            except OSError:
                continue
        if stale:
            with contextlib.suppress(OSError):
                path.unlink()


@contextlib.contextmanager
def _unlink_on_sigterm(tmp: list[str]) -> Iterator[None]:
    """While a file is written, SIGTERM (``timeout``, a cancelled CI job) first removes
    the temporary file ``tmp[0]``, then ends the process as it would have.

    Only in the main thread and only where SIGTERM has its default action (a handler
    of the program's own runs as before; one that raises lets the ``except`` of
    :func:`write_atomic` clean up). The previous handler is restored afterwards.
    """
    import signal
    import threading

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp[0])
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def write_atomic(
    path: str | os.PathLike[str], data: str | bytes | Iterable[bytes | memoryview]
) -> None:
    """Write ``data`` (text, bytes, or chunks of bytes written in turn) to ``path`` so
    that readers see the old file or the new one, never half.

    The file gets the permissions the umask gives a new file (as ``open()`` would).
    The temporary file beside it is named ``.NAME.PID.TAG.RANDOM.tmp`` (TAG: this
    host): a write removes those of earlier writers that were killed mid-write
    (:func:`_remove_stale_temps`), and SIGTERM during the write removes its own.
    """
    chunks = (
        [data.encode("utf-8")]
        if isinstance(data, str)
        else [data]
        if isinstance(data, bytes)
        else data
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = _writer_tag()
    _remove_stale_temps(target, tag)
    tmp: list[str] = []
    with _unlink_on_sigterm(tmp):
        fd, name = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}.{tag}.", suffix=".tmp", dir=target.parent
        )
        tmp.append(name)
        try:
            # mkstemp makes the file 0600; a report or lock is as readable as any file
            # the user creates (0666 less the umask).
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(name, target)
            tmp.clear()
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise


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
