"""The gate registry: one :class:`~.gates.GateKind` per kind of gate. Pure: no pytest.

Adding a gate kind is one entry here and its evaluator. Everything else reads
the entry: :func:`evaluate_suite` runs the evaluators in display order, the
terminal table, the Markdown summary and JUnit rows format figures with
:func:`fmt` and :func:`target_text`, ``prodgate.lock`` loosening reads each
keyword's lock kind (:func:`locked_keywords`), and :mod:`~.run` reads each
kind's inconclusive default. :func:`kind_of` is the one place that maps a
gate's name in a report (``slice_floor[TAG]``, ``locked:KEYWORD``, ...) to its
entry.
"""

from __future__ import annotations

import math

from pytest_prodgate.gating.cost import cost
from pytest_prodgate.gating.gates import Comparator, GateKind, SuiteContext
from pytest_prodgate.gating.latency import latency
from pytest_prodgate.gating.regression import regression
from pytest_prodgate.gating.service import recovery, throughput
from pytest_prodgate.gating.shares import accuracy, error_rate, slice_floors
from pytest_prodgate.schema.report import GateReport

__all__ = [
    "GATE_KINDS",
    "LOCKED",
    "REGRESSION",
    "SEALED_DATASET",
    "SEALED_SET",
    "SLICE_FLOOR",
    "evaluate_suite",
    "fmt",
    "interval_text",
    "kind_of",
    "lock_comparator",
    "locked_keywords",
    "target_text",
]


