"""The terminal rendering of a run report: the gate table, reasons and the verdict line.

Pure: no pytest. Reads only a :class:`~pytest_prodgate.schema.report.RunReport`
and, for how each gate's figures look, the gate registry.
"""

from __future__ import annotations

import itertools
import math
import textwrap
from collections import Counter
from collections.abc import Callable

from pytest_prodgate.gating.registry import fmt, interval_text, kind_of, target_text
from pytest_prodgate.gating.run import INVALID_MARKER_NOTE
from pytest_prodgate.schema.redact import redact
from pytest_prodgate.schema.report import DrillReport, LoadRunReport, RunReport, SuiteReport

__all__ = [
    "DEFAULT_WIDTH",
    "VERDICT_COLOURS",
    "Paint",
    "fit",
    "gate_rows",
    "significant",
    "suite_details",
    "summary",
    "table_lines",
    "verdict_line",
]

#: The width when the terminal's is unknown.
DEFAULT_WIDTH = 80
#: The terminal writer's colour of each verdict (``--color``).
VERDICT_COLOURS = {
    "PASS": "green",
    "FAIL": "red",
    "INCOMPLETE": "red",
    "NO_DATA": "red",
    "TAMPERED": "red",
    "LOOSENED": "red",
    "INCONCLUSIVE": "yellow",
    "SHARD": "cyan",
}
#: ``paint(text, colour)``: ``text`` in the terminal writer's markup for ``colour``.
Paint = Callable[[str, str], str]
_DIGITS = 3
#: Below this a figure prints in scientific notation (``5.25e-06``).
_SCIENTIFIC_BELOW = 1e-4


def significant(x: float | None, digits: int = _DIGITS, *, scientific: bool | None = None) -> str:
    """``x`` with ``digits`` significant digits, trailing zeros kept.

    Plain notation (``0.0123``, ``1,230``) from ``1e-4`` (after rounding: 9.9996e-05
    is ``0.000100``); scientific below (``5.25e-06``), or as ``scientific`` says (one
    notation for the figures of one row); ``0`` for zero, ``-`` for none, ``∞``/``-∞``
    for unbounded.
    """
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    if scientific is None:
        scientific = _scientific_alone(x, digits)
    if scientific:
        return f"{x:.{digits - 1}e}"
    rounded = float(f"{x:.{digits - 1}e}")
    places = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{x:,.{places}f}"


def _scientific_alone(x: float, digits: int) -> bool:
    """Whether finite, nonzero ``x`` rounded to ``digits`` falls below plain notation."""
    return abs(float(f"{x:.{digits - 1}e}")) < _SCIENTIFIC_BELOW


def _one_notation(figures: list[float | None]) -> bool:
    """Whether figures shown side by side take scientific notation: when any of them
    would alone (``5.00e-05`` beside ``1.00e-04``, not beside ``0.000100``)."""
    return any(
        x is not None and math.isfinite(x) and x != 0 and _scientific_alone(x, _DIGITS)
        for x in figures
    )


def _usd(gate: str) -> bool:
    """Whether a gate's figures are dollars (the cost rows, and their locked keywords)."""
    return kind_of(gate).unit == "USD" or kind_of(gate.partition(":")[2]).unit == "USD"


def gate_rows(report: RunReport) -> list[tuple[str, ...]]:
    """One row per gate: suite, gate, target, observed, interval, n, verdict.

    Dollar figures (estimate, target and bounds alike) have :func:`significant` digits.
    """
    rows: list[tuple[str, ...]] = []
    for suite in report.suites:
        for g in suite.gates:
            target, observed, interval = target_text(g), fmt(g.gate, g.estimate), interval_text(g)
            if _usd(g.gate):
                sci = _one_notation([g.target, g.estimate, g.lower, g.upper])
                target = f"{g.comparator} {significant(g.target, scientific=sci)}"
                observed = significant(g.estimate, scientific=sci)
                if g.estimate is not None:
                    lo = g.lower if g.lower is not None else -math.inf
                    hi = g.upper if g.upper is not None else math.inf
                    interval = (
                        f"[{significant(lo, scientific=sci)}, {significant(hi, scientific=sci)}]"
                    )
            rows.append(
                (
                    suite.name,
                    g.gate,
                    target,
                    observed,
                    interval,
                    f"{g.n:,}",
                    f"{g.verdict} (replayed)" if g.replayed else g.verdict,
                )
            )
    return rows


