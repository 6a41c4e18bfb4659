"""Token usage a response reports, and what it costs (SPEC §4).

Pure Python, no pytest, numpy or scipy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from pytest_prodgate.measure.calling import describe, safe_repr

__all__ = ["NO_USAGE", "Pricing", "cost_of", "find_usage"]

NO_USAGE = "no token usage in the response"
#: Exact types with neither a ``usage`` attribute nor a ``"usage"`` key.
_NO_USAGE = frozenset({type(None), str, bytes, int, float, bool, list, tuple})


@dataclass(frozen=True)
class Pricing:
    """Token prices of a model, in USD per million tokens.

    ``Pricing(input_per_mtok=3.0, output_per_mtok=15.0)`` prices 1,000 input and
    200 output tokens at ``(1000 * 3 + 200 * 15) / 1e6 = $0.006``.
    """

    input_per_mtok: float
    """USD per million input (prompt) tokens, a finite number >= 0."""
    output_per_mtok: float
    """USD per million output (completion) tokens, a finite number >= 0."""

    def __post_init__(self) -> None:
        for field_name in ("input_per_mtok", "output_per_mtok"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise TypeError(
                    f"Pricing({field_name}=...) takes a number of USD per million tokens, "
                    f"got {value!r}"
                )
            x = float(value)
            if not math.isfinite(x) or x < 0:
                raise ValueError(
                    f"Pricing({field_name}=...) takes a finite price >= 0, got {value!r}"
                )
            object.__setattr__(self, field_name, x)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The USD cost of ``input_tokens`` prompt and ``output_tokens`` completion tokens."""
        for arg_name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Pricing.cost({arg_name}=...) takes an int, got {value!r}")
            if value < 0:
                raise ValueError(f"Pricing.cost({arg_name}=...) takes an int >= 0, got {value!r}")
        return (
            int(input_tokens) * self.input_per_mtok + int(output_tokens) * self.output_per_mtok
        ) / 1e6


def _safe_get(obj: Any, key: str) -> Any:
    """``obj[key]`` for a mapping, else ``obj.key``; ``None`` when absent or when access fails."""
    try:
        if isinstance(obj, Mapping):
            return obj.get(key)
        return getattr(obj, key, None)
    except Exception:
        return None


def _token_count(usage: Any, *keys: str) -> int | None:
    for key in keys:
        value = _safe_get(usage, key)
        if isinstance(value, Integral) and not isinstance(value, bool) and int(value) >= 0:
            return int(value)
    return None


def find_usage(output: Any) -> tuple[int | None, int | None]:
    """The ``(input_tokens, output_tokens)`` a model response reports, ``None`` where absent.

    Looks at ``output.usage`` (or ``output["usage"]`` when the output is a
    mapping) for ``prompt_tokens``/``completion_tokens`` (OpenAI style) or
    ``input_tokens``/``output_tokens`` (Anthropic style), by attribute or by
    key. A count that is not an int >= 0 counts as absent. Never raises.
    """
    if type(output) in _NO_USAGE:  # None and the builtins that have no usage
        return None, None
    usage = _safe_get(output, "usage")
    if usage is None:
        return None, None
    return (
        _token_count(usage, "prompt_tokens", "input_tokens"),
        _token_count(usage, "completion_tokens", "output_tokens"),
    )


def cost_of(
    output: Any,
    cost: Callable[[Any], float] | None,
    pricing: Pricing | None,
    input_tokens: int | None,
    output_tokens: int | None,
) -> tuple[float | None, str | None]:
    """``(cost_usd, cost_error)`` of one successful call: ``cost(output)`` if given,
    else ``pricing`` applied to the reported tokens, else unknown. Never raises."""
    if cost is not None:
        try:
            value = cost(output)
        except Exception as exc:
            return None, f"cost callable raised {type(exc).__name__}: {describe(exc)}"
        if type(value) is float:  # the usual answer, without the ABC check below
            if math.isfinite(value) and value >= 0:
                return value, None
        elif isinstance(value, Real) and not isinstance(value, bool):
            try:
                usd = float(value)
            except Exception:
                usd = math.nan
            if math.isfinite(usd) and usd >= 0:
                return usd, None
        return None, f"cost callable returned {safe_repr(value)}, not a finite number >= 0"
    if pricing is not None:
        if input_tokens is None or output_tokens is None:
            return None, _usage_problem(output, input_tokens is None, output_tokens is None)
        return pricing.cost(input_tokens, output_tokens), None
    return None, None


_COUNTS = {
    "input (prompt)": ("prompt_tokens", "input_tokens"),
    "output (completion)": ("completion_tokens", "output_tokens"),
}


def _usage_problem(output: Any, no_input: bool, no_output: bool) -> str:
    """Why the usage of ``output`` gives no cost: absent, or a count that is not an int >= 0."""
    usage = None if type(output) in _NO_USAGE else _safe_get(output, "usage")
    invalid, missing = [], []
    for (name, keys), absent in zip(_COUNTS.items(), (no_input, no_output), strict=True):
        given = [(k, v) for k in keys if (v := _safe_get(usage, k)) is not None]
        if absent and given:
            key, value = given[0]
            invalid.append(f"the {name} token count {key}={safe_repr(value)} is not an int >= 0")
        elif absent:
            missing.append(name)
    if invalid:
        return f"invalid token usage in the response: {'; '.join(invalid)}"
    if usage is None or len(missing) == 2:
        return NO_USAGE
    return f"{NO_USAGE}: the {missing[0]} token count is missing"
