"""The HTML report's table of cases: filterable, paged, bounded at any suite size. Pure.

A suite of 100,000 cases must not become a multi-megabyte table. The page
therefore holds, per suite, an aggregate (cases per outcome and slice, every
case counted) and at most :data:`MAX_ROWS` case rows: model errors first, then
missed, flipped and other unusual cases, then passed cases while room is left.
The table says how many rows it leaves out and where the rest are (the JSON
report). A small inline script pages the rows and filters them by kind
(missed, model errors, flipped, passed), slice and text; without script every
row is shown. Case ids, tags and error texts are user data: everything is
escaped, and the script only reads attributes and sets ``hidden``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from html import escape

from pytest_prodgate.schema.report import CaseReport, SuiteReport

__all__ = ["MAX_ROWS", "PAGE_SIZE", "SCRIPT", "case_kinds", "cases_html"]

#: Case rows embedded per suite; the aggregate above the table counts every case.
MAX_ROWS = 2_000
#: Rows the script shows per page.
PAGE_SIZE = 50
#: Longest error or reason text shown in a row (the JSON report has it whole).
_TEXT = 160

_KIND_ORDER = {"model_error": 0, "error": 1, "crashed": 1, "missed": 2, "flipped": 3}
_KIND_LABEL = {
    "missed": "missed",
    "model_error": "model errors",
    "flipped": "flipped",
    "passed": "passed",
    "other": "other",
}


def case_kinds(case: CaseReport, flipped: set[str]) -> list[str]:
    """The filter kinds a case belongs to: ``missed``, ``model_error``, ``flipped``, ..."""
    outcomes = {t.outcome for t in case.trials}
    kinds = []
    if "model_error" in outcomes:
        kinds.append("model_error")
    if "missed" in outcomes:
        kinds.append("missed")
    if case.id in flipped:
        kinds.append("flipped")
    if outcomes and outcomes <= {"passed"}:
        kinds.append("passed")
    if not kinds:
        kinds.append("other")
    return kinds


def _rank(kinds: list[str]) -> int:
    return min((_KIND_ORDER.get(k, 4) for k in kinds), default=5) if "passed" not in kinds else 9


def _cell(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{escape(text)}</td>"


def _short(text: str | None) -> str:
    if not text:
        return ""
    one = " ".join(text.split())
    return one if len(one) <= _TEXT else one[: _TEXT - 1] + "…"


def _row(case: CaseReport, kinds: list[str], flip: str) -> str:
    outcomes = Counter(t.outcome for t in case.trials)
    outcome = ", ".join(f"{o}×{n}" if n > 1 else o for o, n in sorted(outcomes.items()))
    rate = "" if case.pass_rate is None else f"{case.pass_rate:.2f}"
    latency = f"{statistics.median(case.latencies_ms):.3g}" if case.latencies_ms else ""
    cost = "" if case.cost_usd is None else f"{case.cost_usd:.3g}"
    why = case.error or case.not_gated or next((t.reason for t in case.trials if t.reason), None)
    attrs = (
        f'data-k="{escape(" ".join(kinds))}" data-s="{escape(chr(10).join(case.tags))}" '
        f'data-t="{escape((case.id + " " + (why or "")).lower())}"'
    )
    return (
        f"<tr {attrs}>"
        + _cell(case.id, "id")
        + _cell(outcome)
        + _cell(flip)
        + _cell(rate, "num")
        + _cell(latency, "num")
        + _cell(cost, "num")
        + _cell(", ".join(case.tags))
        + _cell(_short(why))
        + "</tr>"
    )


def _aggregate(suite: SuiteReport, kinds_of: dict[str, list[str]]) -> str:
    """Cases per kind, overall and per slice: counts every case, whatever is embedded."""
    total: Counter[str] = Counter()
    by_tag: dict[str, Counter[str]] = {}
    for case in suite.cases:
        for k in kinds_of[case.id]:
            total[k] += 1
            for tag in case.tags:
                by_tag.setdefault(tag, Counter())[k] += 1
    cols = [k for k in ("passed", "missed", "model_error", "flipped", "other") if total[k]]
    head = "".join(f"<th>{escape(_KIND_LABEL[k])}</th>" for k in cols)
    body = [
        "<tr><td>all cases</td>"
        + "".join(f'<td class="num">{total[k]:,}</td>' for k in cols)
        + "</tr>"
    ]
    for tag in sorted(by_tag)[:200]:
        counts = by_tag[tag]
        body.append(
            f"<tr><td>{escape(tag)}</td>"
            + "".join(f'<td class="num">{counts[k]:,}</td>' for k in cols)
            + "</tr>"
        )
    more = (
        f"<p class='note'>{len(by_tag) - 200:,} more slices are in the JSON report.</p>"
        if len(by_tag) > 200
        else ""
    )
    return (
        f'<table class="agg"><thead><tr><th>cases</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{more}"
    )


def cases_html(suite: SuiteReport, key: str, max_rows: int = MAX_ROWS) -> str:
    """The aggregate and the filterable table of one suite's cases (``key``: a unique DOM id)."""
    regressed = set(suite.regression.regressed) if suite.regression else set()
    fixed = set(suite.regression.fixed) if suite.regression else set()
    flipped = regressed | fixed
    kinds_of = {c.id: case_kinds(c, flipped) for c in suite.cases}
    order = sorted(range(len(suite.cases)), key=lambda i: (_rank(kinds_of[suite.cases[i].id]), i))
    shown = order[:max_rows]
    rows = []
    for i in shown:
        case = suite.cases[i]
        flip = "regressed" if case.id in regressed else "fixed" if case.id in fixed else ""
        rows.append(_row(case, kinds_of[case.id], flip))
    tags = sorted({t for c in suite.cases for t in c.tags})
    options = "".join(f'<option value="{escape(t)}">{escape(t)}</option>' for t in tags[:500])
    present = {k for ks in kinds_of.values() for k in ks}
    boxes = "".join(
        f'<label><input type="checkbox" value="{k}" checked> {escape(_KIND_LABEL[k])}</label> '
        for k in ("missed", "model_error", "flipped", "passed", "other")
        if k in present
    )
    left = len(suite.cases) - len(shown)
    note = (
        f"<p class='note'>Showing {len(shown):,} of {len(suite.cases):,} cases (model errors, "
        f"missed and flipped first); the other {left:,} are counted above and listed in "
        "the JSON report (<code>--prodgate-report</code>).</p>"
        if left
        else ""
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("case", "outcome", "flipped", "pass rate", "latency ms", "cost USD",
                  "slices", "error / reason")
    )  # fmt: skip
    return (
        _aggregate(suite, kinds_of)
        + f'<div class="cases" id="{key}">'
        + f'<div class="filters">{boxes}'
        + '<select class="slice"><option value="">every slice</option>'
        + f"{options}</select> "
        + '<input class="q" type="search" placeholder="filter by id or error"> '
        + '<span class="pager"><button class="prev" type="button">‹</button> '
        + '<span class="page"></span> <button class="next" type="button">›</button></span>'
        + f"</div>{note}"
        + f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + "</div>"
    )