def _elide(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _missed_line(nodeid: str, reason: str | None, width: int) -> str:
    """``MISSED nodeid - reason`` as pytest's short summary shows a failure: the node id
    whole (broken over lines when longer than the terminal), the reason cut to fit."""
    head = f"MISSED {nodeid}"
    if len(head) + 4 > width:
        return "\n".join(_broken(head, width, "  "))
    return _elide(f"{head} - {reason}", width)


def _broken(text: str, width: int, indent: str = "") -> list[str]:
    """``text`` whole, in lines of at most ``width`` (continuations after ``indent``): a
    name is never cut, since two names may differ only in their ends."""
    step = max(width - len(indent), 1)
    lines = [text[:width]]
    rest = text[width:]
    while rest:
        lines.append(indent + rest[:step])
        rest = rest[step:]
    return lines


def fit(text: str, width: int) -> str:
    """``text`` wrapped at ``width`` (continuations indented); a word too long is broken.

    One string, its lines joined by newlines.
    """
    lines = []
    for raw in text.split("\n"):
        if len(raw) <= width:
            lines.append(raw)
            continue
        lead = raw[: len(raw) - len(raw.lstrip(" "))]
        wrapped = textwrap.wrap(
            raw,
            width,
            initial_indent="",
            subsequent_indent=lead + "    ",
            break_long_words=False,
            break_on_hyphens=False,
            drop_whitespace=True,
        )
        for part in wrapped or [raw]:
            lines.extend(_broken(part, width, lead + "    "))
    return "\n".join(lines)


def _layout(rows: list[tuple[str, ...]], width: int) -> tuple[list[int], str, bool] | None:
    """Column widths, separator and whether the suite column moves to a line of its own;
    ``None`` when even that does not fit (the gates are then stacked, see
    :func:`_stacked`).

    The separator narrows to one space; when that is still too wide the suite names go
    on lines of their own above their rows. Neither a suite nor a gate name is ever
    cut: two may differ only in their ends (the slice or dataset a row is).
    """
    for grouped in (False, True):
        cells = [r[1:] if grouped else r for r in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]) - 1)]
        sep = "  "
        while True:
            total = sum(widths) + len(sep) * len(widths) + max(len(r[-1]) for r in cells)
            if total <= width:
                return widths, sep, grouped
            if sep == "  ":
                sep = " "
            else:
                break
    return None


def _painted(verdict: str, paint: Paint | None) -> str:
    """``verdict``'s first word in its colour (:data:`VERDICT_COLOURS`), with ``paint``."""
    word, _, rest = verdict.partition(" ")
    colour = VERDICT_COLOURS.get(word)
    if paint is None or colour is None:
        return verdict
    return paint(word, colour) + (f" {rest}" if rest else "")


def _stacked(
    rows: list[tuple[str, ...]], width: int, interval_name: str, paint: Paint | None
) -> list[str]:
    """Each suite's name on a line, then two lines a gate: its name and verdict, then its
    figures (wrapped): the layout of a terminal too narrow for the table's columns."""
    out: list[str] = []
    for i, (suite, gate, target, observed, interval, n, verdict) in enumerate(rows):
        if i == 0 or rows[i - 1][0] != suite:
            out.extend(_broken(f"{suite}:", width, "  "))
        figures = [f"target {target}", f"observed {observed}", f"{interval_name} {interval}"]
        figures.append(f"n {n}")
        shown = _painted(verdict, paint)
        if len(gate) + len(verdict) + 4 <= width:
            out.append(f"  {gate}  {shown}")
        else:  # the name whole on its own line, the verdict first under it
            out.extend(_broken(f"  {gate}", width, "    "))
            out.append(f"    {shown}")
        out.extend(_joined(figures, width, "    "))
    return out


