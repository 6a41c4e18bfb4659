"""``prodgate html`` and ``prodgate comment``: the pages of a saved report (SPEC §14, §16).

``html REPORT -o OUT`` writes the self-contained HTML report;
``comment REPORT [--baseline B] [-o OUT]`` prints (or writes) the Markdown
pull-request comment. With ``--baseline`` the report is re-gated against it by
:func:`pytest_prodgate.gating.run.regate` first (the one place verdicts are
decided), so the comment shows the comparison; otherwise every verdict shown is
the report's own. Usage errors exit 2 with one line naming the file or flag.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add the ``html`` and ``comment`` subcommands to ``prodgate``'s subparsers."""
    html = commands.add_parser(
        "html",
        help="write a report as one self-contained HTML page (plots with pytest-prodgate[html]).",
        description="Write a saved report as one self-contained HTML page that makes no "
        "network request. Plots need the extra: pip install 'pytest-prodgate[html]'.",
    )
    html.add_argument("source", metavar="REPORT", help="a JSON report (--prodgate-report).")
    html.add_argument("-o", "--output", metavar="OUT", required=True, help="the HTML file.")
    html.set_defaults(run=run_html)
    comment = commands.add_parser(
        "comment",
        help="print a report as a Markdown pull-request comment (< 65,536 characters).",
        description="Print a saved report as a Markdown pull-request comment: the gates, "
        "what would resolve each open gate, the regression summary and flipped cases.",
    )
    comment.add_argument("source", metavar="REPORT", help="a JSON report (--prodgate-report).")
    comment.add_argument(
        "--baseline", metavar="B", help="re-gate against this baseline report first."
    )
    comment.add_argument("-o", "--output", metavar="OUT", help="write it here, not to stdout.")
    comment.set_defaults(run=run_comment)


def _write(flag: str, path: Path, text: str, what: str, out: TextIO) -> None:
    from pytest_prodgate.cli.main import UsageError
    from pytest_prodgate.schema.files import write_atomic

    try:
        write_atomic(path, text)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write: {exc}") from None
    print(f"prodgate: {what} written to {path}", file=out)


def run_html(args: argparse.Namespace, out: TextIO) -> int:
    """``prodgate html REPORT -o OUT``."""
    from pytest_prodgate.cli.main import EXIT_OK, _check_output, _load, _resolve
    from pytest_prodgate.output.html import html_report

    target = _resolve(args.output)
    _check_output("-o", target, [("the report", args.source)])
    report = _load(args.source)
    _write("-o", target, html_report(report), "HTML report", out)
    return EXIT_OK


def run_comment(args: argparse.Namespace, out: TextIO) -> int:
    """``prodgate comment REPORT [--baseline B] [-o OUT]``."""
    from pytest_prodgate.cli.main import EXIT_OK, _check_output, _load, _resolve
    from pytest_prodgate.output.comment import comment

    target = _resolve(args.output) if args.output else None
    if target is not None:
        inputs = [("the report", args.source)]
        if args.baseline is not None:
            inputs.append(("--baseline", args.baseline))
        _check_output("-o", target, inputs)
    report = _load(args.source)
    if args.baseline is not None:
        from pytest_prodgate.gating.run import regate

        baseline = _load(args.baseline, "--baseline")
        report = regate(report, baseline=baseline, baseline_name=args.baseline)
    text = comment(report)
    if target is None:
        out.write(text)
    else:
        _write("-o", target, text, "comment", out)
    return EXIT_OK