def _positional(x: float, digits: int = 3, zeros: bool = False) -> str:
    """``x`` with ``digits`` significant digits, never in scientific notation; trailing
    zeros dropped unless ``zeros`` (``11.0``, ``0.0500``)."""
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return f"{x:g}"
    if zeros:
        x = float(f"{x:.{digits}g}")  # rounded first, so 9.999 is 10.0, not 10.00
    places = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{x:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text and not zeros else text


def _fraction(x: float) -> str:
    return f"{x:.3f}"


def _ms(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else _positional(x, zeros=True)


def _signed(x: float) -> str:
    return f"{x + 0.0:+.3f}"


def _rate(x: float) -> str:
    return f"{x:,.1f}" if abs(x) >= 10 else _positional(x, zeros=True)


def _whole(x: float) -> str:
    return f"{x:,.0f}"


def _regression_target(g: GateReport) -> str:
    return f"Δ >= {g.target + 0.0:.3f}"


def _latency(name: str, q: float, order: int) -> GateKind:
    return GateKind(name, name, "<=", "ms", _ms, "budget", latency, quantile=q, order=order)


#: Every kind of gate (and ``trials``, a locked target that is no gate), in display order.
GATE_KINDS: tuple[GateKind, ...] = (
    GateKind("accuracy_floor", "accuracy_floor", ">=", "", _fraction, "floor", accuracy, order=10),
    _latency("latency_p50_ms", 0.50, 20),
    _latency("latency_p90_ms", 0.90, 21),
    _latency("latency_p95_ms", 0.95, 22),
    _latency("latency_p99_ms", 0.99, 23),
    GateKind("cost_per_call_usd", "cost_per_call_usd", "<=", "USD", _positional, "budget", cost,
             order=30),
    GateKind("error_rate_max", "error_rate_max", "<=", "", _fraction, "budget", error_rate,
             order=40),
    GateKind("slice_floor", "slice_floors", ">=", "", _fraction, "floor", slice_floors, order=50),
    GateKind("throughput_rps", "throughput_rps", ">=", "req/s", _rate, "floor", throughput,
             order=60),
    GateKind("recovery_s", "recovery_s", "<=", "s", _rate, "budget", recovery,
             interval_text="(worst drill)", order=70),
    GateKind("regression", "max_regression", ">=", "Δ accuracy", _signed, "max_regression",
             regression, inconclusive_default="warn", target_text=_regression_target,
             keyword_fmt=_fraction, order=80),
    GateKind("trials", "trials", ">=", "trials", _fraction, "trials", order=90),
    # The cost gate's declared per-call cap, locked like a floor (a lower cap loosens it).
    GateKind("cost_cap_usd", "cost_cap_usd", "<=", "USD", _positional, "floor", order=91),
    GateKind("sealed_dataset", None, "<=", "cases changed", _fraction, None,
             target_text=lambda g: "unchanged", carried=True, order=100),
    GateKind("locked", None, "<=", "", _fraction, None, carried=True, order=110),
    GateKind("sealed_set", None, ">=", "cases", _whole, None,
             target_text=lambda g: f"all {g.target:,.0f}", interval_text="(cases run)",
             carried=True, order=120),
)  # fmt: skip

_ORDERED = sorted(GATE_KINDS, key=lambda k: k.order)
_BY_NAME = {k.name: k for k in GATE_KINDS}
_BY_KEYWORD = {k.keyword: k for k in GATE_KINDS if k.keyword is not None}
SLICE_FLOOR = _BY_NAME["slice_floor"]
SEALED_DATASET = _BY_NAME["sealed_dataset"]
SEALED_SET = _BY_NAME["sealed_set"]
LOCKED = _BY_NAME["locked"]
REGRESSION = _BY_NAME["regression"]
#: A gate no entry knows (one a ``pytest_prodgate_gates`` hook added): carried as recorded.
_OTHER = GateKind("other", None, ">=", "", _fraction, None, carried=True, order=1000)


def kind_of(gate: str) -> GateKind:
    """The entry of a gate named as in a report."""
    if gate in _BY_NAME:
        return _BY_NAME[gate]
    head, sep, _ = gate.partition("[")
    if sep and gate.endswith("]") and head in _BY_NAME:
        return _BY_NAME[head]
    head, sep, _ = gate.partition(":")
    if sep and head in _BY_NAME:
        return _BY_NAME[head]
    return _OTHER


def _keyword_kind(keyword: str) -> GateKind:
    """The entry of a marker keyword (``slice_floor[TAG]`` for one slice floor)."""
    kind = _BY_KEYWORD.get(keyword)
    return kind if kind is not None else kind_of(keyword)


def fmt(gate: str, x: float | None) -> str:
    """A figure of gate ``gate`` as the tables show it (``locked:K`` rows: as keyword K)."""
    kind = kind_of(gate)
    if kind is LOCKED:
        inner = _keyword_kind(gate.partition(":")[2])
        kind = GateKind(kind.name, None, kind.comparator, "", inner.keyword_fmt or inner.fmt, None)
    return kind.value(x)


def target_text(g: GateReport) -> str:
    """The target cell of a gate row: ``>= 0.900``, ``Δ >= -0.020``, ``unchanged``."""
    kind = kind_of(g.gate)
    if kind.target_text is not None:
        return kind.target_text(g)
    return f"{g.comparator} {fmt(g.gate, g.target)}"


def interval_text(g: GateReport) -> str:
    """The interval cell of a gate row: ``[lower, upper]`` (``-`` without an estimate)."""
    if g.estimate is None:
        return "-"
    kind = kind_of(g.gate)
    if kind.interval_text is not None:
        return kind.interval_text
    lo = fmt(g.gate, g.lower if g.lower is not None else -math.inf)
    hi = fmt(g.gate, g.upper if g.upper is not None else math.inf)
    return f"[{lo}, {hi}]"


def locked_keywords() -> list[tuple[str, GateKind]]:
    """Every marker keyword ``prodgate.lock`` locks, with its entry, in display order."""
    return [(k.keyword, k) for k in _ORDERED if k.keyword is not None and k.lock is not None]


def lock_comparator(keyword: str) -> Comparator:
    """The comparator of a ``locked:KEYWORD`` row: ``>=`` for floors and trials."""
    return ">=" if _keyword_kind(keyword).lock in ("floor", "trials") else "<="


def evaluate_suite(ctx: SuiteContext) -> list[GateReport]:
    """Every gate ``ctx`` declares, in display order (the regression gate with a baseline)."""
    out: list[GateReport] = []
    for kind in _ORDERED:
        if kind.evaluate is not None:
            out.extend(kind.evaluate(ctx, kind))
    return out
