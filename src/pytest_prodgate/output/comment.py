"""The pull-request comment (SPEC §16): Markdown under GitHub's 65,536-character limit. Pure.

:func:`comment` renders a report as one comment: a marker line (so a workflow
can find and update its own comment), the verdict, the gate table, what would
resolve each gate that did not pass, and per suite the regression summary with
the flipped cases folded in ``<details>``. However large the suite, the text
stays within :data:`LIMIT` characters: flipped-case lists are cut first, with a
line saying how many are left out and where they are; if the gates alone do not
fit, the comment is cut at a line and says so.

Every verdict is the report's own (``gating.run`` decided it). Suite names,
case ids and reasons are user data: ids go in code spans (no Markdown, no HTML,
no @-mentions inside), prose is escaped.
"""

from __future__ import annotations

import re
from html import escape

from pytest_prodgate.gating.registry import REGRESSION, fmt, kind_of
from pytest_prodgate.output.terminal import gate_rows, verdict_line
from pytest_prodgate.schema.files import redact_report
from pytest_prodgate.schema.report import RunReport, SuiteReport

__all__ = ["LIMIT", "MARKER", "code", "comment", "prose"]

#: GitHub's limit on a comment body, in characters.
LIMIT = 65_536
#: The first line of every comment: workflows look for it to update the comment.
MARKER = "<!-- prodgate-comment -->"

_ICON = {"PASS": "✅", "INCONCLUSIVE": "⚠️", "SHARD": "🧩"}  # as the step summary shows them
_PUNCT = re.compile(r"([\\`*_\[\]{}()#+!|~])")
#: What resolves a gate that did not pass when the gate gives no hint of its own.
_NO_HINT = {
    "FAIL": "more cases will not: the whole interval is on the wrong side of the target, "
    "so the system (or the target, through review of prodgate.lock) has to change.",
}
#: Characters kept free at the end for the truncation line and closing tags.
_RESERVE = 600


def code(text: str, *, cell: bool = False) -> str:
    """``text`` (user data: ids, names) as one inline code span; ``cell``: inside a table."""
    one = " ".join(text.split()) or " "
    ticks = max((len(m) for m in re.findall(r"`+", one)), default=0) + 1
    fence = "`" * ticks
    pad = " " if one.startswith("`") or one.endswith("`") else ""
    if cell:
        one = one.replace("|", "\\|")
    return f"{fence}{pad}{one}{pad}{fence}"


def prose(text: str) -> str:
    """Free text (reasons, hints, notes) with every Markdown and HTML character escaped."""
    one = " ".join(text.split())
    # A word joiner after "@" keeps a name in a reason from mentioning anyone.
    return escape(_PUNCT.sub(r"\\\1", one), quote=False).replace("@", "@\u2060")


def _html_text(text: str) -> str:
    """User text inside an HTML tag of the comment: no tag, mention, link or autolink."""
    out = escape(" ".join(text.split()))
    for raw, entity in (("[", "&#91;"), ("]", "&#93;"), (":", "&#58;"), ("@", "&#64;\u2060")):
        out = out.replace(raw, entity)
    return out


