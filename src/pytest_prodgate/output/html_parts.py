"""Parts of the HTML report: escaped tables, verdict badges, and the service sections. Pure.

The service sections are the throughput of each load run per time window and
each drill's timeline (SPEC §16); :mod:`.html` assembles the page. Every text
from the report is escaped; only :class:`Html` (markup built here) is kept as is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from html import escape
from typing import Any

from pytest_prodgate.gating.registry import kind_of
from pytest_prodgate.output import html_plots as plots
from pytest_prodgate.schema.report import GateReport, SuiteReport
from pytest_prodgate.stats.windows import window_counts

__all__ = ["Html", "drills", "figure", "gates_of", "table", "throughput", "verdict"]


class Html(str):
    """Markup built here from escaped parts: a table keeps it as is."""


def verdict(verdict: str) -> Html:
    known = {"PASS", "FAIL", "INCONCLUSIVE", "NO_DATA", "INCOMPLETE", "TAMPERED", "LOOSENED",
             "SHARD"}  # fmt: skip
    cls = verdict if verdict in known else "other"
    return Html(f'<span class="v v-{cls}">{escape(verdict)}</span>')


def table(head: list[str], rows: list[list[str]], num: set[int] | None = None) -> str:
    """A table of text cells, each escaped unless it is :class:`Html`."""
    num = num or set()

    def cell(i: int, text: str) -> str:
        inner = text if isinstance(text, Html) else escape(text)
        return f'<td class="num">{inner}</td>' if i in num else f"<td>{inner}</td>"

    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(cell(i, c) for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def figure(with_plots: bool, draw: Callable[..., str | None], *args: Any, **kwargs: Any) -> str:
    """``draw(*args, **kwargs)`` (an SVG plot) in a ``<figure>``; not even drawn without plots."""
    if not with_plots:
        return ""
    svg = draw(*args, **kwargs)
    return "" if svg is None else f'<figure class="plot">{svg}</figure>'


def gates_of(suite: SuiteReport, *names: str) -> list[GateReport]:
    return [g for g in suite.gates if kind_of(g.gate).name in names]


def throughput(suite: SuiteReport, with_plots: bool) -> str:
    gates = gates_of(suite, "throughput_rps")
    target = gates[0].target if gates else None
    runs = [run for c in suite.cases for t in c.trials for run in t.load_runs]
    if not runs:
        return ""
    out = ["<h3>Throughput per time window</h3>"]
    for run in runs:
        counts, width = window_counts(run.calls, run.duration_s)
        rates = [k / width for k in counts] if width > 0 else []
        out.append(
            f"<p>Load run <b>{escape(run.name or '')}</b>: concurrency {run.concurrency}, "
            f"{len(run.calls):,} requests in {run.duration_s:.2f} s, {run.errors():,} errors"
            + (", saturated" if run.saturated else "")
            + (", timed out" if run.timed_out else "")
            + "</p>"
        )
        out.append(figure(with_plots, plots.windows_svg, rates, width, target))
        out.append(
            table(
                ["window", "from s", "to s", "ok requests", "ok req/s"],
                [
                    [
                        str(i + 1),
                        f"{i * width:.2f}",
                        f"{(i + 1) * width:.2f}",
                        f"{k:,}",
                        f"{rates[i]:.4g}",
                    ]
                    for i, k in enumerate(counts)
                ],
                num={0, 1, 2, 3, 4},
            )
        )
    return "".join(out)


def drills(suite: SuiteReport, with_plots: bool) -> str:
    gates = gates_of(suite, "recovery_s")
    budget = gates[0].target if gates else None
    drills = [d for c in suite.cases for t in c.trials for d in t.drills]
    if not drills:
        return ""
    out = ["<h3>Drills</h3>"]
    for d in drills:
        steps = []
        for st in d.steps:
            end = st.elapsed_s if st.elapsed_s is not None else 0.0
            steps.append((st.step, max(end - (st.wait_s or 0.0), 0.0), end, st.ok))
        last = max((e for _, _, e, _ in steps), default=0.0)
        shown_budget = budget if budget is not None and budget <= 3 * max(last, 1e-9) else None
        state = "recovered" if d.recovered else "NOT recovered"
        out.append(
            f"<p>Drill <b>{escape(d.name or '')}</b>: {state}"
            + (f", error: {escape(d.error)}" if d.error else "")
            + "</p>"
        )
        svg = functools.partial(
            plots.drill_svg,
            steps,
            detected_s=d.detected_s,
            recovered_s=d.recovered_s,
            budget=shown_budget,
        )
        out.append(figure(with_plots, svg))
        out.append(
            table(
                ["step", "ok", "s after fault", "waited s", "checks", "last error"],
                [
                    [
                        st.step,
                        "yes" if st.ok else "no",
                        "-" if st.elapsed_s is None else f"{st.elapsed_s:.3g}",
                        "-" if st.wait_s is None else f"{st.wait_s:.3g}",
                        str(st.checks),
                        st.last_error or "",
                    ]
                    for st in d.steps
                ],
                num={2, 3, 4},
            )
        )
    return "".join(out)
