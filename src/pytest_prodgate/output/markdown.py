"""The Markdown summary of a run report, for ``GITHUB_STEP_SUMMARY`` (SPEC §8). Pure."""

from __future__ import annotations

from pytest_prodgate.output.terminal import calls_line, gate_rows, verdict_line
from pytest_prodgate.schema.redact import redact
from pytest_prodgate.schema.report import RunReport

__all__ = ["markdown"]


def markdown(report: RunReport) -> str:
    """A GitHub-flavoured Markdown table of the gates, for ``GITHUB_STEP_SUMMARY``."""
    pct = f"{report.run.confidence:.0%} interval"
    lines = [
        "### prodgate",
        "",
        f"| suite | gate | target | observed | {pct} | n | verdict |",
        "|---|---|---|---:|---|---:|---|",
    ]
    icon = {"PASS": "✅", "INCONCLUSIVE": "⚠️", "SHARD": "🧩"}
    for r, g in zip(gate_rows(report), [g for s in report.suites for g in s.gates], strict=True):
        cells = [c.replace("|", "\\|") for c in r]
        cells[-1] = f"{icon.get(g.verdict, '❌')} {g.verdict}"
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        f"- **{s.name} {g.gate} {g.verdict}**: {g.reason} {g.hint}".rstrip()
        for s in report.suites
        for g in s.gates
        if g.verdict != "PASS"
    ]
    notes += [f"- {s.name}: {line}" for s in report.suites if (line := calls_line(s))]
    if notes:
        lines += ["", *notes]
    lines += ["", f"**{verdict_line(report)}**", ""]
    return redact("\n".join(lines)) + "\n"  # SPEC §18: the last line of defence