def _joined(parts: list[str], width: int, indent: str) -> list[str]:
    """``parts`` joined by ``", "`` in lines of at most ``width``, broken only between
    parts (an interval stays on one line); a part too long for a line is cut."""
    lines: list[str] = []
    current = ""
    for part in parts:
        piece = _elide(part, width - len(indent))
        if current and len(current) + 2 + len(piece) <= width:
            current += ", " + piece
            continue
        if current:
            lines.append(current)
        current = indent + piece
    return [*lines, current]


def _table(
    header: tuple[str, ...],
    rows: list[tuple[str, ...]],
    layout: tuple[list[int], str, bool],
    width: int,
    paint: Paint | None,
) -> list[str]:
    """The gate table in the columns :func:`_layout` chose."""
    widths, sep, grouped = layout
    right = {4} if grouped else {5}

    def line(r: tuple[str, ...], painted: bool = True) -> str:
        r = r[1:] if grouped else r
        cells = [
            _elide(c, w).rjust(w) if i in right else _elide(c, w).ljust(w)
            for i, (c, w) in enumerate(zip(r[:-1], widths, strict=False))
        ]
        verdict = _painted(r[-1], paint if painted else None)
        return (sep.join(cells) + sep + verdict).rstrip()

    out = [line(header, painted=False)]
    for i, r in enumerate(rows):
        if grouped and (i == 0 or rows[i - 1][0] != r[0]):
            out.extend(_broken(f"{r[0]}:", width, "  "))
        out.append(line(r))
    return out


def table_lines(
    report: RunReport, width: int = DEFAULT_WIDTH, paint: Paint | None = None
) -> list[str]:
    """The gate table, then one line (plus a hint) for every gate that did not pass.

    Fits ``width``: the suite and gate columns shrink (with ``…``) before a row would
    wrap; below that, each gate takes two lines (:func:`_stacked`); detail lines wrap.
    ``paint`` colours each verdict (:data:`VERDICT_COLOURS`).
    """
    pct = f"{report.run.confidence:.0%} interval"
    header = ("suite", "gate", "target", "observed", pct, "n", "verdict")
    rows = gate_rows(report)
    if not rows:
        out = ["no valid gate declared" if _invalid_markers(report) else "no gates declared"]
        for suite in report.suites:
            out.extend(fit(f"{suite.name}: {line}", width) for line in suite_details(suite))
        return out
    layout = _layout([header, *rows], width)
    if layout is None:
        out = _stacked(rows, width, pct, paint)
    else:
        out = _table(header, rows, layout, width, paint)
    for suite in report.suites:
        # Gates that share a verdict and reason (INCOMPLETE, interrupted) say it once.
        shown = [g for g in suite.gates if g.verdict != "PASS" or g.reason]
        same: dict[tuple[str, str], list[str]] = {}
        for g in shown:
            if not g.hint:
                same.setdefault((g.verdict, g.reason), []).append(g.gate)
        for g in shown:
            names = same.pop((g.verdict, g.reason), None) if not g.hint else [g.gate]
            if names:
                text = f"{suite.name} {', '.join(names)} {g.verdict}: {g.reason}".rstrip()
                out.append(fit(text, width))
            if g.hint:
                out.append(fit(f"  {g.hint}", width))
    for suite in report.suites:
        out.extend(fit(f"{suite.name}: {line}", width) for line in suite_details(suite))
    return out


def _listing(items: list[str], limit: int = 8) -> str:
    more = f", … ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _load_line(run: LoadRunReport) -> str:
    ok = sorted(run.ok_latencies_ms())
    n = len(run.calls)
    duration = run.duration_s
    rate = len(ok) / duration if duration > 0 else 0.0
    p95 = f", p95 {ok[min(len(ok) - 1, int(0.95 * len(ok)))]:.3g} ms" if ok else ""
    flags = [f for f, on in (("saturated", run.saturated), ("timed_out", run.timed_out)) if on]
    return (
        f"load {run.name or ''}: concurrency {run.concurrency}, "
        f"{n:,} requests in {duration:.2f} s, {rate:,.1f} ok/s{p95}, "
        f"{n - len(ok)} errors" + (f" ({', '.join(flags)})" if flags else "")
    ).replace("load : ", "load: ")