#: Pages and filters every ``div.cases`` table; reads attributes only (no innerHTML).
SCRIPT = f"""
(function () {{
  var SIZE = {PAGE_SIZE};
  document.querySelectorAll("div.cases").forEach(function (box) {{
    var rows = Array.prototype.slice.call(box.querySelectorAll("tbody tr"));
    var boxes = box.querySelectorAll(".filters input[type=checkbox]");
    var slice = box.querySelector("select.slice"), q = box.querySelector("input.q");
    var label = box.querySelector(".page"), page = 0, hits = rows;
    function match(tr) {{
      var kinds = tr.getAttribute("data-k").split(" "), on = false;
      boxes.forEach(function (b) {{ if (b.checked && kinds.indexOf(b.value) >= 0) on = true; }});
      if (!on) return false;
      var s = slice.value;
      if (s && tr.getAttribute("data-s").split("\\n").indexOf(s) < 0) return false;
      var t = q.value.trim().toLowerCase();
      return !t || tr.getAttribute("data-t").indexOf(t) >= 0;
    }}
    function show() {{
      var pages = Math.max(1, Math.ceil(hits.length / SIZE));
      page = Math.min(Math.max(page, 0), pages - 1);
      rows.forEach(function (tr) {{ tr.hidden = true; }});
      hits.slice(page * SIZE, (page + 1) * SIZE).forEach(function (tr) {{ tr.hidden = false; }});
      label.textContent = hits.length + " rows, page " + (page + 1) + " of " + pages;
    }}
    function filter() {{ hits = rows.filter(match); page = 0; show(); }}
    boxes.forEach(function (b) {{ b.addEventListener("change", filter); }});
    slice.addEventListener("change", filter);
    q.addEventListener("input", filter);
    box.querySelector(".prev").addEventListener("click", function () {{ page--; show(); }});
    box.querySelector(".next").addEventListener("click", function () {{ page++; show(); }});
    filter();
  }});
}})();
"""