def _gate_table(report: RunReport) -> list[str]:
    pct = f"{report.run.confidence:.0%} interval"
    lines = [
        f"| suite | gate | target | observed | {pct} | n | verdict |",
        "|---|---|---|---:|---|---:|---|",
    ]
    gates = [g for s in report.suites for g in s.gates]
    for row, g in zip(gate_rows(report), gates, strict=True):
        cells = [code(row[0], cell=True), code(row[1], cell=True), *(prose(c) for c in row[2:6])]
        cells.append(f"{_ICON.get(g.verdict, '❌')} {g.verdict}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _resolve(report: RunReport) -> list[str]:
    """One bullet per gate that did not pass: why, and what would resolve it."""
    out = []
    for s in report.suites:
        for g in s.gates:
            if g.verdict in ("PASS", "SHARD"):  # SHARD: gated by prodgate merge
                continue
            effect = "fails the run" if g.fails_run else "does not fail the run"
            what = f" **To resolve:** {prose(g.hint or _NO_HINT.get(g.verdict, ''))}"
            what = "" if what.endswith(":** ") else what
            out.append(
                f"- {code(s.name)} {code(g.gate)} **{g.verdict}** ({effect}): "
                f"{prose(g.reason)}{what}"
            )
    return out


def _regression(suite: SuiteReport) -> tuple[list[str], list[tuple[str, str, list[str]]]]:
    """The summary lines of one suite's comparison, and its flipped-case lists."""
    r = suite.regression
    if r is None:
        return [], []
    gate = next((g for g in suite.gates if kind_of(g.gate) is REGRESSION), None)
    change = ""
    if gate is not None and gate.estimate is not None:
        lo = fmt(gate.gate, gate.lower) if gate.lower is not None else "-∞"
        hi = fmt(gate.gate, gate.upper) if gate.upper is not None else "∞"
        change = (
            f"; Δ accuracy {fmt(gate.gate, gate.estimate)} [{lo}, {hi}] "
            f"({gate.verdict}, {prose(_target(gate.target))})"
        )
    acc = (
        f"{fmt('accuracy_floor', r.baseline_accuracy)} → "
        f"{fmt('accuracy_floor', r.current_accuracy)}"
    )
    lines = [
        f"**{code(suite.name)}** vs {code(r.baseline)}: accuracy {acc} over {r.paired:,} "
        f"paired cases{change}; {len(r.regressed):,} regressed, {len(r.fixed):,} fixed."
    ]
    if r.only_current or r.only_baseline:
        lines.append(
            f"{len(r.only_current):,} cases only in this run, "
            f"{len(r.only_baseline):,} only in the baseline (not paired)."
        )
    if r.note:
        lines.append(prose(r.note))
    lists = [(label, suite.name, ids) for label, ids in (("regressed", r.regressed),
                                                         ("fixed", r.fixed)) if ids]  # fmt: skip
    return lines, lists


def _target(target: float) -> str:
    return f"allowed drop {-target:.3f}"


def _fit_list(label: str, suite: str, ids: list[str], budget: int) -> tuple[list[str], int]:
    """A ``<details>`` block of flipped case ids within ``budget`` characters."""
    name = _html_text(suite)
    head = [f"<details><summary>{len(ids):,} {label} cases in {name}</summary>", ""]
    tail = ["", "</details>", ""]
    used = sum(len(x) + 1 for x in head + tail) + 200
    body = []
    for cid in ids:
        line = f"- {code(cid)}"
        if used + len(line) + 1 > budget:
            break
        body.append(line)
        used += len(line) + 1
    if len(body) < len(ids):
        body.append(
            f"- … and {len(ids) - len(body):,} more {label} cases not shown (comments are "
            f"limited to {LIMIT:,} characters): see the HTML report or `prodgate compare`."
        )
    lines = head + body + tail
    return lines, sum(len(x) + 1 for x in lines)


def comment(report: RunReport, limit: int = LIMIT) -> str:
    """The Markdown comment of ``report``, at most ``limit`` characters long."""
    report = redact_report(report)  # SPEC §18, also for a report written elsewhere
    top = [MARKER, f"### {prose(verdict_line(report))}", ""]
    if report.run.git_commit:
        top += [f"Commit `{report.run.git_commit[:12]}`, mode {report.run.mode}.", ""]
    if report.suites:
        top += _gate_table(report)
    else:
        top.append("No eval cases ran.")
    resolve = _resolve(report)
    if resolve:
        top += ["", "#### What would resolve the open gates", "", *resolve]
    notes = [f"- {prose(n)}" for n in report.notes]
    if notes:
        top += ["", *notes]
    summaries, lists = [], []
    for suite in report.suites:
        lines, flipped = _regression(suite)
        summaries += lines
        lists += flipped
    if summaries:
        top += ["", "#### Against the baseline", "", *summaries]
    text = "\n".join(top) + "\n"
    if len(text) > limit - _RESERVE:
        return _cut(text, limit)
    out = [text, ""]
    budget = limit - len(text) - _RESERVE
    for i, (label, name, ids) in enumerate(lists):
        share = budget // (len(lists) - i)  # what is left, split over the lists to come
        lines, used = _fit_list(label, name, ids, share)
        out += lines
        budget -= used
    return "\n".join(out).rstrip("\n") + "\n"


def _cut(text: str, limit: int) -> str:
    """``text`` cut at a line so that it and the truncation line fit in ``limit``."""
    note = (
        f"\n\n… comment truncated at {limit:,} characters (GitHub's limit): the whole "
        "table is in the job log (`prodgate show REPORT`) and the HTML report.\n"
    )
    keep = text[: limit - len(note)]
    keep = keep[: keep.rfind("\n")] if "\n" in keep else keep
    return keep + note