def _drill_line(drill: DrillReport) -> str:
    def secs(value: float | None) -> str:
        return f"{value:.3g} s" if value is not None else "-"

    state = "recovered" if drill.recovered else "NOT recovered"
    return (
        f"drill {drill.name}: detected after {secs(drill.detected_s)}, "
        f"{state} after {secs(drill.recovered_s)}"
    )


def calls_line(suite: SuiteReport) -> str | None:
    """How the suite's model calls were made: ahead, in flight, rate-limited, throttled.

    ``None`` when every call was made directly and none was rate-limited.
    """
    ahead = limited = peak = 0
    throttled_ms = 0.0
    for case in suite.cases:  # one tight pass: 100,000 cases are common
        for t in case.trials:
            for c in t.calls:
                if c.kind != "call":
                    continue
                if c.ahead:
                    ahead += 1
                    peak = max(peak, c.in_flight or 1)
                if c.rate_limited:
                    limited += c.rate_limited
                throttled_ms += c.throttled_ms
    if not ahead and not limited:
        return None
    parts = []
    if ahead:
        parts.append(f"{ahead:,} made ahead (prodgate_output), up to {peak} in flight")
    if limited:
        throttled = throttled_ms / 1000.0
        parts.append(
            f"{limited:,} rate-limited attempt{'s' if limited != 1 else ''}, "
            f"{throttled:.2f} s throttled (not in latency)"
        )
    return "calls: " + "; ".join(parts)


def suite_details(suite: SuiteReport) -> list[str]:
    """Regression, trials and slice lines under the table."""
    out = []
    r = suite.regression
    if r is not None and r.paired:
        mde = (
            f"; detects a drop of {r.min_detectable_regression:.3f} with 80% power"
            if r.min_detectable_regression is not None
            else "; too few paired cases to detect any drop with 80% power"
        )
        out.append(
            f"vs baseline: accuracy {r.baseline_accuracy:.3f} -> {r.current_accuracy:.3f} "
            f"over {r.paired:,} paired cases; {len(r.regressed)} regressed, "
            f"{len(r.fixed)} fixed{mde}"
        )
        if r.regressed:
            out.append(f"  regressed: {_listing(r.regressed)}")
        if r.fixed:
            out.append(f"  fixed: {_listing(r.fixed)}")
        if r.note:
            out.append(f"  {r.note}")
    if suite.trials > 1 and suite.pass_all_rate is not None:
        flaky = f"; flaky: {_listing(suite.flaky_cases)}" if suite.flaky_cases else ""
        out.append(
            f"trials={suite.trials}: pass^{suite.trials} {suite.pass_all_rate:.3f}, "
            f"{len(suite.flaky_cases)} flaky case{'s' if len(suite.flaky_cases) != 1 else ''}"
            f"{flaky}"
        )
    for case in suite.cases:
        for trial in case.trials:
            if trial.load_runs or trial.drills:
                out.extend(_load_line(run) for run in trial.load_runs)
                out.extend(_drill_line(drill) for drill in trial.drills)
    if suite.slices:
        accuracy = kind_of("accuracy_floor")
        parts = [
            f"{tag} {accuracy.value(sl.accuracy)} (n={sl.n})" for tag, sl in suite.slices.items()
        ]
        out.append(f"slices: {_listing(parts, 12)}")
    calls = calls_line(suite)
    if calls is not None:
        out.append(calls)
    out.extend(suite.notes)
    return out


_VERDICT_WORDS = {"FAIL": "failed", "NO_DATA": "no-data"}


def _invalid_markers(report: RunReport) -> int:
    """How many suites declare no gate because their prodgate marker is invalid."""
    return sum(1 for s in report.suites if any(n.startswith(INVALID_MARKER_NOTE) for n in s.notes))


