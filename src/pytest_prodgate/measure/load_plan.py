"""A validated load run: what :func:`~pytest_prodgate.measure.load.run_load` was asked."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_prodgate.measure.calling import default_name, is_async_callable, safe_repr
from pytest_prodgate.measure.model import Model

__all__ = ["NO_END", "TIMEOUT", "Plan", "make_plan"]

#: The error class name of a call that ran past ``timeout_s`` or was given up on.
TIMEOUT = "TimeoutError"
#: "No request limit" (duration mode).
NO_END = sys.maxsize


@dataclass(frozen=True)
class Plan:
    """A validated load run."""

    fn: Callable[..., Any]
    is_async: bool
    inputs: list[Any]
    concurrency: int
    requests: int | None
    duration_s: float | None
    warmup: int
    timeout_s: float | None
    grace_s: float
    name: str
    record: bool


def _check_int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"run_load({what}=...) takes an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"run_load({what}=...) takes an int >= {minimum}, got {value!r}")
    return int(value)


def _check_seconds(value: Any, what: str, *, allow_zero: bool = False) -> float:
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"run_load({what}=...) takes a number of seconds {bound}, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise ValueError(
            f"run_load({what}=...) takes a finite number of seconds {bound}, got {value!r}"
        )
    return x


def make_plan(
    fn: Any,
    inputs: Any,
    concurrency: Any,
    requests: Any,
    duration_s: Any,
    warmup: Any,
    timeout_s: Any,
    grace_s: Any,
    name: Any,
    record: Any,
) -> Plan:
    if isinstance(fn, Model):
        target, is_async = fn.fn, fn.is_async
        default_timeout, given_name = fn.timeout_s, fn.name
    elif callable(fn):
        target, is_async = fn, is_async_callable(fn)
        default_timeout, given_name = None, default_name(fn)
    else:
        raise TypeError(f"run_load() takes a callable or a Model, got {safe_repr(fn)}")
    if isinstance(inputs, (str, bytes, bytearray, Mapping)) or not isinstance(inputs, Iterable):
        raise TypeError(
            "run_load(inputs=...) takes a list of inputs (each passed as the one argument "
            f"of a call), got {safe_repr(inputs)}"
        )
    items = list(inputs)
    if not items:
        raise ValueError("run_load(inputs=...) is empty: give at least one input")
    c = _check_int(concurrency, "concurrency", 1)
    if (requests is None) == (duration_s is None):
        raise ValueError("run_load() takes exactly one of requests=... or duration_s=...")
    n_req = None if requests is None else _check_int(requests, "requests", 1)
    dur = None if duration_s is None else _check_seconds(duration_s, "duration_s")
    w = _check_int(warmup, "warmup", 0)
    t = _check_seconds(timeout_s, "timeout_s") if timeout_s is not None else default_timeout
    if grace_s is not None:
        g = _check_seconds(grace_s, "grace_s", allow_zero=True)
    elif t is not None:
        g = t + 1.0
    else:
        g = max(5.0, dur or 0.0)
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"run_load(name=...) takes a non-empty string or None, got {name!r}")
    if not isinstance(record, bool):
        raise TypeError(f"run_load(record=...) takes a bool, got {record!r}")
    return Plan(
        fn=target,
        is_async=is_async,
        inputs=items,
        concurrency=c,
        requests=n_req,
        duration_s=dur,
        warmup=w,
        timeout_s=t,
        grace_s=g,
        name=name if name is not None else given_name,
        record=record,
    )
