"""The HTML report (SPEC §16): one self-contained page, no network request. Pure.

:func:`html_report` renders a :class:`~pytest_prodgate.schema.report.RunReport`:
the run, the gate table, then per suite the accuracy and slice floors as
intervals against their floor, the latency distribution with budget and bound,
cost per call, the regression change with its interval and flipped cases,
throughput per time window of each load run, each drill's timeline, and the
filterable table of cases (:mod:`.html_cases`). Plots are static SVG from
matplotlib (:mod:`.html_plots`, the ``[html]`` extra); without it every table
is still there and the page says how to get the plots.

Every verdict, figure and interval shown is the report's own (``gating.run``
decided them): nothing here gates. A Content-Security-Policy that allows no
source at all makes any request impossible, not only absent. Everything from
the report is escaped.
"""

from __future__ import annotations

import functools
from html import escape

from pytest_prodgate.gating.registry import REGRESSION, SLICE_FLOOR, fmt, kind_of
from pytest_prodgate.output import html_plots as plots
from pytest_prodgate.output.html_cases import SCRIPT, cases_html
from pytest_prodgate.output.html_parts import (
    drills,
    figure,
    gates_of,
    table,
    throughput,
    verdict,
)
from pytest_prodgate.output.terminal import gate_rows, verdict_line
from pytest_prodgate.schema.files import redact_report
from pytest_prodgate.schema.report import GateReport, RunReport, SuiteReport

__all__ = ["INSTALL_HINT", "html_report"]