def verdict_line(report: RunReport) -> str:
    """The closing line: PASSED or FAILED, and why."""
    gates = [g for s in report.suites for g in s.gates]
    failing = [g for g in gates if g.fails_run]
    warned = [g for g in gates if g.verdict == "INCONCLUSIVE" and not g.fails_run]
    if not gates:
        invalid = _invalid_markers(report)
        if invalid:
            return (
                f"prodgate: nothing gated — the prodgate marker of {invalid} "
                f"suite{'s' if invalid > 1 else ''} is invalid (the errors above say why)"
            )
        return "prodgate: nothing gated — no suite declares a gate"
    if report.run.shard is not None:
        return (
            f"prodgate: shard {report.run.shard.label} — {len(gates)} "
            f"gate{'s' if len(gates) > 1 else ''} measured, not decided "
            "(prodgate merge gates every shard's report together)"
        )
    counts = Counter(g.verdict for g in failing)
    parts = [
        f"{n} {_VERDICT_WORDS.get(v, v.lower())} gate{'s' if n > 1 else ''}"
        for v, n in sorted(counts.items())
    ]
    if failing:
        why = ", ".join(parts)
        if counts.get("INCONCLUSIVE") and report.run.inconclusive != "warn":
            why += " (--prodgate-inconclusive=warn lets inconclusive gates pass)"
        if report.run.mode == "report":
            return f"prodgate: report mode, not gating — would have FAILED: {why}"
        return f"prodgate: FAILED — {why}"
    tail = f"; {len(warned)} inconclusive, allowed to pass (warn)" if warned else ""
    return f"prodgate: PASSED — {len(gates)} gate{'s' if len(gates) > 1 else ''}{tail}"


def summary(
    report: RunReport, width: int = DEFAULT_WIDTH, paint: Paint | None = None
) -> list[tuple[str, str]]:
    """Everything a run prints after pytest's own summary, as ``(separator, text)`` pairs.

    ``separator`` is the character of a full-width title line (``"-"``, ``"="``) or
    ``""`` for a plain text, which may hold several lines, none wider than ``width``.
    With suites, the last pair is the verdict line. The pytest controller and
    ``prodgate show`` both print this, so they cannot drift. ``paint``: see
    :func:`table_lines`.
    """
    n_missed = sum(
        s.counts.get("missed", 0) + s.counts.get("model_error", 0) for s in report.suites
    )
    first = itertools.islice(
        (
            (t.nodeid, t.reason)
            for s in report.suites
            if s.counts.get("missed") or s.counts.get("model_error")
            for c in s.cases
            for t in c.trials
            if t.outcome in ("missed", "model_error")
        ),
        10,
    )
    out: list[tuple[str, str]] = []
    if n_missed:
        out.append(("-", f"prodgate: {n_missed} missed"))
        out += [("", _missed_line(nodeid, reason, width)) for nodeid, reason in first]
        if n_missed > 10:
            out.append(("", f"... and {n_missed - 10} more (see --prodgate-report)"))
    if not report.suites:
        out.append(("=", "prodgate: no eval cases ran"))
        out += [("", fit(f"prodgate: note: {note}", width)) for note in report.notes]
        return _redacted(out)
    n_suites = len(report.suites)
    n_gates = sum(len(s.gates) for s in report.suites)
    out.append(
        (
            "=",
            f"prodgate: {n_suites} suite{'s' if n_suites != 1 else ''}, "
            f"{n_gates} gate{'s' if n_gates != 1 else ''}",
        )
    )
    out += [("", line) for line in table_lines(report, width, paint)]
    out += [("", fit(f"prodgate: note: {note}", width)) for note in report.notes]
    if report.run.calls_wasted:
        n = report.run.calls_wasted
        note = (f"prodgate: note: {n} call{'s' if n != 1 else ''} made ahead for cases "
                "that did not run (the run stopped early)")  # fmt: skip
        out.append(("", fit(note, width)))
    final = verdict_line(report)
    if report.run.interrupted:
        final += " (run interrupted: gates saw only the cases that ran)"
    out.append(("", fit(final, width)))
    return _redacted(out)


def _redacted(entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """SPEC §18: whatever reached the report unredacted is caught before it prints."""
    return [(sep, redact(text)) for sep, text in entries]
