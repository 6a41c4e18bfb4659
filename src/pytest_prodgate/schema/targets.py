"""The locked numbers a ``prodgate`` marker declares, validated.

Pure: no pytest. :func:`parse_marker_args` turns the positional and keyword
arguments of one or more ``prodgate`` markers into a :class:`Targets` (or a
:class:`TargetError` whose message names the keyword). Which gate each keyword
declares, and how it is evaluated, shown and locked, is the gate registry's
(:mod:`pytest_prodgate.gating.registry`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pytest_prodgate.errors import TargetError
from pytest_prodgate.schema.redact import redact, safe_repr

__all__ = ["KEYWORDS", "RUN_KEYWORDS", "TargetError", "Targets", "parse_marker_args"]

# allow_inf_nan=False: an infinite budget is a gate that can never fail, NaN one that
# compares false with everything; both are errors naming the keyword.
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Budget = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


class Targets(BaseModel):
    """Every locked number one suite may declare. ``None`` means "not declared"."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    accuracy_floor: Fraction | None = None
    latency_p50_ms: Positive | None = None
    latency_p90_ms: Positive | None = None
    latency_p95_ms: Positive | None = None
    latency_p99_ms: Positive | None = None
    cost_per_call_usd: Budget | None = None
    #: The most one call can cost (e.g. max_tokens x price): bounds the cost gate exactly.
    cost_cap_usd: Positive | None = None
    error_rate_max: Fraction | None = None
    throughput_rps: Positive | None = None
    recovery_s: Positive | None = None
    max_regression: Fraction | None = None
    slice_floors: dict[Annotated[str, Field(min_length=1)], Fraction] | None = None
    trials: Annotated[int, Field(ge=1)] | None = None
    #: Early stopping for this suite (SPEC §13); not a gate.
    early_stop: bool | None = None

    def declared(self) -> dict[str, Any]:
        """The locked numbers that were given, as plain builtins (not :data:`RUN_KEYWORDS`)."""
        return self.model_dump(exclude_none=True, exclude=set(RUN_KEYWORDS))


KEYWORDS: tuple[str, ...] = tuple(Targets.model_fields)
#: Marker keywords that say how a suite runs, not a locked number: they are in no
#: report's targets and no ``prodgate.lock``.
RUN_KEYWORDS: frozenset[str] = frozenset({"early_stop"})


def _describe(err: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        name = str(err["loc"][0])
        close = difflib.get_close_matches(name, KEYWORDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown keyword {safe_repr(name)}{hint}"
    path = err["loc"]
    if len(path) >= 2 and path[0] == "slice_floors":  # ("slice_floors", tag[, "[key]"])
        if path[-1] == "[key]":
            return f"slice_floors: the slice name {safe_repr(err.get('input'))}: {msg}"
        return f"slice_floors[{safe_repr(path[1])}]={safe_repr(err.get('input'))}: {msg}"
    return f"{redact(loc)}={safe_repr(err.get('input'))}: {msg}"


def parse_marker_args(
    markers: Iterable[tuple[Sequence[Any], Mapping[str, Any]]],
) -> tuple[str | None, Targets]:
    """Merge markers (closest first) into a suite name and validated targets.

    A closer marker's keyword wins over a farther one's (a test's own marker over
    its module's ``pytestmark``); so does its suite name.
    """
    name: str | None = None
    merged: dict[str, Any] = {}
    for args, kwargs in markers:
        if len(args) > 1:
            raise TargetError(
                f"takes at most one positional argument (the suite name), got {len(args)}: "
                + ", ".join(safe_repr(a) for a in args)
            )
        if "suite" in kwargs:  # prodgate(suite="x") is prodgate("x")
            if args:
                raise TargetError(
                    f"the suite is named twice: {safe_repr(args[0])} "
                    f"and suite={safe_repr(kwargs['suite'])}"
                )
            args = (kwargs["suite"],)
            kwargs = {k: v for k, v in kwargs.items() if k != "suite"}
        if args:
            if not isinstance(args[0], str) or not args[0].strip():
                raise TargetError(
                    f"the suite name must be a non-empty string, got {safe_repr(args[0])}"
                )
            if name is None:
                # The name is in every output: a secret in it goes like one in an id.
                name = redact(args[0].strip())
        for key, value in kwargs.items():
            merged.setdefault(key, value)
    try:
        targets = Targets.model_validate(merged)
    except ValidationError as exc:
        raise TargetError(redact("; ".join(_describe(e) for e in exc.errors()))) from None
    except Exception as exc:  # a value whose __eq__, __hash__ or __float__ raises
        raise TargetError(
            f"a keyword's value could not be read ({type(exc).__name__}); "
            "give numbers, strings, booleans or a dict of them"
        ) from None
    return name, targets
