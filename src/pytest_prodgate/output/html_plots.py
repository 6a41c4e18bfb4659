"""Static SVG plots for the HTML report, drawn with matplotlib (the ``[html]`` extra).

Why matplotlib and static SVG (see ``docs/howto-html-report.md``): the page must
make no network request and stay small at 100,000 cases. A JavaScript plotting
library would have to be embedded whole in every page (Plotly's minified bundle
is ~3.5 MB) and fed every data point; here every plot is aggregated in Python
first (a histogram of at most :data:`BINS` bins, one row per gate, one bar per
time window), so a plot's size does not grow with the suite, and the SVG needs
no script at all.

Every function returns an ``<svg>`` element as text, or ``None`` when
matplotlib is not installed (:func:`available`). Labels are drawn as text
(``svg.fonttype: none``) with mathtext off, so a ``$`` in a case id or tag is
only a character; matplotlib escapes the XML of every label.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any, cast

__all__ = ["BINS", "available", "drill_svg", "forest_svg", "histogram_svg", "windows_svg"]

#: Bars of a histogram, however many values it draws.
BINS = 40

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "prodgate",
    "text.parse_math": False,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_BLUE, _RED, _GREY, _GREEN = "#3367b0", "#c0392b", "#777777", "#2e8540"


def _rc() -> Any:
    """The plots' matplotlib settings, as a context manager."""
    import matplotlib

    return matplotlib.rc_context(cast(Any, _RC))


def available() -> bool:
    """Whether matplotlib can be imported (``pip install 'pytest-prodgate[html]'``)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Any) -> str:
    """The figure as one ``<svg>`` element (no XML prolog, no timestamp)."""

    buf = io.StringIO()
    with _rc():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _draw(width: float, height: float) -> tuple[Any, Any]:

    with _rc():
        fig = _figure(width, height)
        ax = fig.add_subplot()
    return fig, ax


def histogram_svg(
    values: Sequence[float],
    *,
    xlabel: str,
    budget: float | None = None,
    bound: float | None = None,
    bound_label: str = "upper bound",
    estimate: float | None = None,
    log: bool = False,
) -> str | None:
    """A histogram of ``values`` with the budget and the gate's bound as vertical lines."""
    if not available() or not values:
        return None
    import numpy as np

    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return None
    with _rc():
        fig, ax = _draw(6.4, 2.4)
        lo, hi = float(data.min()), float(data.max())
        span = (hi - lo) or abs(hi) * 0.5 or 1.0
        near = lo - span, hi + span  # a mark farther away would squash the bars
        off: list[str] = []
        lines = [
            (budget, dict(color=_RED, lw=1.5), "budget"),
            (bound, dict(color=_GREY, lw=1.2, ls="--"), bound_label),
            (estimate, dict(color="black", lw=1, ls=":"), "estimate"),
        ]
        shown = [x for x, _, _ in lines if x is not None and near[0] <= x <= near[1]]
        left, right = min([lo, *shown]), max([hi, *shown])
        if right == left:
            left, right = lo - 0.05 * span, hi + 0.05 * span
        use_log = log and left > 0 and right / left > 20
        if use_log:
            edges = np.geomspace(lo, max(hi, lo * 1.0001), BINS + 1)
            ax.set_xscale("log")
        else:
            # Every value alike: one visible bar in the middle of a narrow range.
            edges = (
                np.linspace(lo, hi, BINS + 1)
                if hi > lo
                else np.linspace(lo - 0.05 * span, lo + 0.05 * span, 12)
            )
        counts, _ = np.histogram(data, bins=edges)
        ax.stairs(counts, edges, fill=True, color=_BLUE, alpha=0.6, label=f"{data.size:,} values")
        for x, style, label in lines:
            if x is None or not math.isfinite(x):
                continue
            if near[0] <= x <= near[1]:
                ax.axvline(x, label=f"{label} {x:.4g}", **style)
            else:
                off.append(f"{label} {x:.4g} {'→' if x > hi else '←'}")
        if not use_log:
            pad = 0.03 * ((right - left) or span)
            ax.set_xlim(left - pad, right + pad)
        if off:
            ax.set_title("off the plot: " + ", ".join(off), fontsize=8, loc="right")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        ax.legend(loc="upper right", frameon=False)
    return _svg(fig)


