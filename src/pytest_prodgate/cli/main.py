"""``prodgate show``, ``gate``, ``merge``, ``compare``: work on saved JSON reports (SPEC §14).

``merge`` and ``compare`` live in :mod:`~.merge` and :mod:`~.compare`.

No pytest run and no model: ``show`` prints a report's table as the run printed
it; ``gate`` recomputes every gate from the report's per-case records through
:func:`pytest_prodgate.gating.run.regate`, the same code a pytest run gates with.

``gate``'s flags come from the option table
(:data:`pytest_prodgate.schema.options.OPTIONS`, the rows with a ``command``
flag), with the help text and validation of the pytest options they mirror; a
flag not given keeps the value the report was run with.

Exit status: 0 the run passes, 1 a gate fails the run, 2 a usage error (a missing
file, not a prodgate report, an unsupported ``schema_version``, a bad flag), with
one error line naming the file or flag, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pytest_prodgate._version import __version__
from pytest_prodgate.cli.plan import PlanError
from pytest_prodgate.cli.plan import add_parser as add_plan_parser
from pytest_prodgate.errors import ProdgateError
from pytest_prodgate.schema.options import OPTIONS, declare

if TYPE_CHECKING:
    from pytest_prodgate.schema.report import RunReport

__all__ = ["EXIT_FAIL", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

#: The table's rows that are flags of ``prodgate gate``.
GATE_OPTIONS = tuple(o for o in OPTIONS if o.command is not None)


class UsageError(ProdgateError):
    """Bad usage of the command; the one-line message names the file or flag."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prodgate",
        description="Show and re-gate saved pytest-prodgate JSON reports (no pytest run).",
    )
    parser.add_argument("--version", action="version", version=f"prodgate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    show = commands.add_parser(
        "show",
        help="print a report's gate table and reasons, as the run printed them.",
        description="Print a report's gate table and reasons, as the run printed them.",
    )
    show.add_argument("source", metavar="REPORT", help="a JSON report (--prodgate-report).")
    gate = commands.add_parser(
        "gate",
        help="recompute every gate from a report's cases; exit 1 when a gate fails the run.",
        description=(
            "Recompute every gate from the report's per-case records, as a pytest run "
            "would; exit 0 when the run passes, 1 when a gate fails it, 2 on bad usage."
        ),
    )
    # dest "source": the flags' dests are Settings fields, and --json's is "report".
    gate.add_argument("source", metavar="REPORT", help="a JSON report (--prodgate-report).")
    declare(gate.add_argument, GATE_OPTIONS, command=True)
    from pytest_prodgate.cli import compare, merge

    merge.add_parser(commands)
    compare.add_parser(commands)
    add_plan_parser(commands)
    from pytest_prodgate.cli import pages

    pages.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: usage line + one error line, or --help/--version
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    from pytest_prodgate.schema.files import paused_gc

    try:
        if hasattr(args, "run"):  # a command module's subcommand (cli/pages.py)
            with paused_gc():
                return int(args.run(args, sys.stdout))
        with paused_gc():
            if args.command == "show":
                return show(_load(args.source), sys.stdout)
            if args.command in ("merge", "compare"):
                import importlib

                module = importlib.import_module(f"pytest_prodgate.cli.{args.command}")
                return int(getattr(module, args.command)(args, sys.stdout))
            if args.command == "plan":
                from pytest_prodgate.cli.plan import plan

                source = _load(args.source, "--from") if args.source is not None else None
                return plan(args, sys.stdout, source)
            return gate(args, sys.stdout)
    except (UsageError, PlanError) as exc:
        print(f"prodgate {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _resolve(raw: str) -> Path:
    """A path from the command line, against the working directory (as the plugin does)."""
    return Path(Path.cwd(), os.path.expanduser(raw))


def _load(raw: str | Path, flag: str = "") -> RunReport:
    """A report, or a usage error naming the file (and the flag that gave it)."""
    from pytest_prodgate.schema.files import load_report
    from pytest_prodgate.schema.report import ReportError

    where = f"{flag} " if flag else ""
    path = _resolve(str(raw))
    if path.is_dir():
        raise UsageError(f"{where}{raw}: is a directory, not a report")
    try:
        return load_report(path)
    except ReportError as exc:
        raise UsageError(f"{where}{exc}") from None


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given, validated by the Settings model; errors name the flag."""
    from pytest_prodgate.schema.settings import SettingsError, build_settings

    values = {
        o.field: (getattr(args, o.field), o.where(command=True))
        for o in GATE_OPTIONS
        if getattr(args, o.field) is not None
    }
    for o in GATE_OPTIONS:
        if o.kind == "path" and o.field in values:
            raw, where = values[o.field]
            values[o.field] = (_resolve(raw), where)
    try:
        settings = build_settings(values)
    except SettingsError as exc:
        raise UsageError("; ".join(str(exc).splitlines())) from None
    return {field: getattr(settings, field) for field in values}


def _flag(field: str) -> str:
    return next(o.where(command=True) for o in GATE_OPTIONS if o.field == field)


def _check_output(flag: str, path: Path, inputs: Sequence[tuple[str, str]] = ()) -> None:
    """Refuse, before any work, an output path where no file can be written
    (:func:`~pytest_prodgate.schema.outputs.output_problem`), or that is the same file as
    one of ``inputs`` (``(what, path as given)``: the report, a shard, the baseline;
    :func:`~pytest_prodgate.schema.outputs.output_clash`): the plugin's checks."""
    from pytest_prodgate.schema.outputs import output_clash, output_problem

    problem = output_problem(path)
    if problem is not None:
        raise UsageError(f"{flag} {path}: {problem}")
    if inputs:
        labelled = [(f"{what} {_resolve(raw)}", _resolve(raw)) for what, raw in inputs]
        problem = output_clash([(f"{flag} {path}", path)], labelled)
        if problem is not None:
            raise UsageError(problem)


def gate(args: argparse.Namespace, out: TextIO) -> int:
    """``prodgate gate``: recompute, print, write ``--json``; 1 when a gate fails the run."""
    given = _overrides(args)
    json_flag = _flag("report")
    if "report" in given:
        inputs = [("the report", str(args.source))]
        if "baseline" in given:
            inputs.append(("--baseline", str(given["baseline"])))
        _check_output(json_flag, given["report"], inputs)
    report = _load(args.source)
    # A gate step pointed at the wrong artifact must not go green.
    if report.run.shard is not None:
        raise UsageError(
            f"{args.source}: a shard report (shard {report.run.shard.label}): its gates are "
            "decided over all shards: prodgate merge SHARD.json... -o OUT.json"
        )
    if not any(s.cases for s in report.suites):
        raise UsageError(
            f"{args.source}: measured no eval case (the report of a crashed, interrupted or "
            "--collect-only run?): nothing to gate"
        )
    baseline = None
    if "baseline" in given:
        baseline = _load(given["baseline"], _flag("baseline"))
    run_update: dict[str, Any] = {k: given[k] for k in ("mode", "cache_latency") if k in given}
    if run_update:
        report = report.model_copy(update={"run": report.run.model_copy(update=run_update)})
    from pytest_prodgate.gating.run import regate

    result = regate(
        report,
        confidence=given.get("confidence"),
        inconclusive=given.get("inconclusive"),
        baseline=baseline,
        baseline_name=str(given["baseline"]) if baseline is not None else None,
    )
    show(result, out)
    if "report" in given:
        from pytest_prodgate.schema.files import write_report

        try:
            write_report(given["report"], result)
        except OSError as exc:
            raise UsageError(f"{json_flag} {given['report']}: cannot write: {exc}") from None
        print(f"prodgate: report written to {given['report']}", file=out)
    return EXIT_FAIL if result.fails_run else EXIT_OK


def show(report: RunReport, out: TextIO) -> int:
    """Print the summary a ``--prodgate`` run prints after pytest's test summary."""
    from pytest_prodgate.output.terminal import summary

    width = _width(out)
    lines = [_sep(sep, text, width) if sep else text for sep, text in summary(report, width)]
    from pytest_prodgate.output.annotations import enabled, gate_annotations

    if enabled(os.environ):
        lines += gate_annotations(report)
    out.write("\n".join(lines) + "\n")
    return EXIT_OK


def _width(out: TextIO) -> int:
    import shutil

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size((80, 24)).columns if out.isatty() else 80


def _sep(char: str, title: str, width: int) -> str:
    """A separator line with a title, as pytest's ``write_sep`` draws it."""
    n = max((width - len(title) - 2) // (2 * len(char)), 1)
    fill = char * n
    line = f"{fill} {title} {fill}"
    return line + char if len(line) + 1 <= width else line
