"""What rests on replays: ``--prodgate-cache`` marks on gates, and fresh versus saved spend.

Pure: no pytest. A replayed call carries the latency, tokens and cost measured
when it was made (SPEC §12), so every figure is the recorded one; but a timing
that was measured earlier is not evidence about the service now. So a latency,
throughput or recovery gate that rests on replays says so: its ``replayed``
field counts the observations that are replays, its reason says it, and the
terminal table shows ``PASS (replayed)``. With ``--prodgate-cache-latency=exclude``
the latency gates use fresh calls only (see :func:`pytest_prodgate.gating.latency.latency_samples`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pytest_prodgate.gating.gates import SuiteContext
from pytest_prodgate.schema.report import CaseReport, GateReport, TrialReport

__all__ = ["mark_replays", "spend_split"]


def _replayed(trial: TrialReport) -> int:
    return sum(1 for c in trial.calls if c.kind == "call" and c.replayed)


def mark_replays(ctx: SuiteContext, gates: Iterable[GateReport]) -> None:
    """Mark the timing gates of one suite that rest on replayed calls."""
    for g in gates:
        if g.gate.startswith("latency_"):
            replayed = sum(_replayed(t) for _, t in ctx.scored)
            if not replayed:
                continue
            if ctx.policy.cache_latency == "exclude":
                _say(
                    g,
                    f"{replayed:,} replayed calls are left out (--prodgate-cache-latency=exclude).",
                )
                continue
            g.replayed = replayed
            _say(
                g,
                f"{replayed:,} of {g.n:,} latencies are replays of calls recorded earlier "
                "(--prodgate-cache); --prodgate-cache-latency=exclude leaves them out.",
            )
        elif g.gate == "throughput_rps" or g.gate == "recovery_s":
            trials = [
                t
                for c in ctx.cases
                for t in c.trials
                if (t.load_runs if g.gate == "throughput_rps" else t.drills) and _replayed(t)
            ]
            if trials:
                g.replayed = len(trials)
                what = "load runs" if g.gate == "throughput_rps" else "drills"
                _say(
                    g,
                    f"{len(trials):,} tests with {what} replayed model calls from the cache "
                    "(--prodgate-cache): what they timed may not have called the model.",
                )


def _say(g: GateReport, text: str) -> None:
    g.reason = f"{g.reason} {text}" if g.reason else text


def spend_split(cases: Sequence[CaseReport]) -> tuple[int, int, float | None, float | None]:
    """``(fresh calls, replayed calls, fresh cost, saved cost)`` of a suite's model calls.

    Fresh cost includes the costs added with ``prodgate_case.add_cost`` (paid again
    every run); a cost is ``None`` when no call of that kind had one.
    """
    fresh = replayed = 0
    fresh_usd: float | None = None
    saved_usd: float | None = None
    for case in cases:
        for t in case.trials:
            if t.added_cost_usd:
                fresh_usd = (fresh_usd or 0.0) + t.added_cost_usd
            for c in t.calls:
                if c.kind != "call":
                    continue
                if c.replayed:
                    replayed += 1
                    if c.cost_usd is not None:
                        saved_usd = (saved_usd or 0.0) + c.cost_usd
                else:
                    fresh += 1
                    if c.cost_usd is not None:
                        fresh_usd = (fresh_usd or 0.0) + c.cost_usd
    return fresh, replayed, fresh_usd, saved_usd
