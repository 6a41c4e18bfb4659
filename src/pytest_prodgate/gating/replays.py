"""What rests on replays: ``--prodgate-cache`` marks on gates, and fresh versus saved spend.

Pure: no pytest. A replayed call carries the latency, tokens and cost measured
when it was made (SPEC §12), so every figure is the recorded one; but a timing
that was measured earlier is not evidence about the service now. So a latency,
throughput or recovery gate that rests on replays says so: its ``replayed``
field counts the observations that are replays, its reason says it, and the
terminal table shows ``PASS (replayed)``. With ``--prodgate-cache-latency=exclude``
the latency gates use fresh calls only (see :func:`pytest_prodgate.gating.columns.latency_samples`).
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_prodgate.gating.gates import SuiteContext
from pytest_prodgate.schema.report import GateReport, TrialReport

__all__ = ["mark_replays"]


def _replayed(trial: TrialReport) -> int:
    return sum(1 for c in trial.calls if c.kind == "call" and c.replayed)


def mark_replays(ctx: SuiteContext, gates: Iterable[GateReport]) -> None:
    """Mark the timing gates of one suite that rest on replayed calls."""
    for g in gates:
        if g.gate.startswith("latency_"):
            replayed = ctx.tally.replayed_scored_calls
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