#: What the page says when matplotlib is missing.
INSTALL_HINT = (
    "Plots are not drawn: matplotlib is not installed. "
    "Install the extra with <code>pip install 'pytest-prodgate[html]'</code> and write "
    "the page again (<code>prodgate html REPORT -o report.html</code>)."
)

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
max-width:1100px;padding:1em 1.5em;color:#1d1d1d;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
h3{margin:1.2em 0 .4em}table{border-collapse:collapse;margin:.4em 0 1em;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.id{font-family:ui-monospace,monospace;word-break:break-all}
.v{font-weight:600;padding:1px 6px;border-radius:3px}.v-PASS{background:#dff3e2;color:#1d5e2a}
.v-FAIL,.v-TAMPERED,.v-LOOSENED,.v-INCOMPLETE,.v-NO_DATA{background:#fbe0dd;color:#8a1f11}
.v-INCONCLUSIVE{background:#fff1c9;color:#6b4f00}.v-SHARD{background:#e3ecfa;color:#1f3f73}.v-other{background:#eee}
.verdict{font-size:1.15em;font-weight:700;padding:.5em .8em;border-radius:4px}
.verdict.ok{background:#dff3e2}.verdict.bad{background:#fbe0dd}
.note{color:#555;font-size:13px}.hint{background:#fffbe6;border:1px solid #eedc82;
padding:.5em .8em;border-radius:4px}dl.run{display:grid;grid-template-columns:max-content 1fr;
gap:0 1em;font-size:13px}dl.run dt{color:#555}dl.run dd{margin:0}
.filters{margin:.5em 0}.filters label{margin-right:.6em}svg{max-width:100%;height:auto}
ul.reasons li{margin-bottom:.3em}
"""


def _gatetable(report: RunReport) -> str:
    pct = f"{report.run.confidence:.0%} interval"
    head = ["suite", "gate", "target", "observed", pct, "n", "verdict"]
    rows = [[*r[:-1], verdict(r[-1])] for r in gate_rows(report)]
    if not rows:
        return "<p>No gates declared (add keyword arguments to the prodgate marker).</p>"
    return table(head, rows, num={3, 5})


def _reasons(report: RunReport) -> str:
    items = []
    for s in report.suites:
        for g in s.gates:
            if g.verdict == "PASS" and not g.reason:
                continue
            hint = f"<br><span class='note'>{escape(g.hint)}</span>" if g.hint else ""
            items.append(
                f"<li><b>{escape(s.name)} {escape(g.gate)}</b> {verdict(g.verdict)} "
                f"{escape(g.reason)}{hint}</li>"
            )
    return f'<ul class="reasons">{"".join(items)}</ul>' if items else ""


def _run_info(report: RunReport) -> str:
    r = report.run
    pairs = [
        ("started", r.started_at),
        ("duration", f"{r.duration_s:.1f} s"),
        ("mode", r.mode + (", interrupted" if r.interrupted else "")),
        ("model", " ".join(x for x in (r.model_name, r.model_version) if x) or "-"),
        ("git commit", r.git_commit or "-"),
        ("statistics", f"confidence {r.confidence}, {r.resamples:,} resamples, seed {r.seed}, "
                       f"method {r.ci_method}, inconclusive {r.inconclusive or 'default'}"),
        ("versions", f"pytest-prodgate {r.plugin_version}, pytest {r.pytest_version}, "
                     f"Python {r.python_version}"),
    ]  # fmt: skip
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in pairs)
    return f'<dl class="run">{body}</dl>'


def _floors(suite: SuiteReport, with_plots: bool) -> str:
    gates = gates_of(suite, "accuracy_floor", SLICE_FLOOR.name)
    out = []
    if gates:
        rows = [
            (g.gate, g.estimate, g.lower, g.upper, g.target, g.verdict == "PASS") for g in gates
        ]
        out.append(figure(with_plots, plots.forest_svg, rows, xlabel="accuracy"))
    if suite.slices:
        floors = {g.gate: g for g in gates_of(suite, SLICE_FLOOR.name)}
        head = ["slice", "n", "accuracy"]
        if floors:
            head += ["interval", "floor", "verdict"]
        body = []
        for tag, sl in suite.slices.items():
            row: list[str] = [tag, f"{sl.n:,}", fmt("accuracy_floor", sl.accuracy)]
            g = floors.get(f"slice_floor[{tag}]")
            if g is not None:
                row += [
                    f"[{fmt(g.gate, g.lower)}, {fmt(g.gate, g.upper)}]",
                    fmt(g.gate, g.target),
                    verdict(g.verdict),
                ]
            elif floors:
                row += ["", "", ""]
            body.append(row)
        out.append(table(head, body, num={1, 2}))
    if not out:
        return ""
    return "<h3>Accuracy and slice floors</h3>" + "".join(out)


def _latencies(suite: SuiteReport) -> list[float]:
    values = [x for c in suite.cases for x in c.latencies_ms]
    for c in suite.cases:
        for t in c.trials:
            for run in t.load_runs:
                if run.count_latency:
                    values.extend(run.ok_latencies_ms())
    return values


def _latency(suite: SuiteReport, with_plots: bool) -> str:
    gates: list[GateReport | None] = [
        g for g in suite.gates if kind_of(g.gate).quantile is not None
    ]
    values = _latencies(suite)
    if not values:
        return ""
    out = ["<h3>Latency</h3>"]
    for g in gates or [None]:
        svg = functools.partial(
            plots.histogram_svg,
            values,
            xlabel="latency per call (ms)",
            budget=g.target if g else None,
            bound=g.upper if g else None,
            bound_label=f"{g.gate} upper bound" if g else "",
            estimate=g.estimate if g else None,
            log=True,
        )
        out.append(figure(with_plots, svg))
    import numpy as np

    q = np.quantile(np.asarray(values, dtype=float), [0.5, 0.9, 0.95, 0.99])
    out.append(
        table(
            ["calls", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms"],
            [[f"{len(values):,}", *(f"{x:.4g}" for x in q), f"{max(values):.4g}"]],
            num=set(range(6)),
        )
    )
    out.append(
        "<p class='note'>Sample quantiles of the calls, for orientation; the gates "
        "above bound each quantile with its interval.</p>"
    )
    return "".join(out)


def _cost(suite: SuiteReport, with_plots: bool) -> str:
    values = [
        call.cost_usd
        for c in suite.cases
        for t in c.trials
        for call in t.calls
        if call.cost_usd is not None
    ]
    gates = gates_of(suite, "cost_per_call_usd")
    if not values and not gates:
        return ""
    g = gates[0] if gates else None
    svg = functools.partial(
        plots.histogram_svg,
        values,
        xlabel="cost per call (USD)",
        budget=g.target if g else None,
        bound=g.upper if g else None,
        estimate=g.estimate if g else None,
    )
    total = sum(values)
    rows = [[f"{len(values):,}", f"{total:.4g}", f"{total / len(values):.4g}" if values else "-"]]
    return (
        "<h3>Cost per call</h3>"
        + figure(with_plots, svg)
        + table(["priced calls", "total USD", "mean USD per call"], rows, num={0, 1, 2})
    )


def _regression(suite: SuiteReport, with_plots: bool) -> str:
    r = suite.regression
    gates = gates_of(suite, REGRESSION.name)
    if r is None and not gates:
        return ""
    out = ["<h3>Regression against the baseline</h3>"]
    if gates:
        rows = [(g.gate, g.estimate, g.lower, g.upper, g.target, g.verdict == "PASS")
                for g in gates]  # fmt: skip
        out.append(figure(with_plots, plots.forest_svg, rows, xlabel="Δ accuracy", reference=0.0))
    if r is not None:
        acc = [
            fmt("accuracy_floor", r.baseline_accuracy),
            fmt("accuracy_floor", r.current_accuracy),
        ]
        out.append(
            table(
                [
                    "baseline",
                    "paired",
                    "baseline acc.",
                    "current acc.",
                    "regressed",
                    "fixed",
                    "only now",
                    "only baseline",
                ],
                [
                    [
                        r.baseline,
                        f"{r.paired:,}",
                        *acc,
                        f"{len(r.regressed):,}",
                        f"{len(r.fixed):,}",
                        f"{len(r.only_current):,}",
                        f"{len(r.only_baseline):,}",
                    ]
                ],
                num={1, 2, 3, 4, 5, 6, 7},
            )
        )
        for label, ids in (("Regressed", r.regressed), ("Fixed", r.fixed)):
            if ids:
                shown = ", ".join(escape(i) for i in ids[:100])
                more = (
                    f" … and {len(ids) - 100:,} more (filter the cases below)"
                    if len(ids) > 100
                    else ""
                )
                out.append(f"<p><b>{label}</b> ({len(ids):,}): <code>{shown}</code>{more}</p>")
        if r.note:
            out.append(f"<p class='note'>{escape(r.note)}</p>")
    return "".join(out)


def _suite(suite: SuiteReport, index: int, with_plots: bool) -> str:
    parts = [
        f'<section class="suite"><h2>Suite {escape(suite.name)} {verdict(suite.verdict)}</h2>',
        _floors(suite, with_plots),
        _latency(suite, with_plots),
        _cost(suite, with_plots),
        _regression(suite, with_plots),
        throughput(suite, with_plots),
        drills(suite, with_plots),
    ]
    if suite.trials > 1 and suite.pass_all_rate is not None:
        parts.append(
            f"<p>trials={suite.trials}: pass^{suite.trials} {suite.pass_all_rate:.3f}, "
            f"{len(suite.flaky_cases):,} flaky cases</p>"
        )
    parts += [f"<p class='note'>{escape(n)}</p>" for n in suite.notes]
    if suite.cases:
        parts.append("<h3>Cases</h3>" + cases_html(suite, f"cases-{index}"))
    parts.append("</section>")
    return "".join(parts)


def html_report(report: RunReport, *, with_plots: bool = True) -> str:
    """The whole page; ``with_plots=False`` (or no matplotlib) gives the tables only."""
    report = redact_report(report)  # SPEC §18, also for a report written elsewhere
    with_plots = with_plots and plots.available()
    line = verdict_line(report)
    ok = "bad" if report.fails_run else "ok"
    notes = "".join(f"<p class='note'>{escape(n)}</p>" for n in report.notes)
    hint = "" if with_plots else f'<p class="hint">{INSTALL_HINT}</p>'
    body = "".join(_suite(s, i, with_plots) for i, s in enumerate(report.suites))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>prodgate report — {escape(line)}</title><style>{_CSS}</style></head><body>"
        f"<h1>prodgate report</h1><p class='verdict {ok}'>{escape(line)}</p>"
        f"{_run_info(report)}{hint}<h2>Gates</h2>{_gatetable(report)}{_reasons(report)}{notes}"
        f"{body}<script>{SCRIPT}</script></body></html>\n"
    )
