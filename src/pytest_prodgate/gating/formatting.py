"""Each gate's figures in its own unit, as every output shows them."""

from __future__ import annotations

import math

__all__ = ["fmt_value"]

def _positional(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, never in scientific notation."""
    if x == 0:
        return "0"
    places = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{x:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_value(gate: str, x: float | None) -> str:
    """A figure as the table shows it, in the gate's own unit."""
    gate = gate.removeprefix("locked:")
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "∞" if x > 0 else "-∞"
    if gate.startswith("latency"):
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
    if gate.startswith("cost"):
        return _positional(x)
    if gate == "regression":
        return f"{x + 0.0:+.3f}"
    if gate in ("throughput_rps", "recovery_s"):
        return f"{x:,.1f}" if abs(x) >= 10 else f"{x:.3g}"
    return f"{x:.3f}"

