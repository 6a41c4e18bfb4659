"""The terminal rendering of a run report: the gate table, reasons and the verdict line.

Pure: no pytest. Reads only a :class:`~pytest_prodgate.schema.report.RunReport`
and, for how each gate's figures look, the gate registry.
"""

from __future__ import annotations

from collections import Counter

from pytest_prodgate.gating.registry import fmt, interval_text, kind_of, target_text
from pytest_prodgate.schema.redact import redact
from pytest_prodgate.schema.report import DrillReport, LoadRunReport, RunReport, SuiteReport

__all__ = ["gate_rows", "suite_details", "summary", "table_lines", "verdict_line"]


def gate_rows(report: RunReport) -> list[tuple[str, ...]]:
    """One row per gate: suite, gate, target, observed, interval, n, verdict."""
    rows: list[tuple[str, ...]] = []
    for suite in report.suites:
        for g in suite.gates:
            rows.append(
                (
                    suite.name,
                    g.gate,
                    target_text(g),
                    fmt(g.gate, g.estimate),
                    interval_text(g),
                    f"{g.n:,}",
                    f"{g.verdict} (replayed)" if g.replayed else g.verdict,
                )
            )
    return rows


def table_lines(report: RunReport) -> list[str]:
    """The gate table, then one line (plus a hint) for every gate that did not pass."""
    pct = f"{report.run.confidence:.0%} interval"
    header = ("suite", "gate", "target", "observed", pct, "n", "verdict")
    rows = gate_rows(report)
    if not rows:
        out = ["no gates declared"]
        for suite in report.suites:
            out.extend(f"{suite.name}: {line}" for line in suite_details(suite))
        return out
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {5}

    def line(r: tuple[str, ...]) -> str:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    out = [line(header)] + [line(r) for r in rows]
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
                out.append(f"{suite.name} {', '.join(names)} {g.verdict}: {g.reason}".rstrip())
            if g.hint:
                out.append(f"  {g.hint}")
    for suite in report.suites:
        out.extend(f"{suite.name}: {line}" for line in suite_details(suite))
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
    calls = [c for case in suite.cases for t in case.trials for c in t.calls if c.kind == "call"]
    ahead = [c for c in calls if c.ahead]
    limited = sum(c.rate_limited for c in calls)
    if not ahead and not limited:
        return None
    parts = []
    if ahead:
        peak = max((c.in_flight or 1) for c in ahead)
        parts.append(f"{len(ahead):,} made ahead (prodgate_output), up to {peak} in flight")
    if limited:
        throttled = sum(c.throttled_ms for c in calls) / 1000.0
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


def verdict_line(report: RunReport) -> str:
    """The closing line: PASSED or FAILED, and why."""
    gates = [g for s in report.suites for g in s.gates]
    failing = [g for g in gates if g.fails_run]
    warned = [g for g in gates if g.verdict == "INCONCLUSIVE" and not g.fails_run]
    if not gates:
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


def summary(report: RunReport) -> list[tuple[str, str]]:
    """Everything a run prints after pytest's own summary, as ``(separator, text)`` pairs.

    ``separator`` is the character of a full-width title line (``"-"``, ``"="``) or
    ``""`` for a plain line. With suites, the last pair is the verdict line. The
    pytest controller and ``prodgate show`` both print this, so they cannot drift.
    """
    missed = [
        (t.nodeid, t.reason)
        for s in report.suites
        for c in s.cases
        for t in c.trials
        if t.outcome in ("missed", "model_error")
    ]
    out: list[tuple[str, str]] = []
    if missed:
        out.append(("-", f"prodgate: {len(missed)} missed"))
        out += [("", f"MISSED {nodeid} - {reason}") for nodeid, reason in missed[:10]]
        if len(missed) > 10:
            out.append(("", f"... and {len(missed) - 10} more (see --prodgate-report)"))
    if not report.suites:
        out.append(("=", "prodgate: no eval cases ran"))
        out += [("", f"prodgate: note: {note}") for note in report.notes]
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
    out += [("", line) for line in table_lines(report)]
    out += [("", f"prodgate: note: {note}") for note in report.notes]
    if report.run.calls_wasted:
        n = report.run.calls_wasted
        out.append(
            ("", f"prodgate: note: {n} call{'s' if n != 1 else ''} made ahead for cases "
             "that did not run (the run stopped early)")
        )  # fmt: skip
    final = verdict_line(report)
    if report.run.interrupted:
        final += " (run interrupted: gates saw only the cases that ran)"
    out.append(("", final))
    return _redacted(out)


def _redacted(entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """SPEC §18: whatever reached the report unredacted is caught before it prints."""
    return [(sep, redact(text)) for sep, text in entries]