def forest_svg(
    rows: Sequence[tuple[str, float | None, float | None, float | None, float | None, bool]],
    *,
    xlabel: str,
    reference: float | None = None,
) -> str | None:
    """Intervals against their floor: ``(label, estimate, lower, upper, floor, passes)`` rows.

    An unbounded side (``None``) is drawn to the plot's edge; each floor is a red tick
    on its row, ``reference`` (e.g. 0 for a change) a grey vertical line.
    """
    if not available() or not rows:
        return None

    with _rc():
        fig, ax = _draw(6.4, 0.6 + 0.28 * len(rows))
        finite = [
            x
            for _, est, lo, hi, floor, _ in rows
            for x in (est, lo, hi, floor)
            if x is not None and math.isfinite(x)
        ]
        if reference is not None:
            finite.append(reference)
        left, right = (min(finite), max(finite)) if finite else (0.0, 1.0)
        pad = (right - left) * 0.05 or 0.05
        left, right = left - pad, right + pad
        for i, (_, est, lo, hi, floor, ok) in enumerate(rows):
            y = len(rows) - 1 - i
            colour = _GREEN if ok else _RED
            if est is not None:
                a = lo if lo is not None else left
                b = hi if hi is not None else right
                ax.plot([a, b], [y, y], color=colour, lw=2.5, solid_capstyle="butt")
                ax.plot([est], [y], "o", color="black", ms=3.5)
            if floor is not None:
                ax.plot([floor], [y], "|", color=_RED, ms=14, mew=2)
        if reference is not None:
            ax.axvline(reference, color=_GREY, lw=1)
        ax.set_yticks(range(len(rows)), [r[0] for r in reversed(rows)])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlim(left, right)
        ax.set_xlabel(xlabel + "  (bar: interval, dot: estimate, red tick: target)")
    return _svg(fig)


def windows_svg(rates: Sequence[float], width_s: float, target: float | None) -> str | None:
    """Successful requests/s in each time window of a load run, with the target."""
    if not available() or not rates:
        return None

    with _rc():
        fig, ax = _draw(6.4, 2.2)
        starts = [i * width_s for i in range(len(rates))]
        ax.bar(starts, rates, width=width_s * 0.9, align="edge", color=_BLUE, alpha=0.7)
        if target is not None:
            ax.axhline(target, color=_RED, lw=1.5, label=f"target {target:.4g} req/s")
            ax.legend(loc="best", frameon=False)
        ax.set_xlabel(f"seconds into the run (windows of {width_s:.3g} s)")
        ax.set_ylabel("ok req/s")
    return _svg(fig)


def drill_svg(
    steps: Sequence[tuple[str, float, float, bool]],
    *,
    detected_s: float | None,
    recovered_s: float | None,
    budget: float | None,
) -> str | None:
    """A drill's timeline from the fault (t = 0): one bar per step ``(name, start, end, ok)``."""
    if not available() or not steps:
        return None

    with _rc():
        fig, ax = _draw(6.4, 0.8 + 0.3 * len(steps))
        for i, (_, start, end, ok) in enumerate(steps):
            y = len(steps) - 1 - i
            ax.barh(y, max(end - start, 1e-9), left=start, color=_GREEN if ok else _RED, alpha=0.7)
        ax.axvline(0, color="black", lw=1, label="fault")
        if detected_s is not None:
            ax.axvline(detected_s, color=_GREY, ls="--", lw=1, label=f"detected {detected_s:.3g} s")
        if recovered_s is not None:
            ax.axvline(recovered_s, color=_BLUE, lw=1.5, label=f"recovered {recovered_s:.3g} s")
        if budget is not None:
            ax.axvline(budget, color=_RED, lw=1.5, label=f"budget {budget:.4g} s")
        ax.set_yticks(range(len(steps)), [s[0] for s in reversed(steps)])
        ax.set_xlabel("seconds after the fault")
        ax.legend(loc="best", frameon=False, fontsize=8)
    return _svg(fig)
