"""What a record of the ``--prodgate-cache`` journal may hold: checked field by field on read.

Pure Python, no pytest. :func:`check_record` says what is wrong with a parsed
journal line, naming the field (``bad call.latency_s (NaN: ...)``), or ``None``:
every figure a replay turns into a measurement is finite, non-negative and
plausible (:data:`LIMITS`), every other field has the type this version writes,
and the response's codec is one this version reads (:func:`response_problem`).
A record that fails is skipped with a warning and its call made again
(:mod:`pytest_prodgate.measure.cache`).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any

__all__ = ["CALL_FIELDS", "LIMITS", "RECORD_VERSION", "check_record", "response_problem", "short"]

RECORD_VERSION = 1

#: The measured fields a record keeps (those of ``recording.CallRecord`` that a replay reuses).
CALL_FIELDS = (
    "latency_s",
    "retries",
    "cost_usd",
    "cost_error",
    "input_tokens",
    "output_tokens",
)

#: The largest plausible figures of one call: a record beyond them is damaged (a
#: latency of a day or more, a cost of $10,000 or more, a count that a float
#: cannot hold exactly), skipped with a warning, and its call made again.
LIMITS = {
    "latency_s": 86_400.0,
    "cost_usd": 10_000.0,
    "count": 2**53,
}

#: What a replay takes as given about a call: a journaled call succeeded.
_SUCCESS = {"ok": True, "error": None, "error_message": None, "timed_out": False}

_PYDANTIC_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def check_record(obj: Any) -> str | None:
    """What is wrong with a parsed journal line, field by field (``None``: nothing).

    Every field a replay reuses is checked: the figures of ``call`` (see
    :data:`LIMITS`), that the call succeeded (a journal holds successful calls
    only), when it was recorded, the response's codec, and the types of the
    other fields. An unknown field of ``call`` is refused: it would be a figure
    this run does not know how to replay.
    """
    if not isinstance(obj, dict):
        return "not a prodgate cache record (not an object)"
    if obj.get("v") != RECORD_VERSION:
        return f"not a prodgate cache record of version {RECORD_VERSION}"
    key, call = obj.get("key"), obj.get("call")
    if not isinstance(key, str) or not key:
        return "not a prodgate cache record (no 'key')"
    if not isinstance(call, dict) or not isinstance(obj.get("response"), dict):
        return "not a prodgate cache record (no 'call' or 'response' object)"
    for name, allowed in (("model", (str,)), ("version", (str, type(None)))):
        if name in obj and not isinstance(obj[name], allowed):
            return f"bad {name} ({short(obj[name])}: must be a string)"
    if "trial" in obj and not _count(obj["trial"]):
        return f"bad trial ({short(obj['trial'])}: must be a whole number >= 0)"
    when = _timestamp_problem(obj.get("recorded_at"))
    if when is not None:
        return f"bad recorded_at ({short(obj.get('recorded_at'))}: {when})"
    problem = _call_problem(call)
    if problem is not None:
        return problem
    problem = response_problem(obj["response"])
    if problem is not None:
        return f"bad response ({problem})"
    return None


def _call_problem(call: dict[str, Any]) -> str | None:
    for name in call:
        if name not in CALL_FIELDS and name not in _SUCCESS:
            return f"unknown field call.{name[:40]} (a figure this run cannot replay)"
    for name, expected in _SUCCESS.items():
        if name in call and call[name] != expected:
            return (
                f"bad call.{name} ({short(call[name])}: a journal holds successful calls only,"
                f" so it must be {json.dumps(expected)})"
            )
    latency = call.get("latency_s")
    if not _amount(latency, LIMITS["latency_s"]):
        return (
            f"bad call.latency_s ({short(latency)}: must be a number of seconds"
            f" from 0 to under {LIMITS['latency_s']:,.0f}, a day)"
        )
    cost = call.get("cost_usd")
    if cost is not None and not _amount(cost, LIMITS["cost_usd"]):
        return (
            f"bad call.cost_usd ({short(cost)}: must be null or a number of USD"
            f" from 0 to under {LIMITS['cost_usd']:,.0f})"
        )
    for name in ("retries", "input_tokens", "output_tokens"):
        value = call.get(name)
        if value is not None and not _count(value):
            return f"bad call.{name} ({short(value)}: must be null or a whole number >= 0)"
    error = call.get("cost_error")
    if error is not None and not isinstance(error, str):
        return f"bad call.cost_error ({short(error)}: must be null or a string)"
    return None


def _amount(value: Any, limit: float) -> bool:
    """A finite number from 0 to under ``limit`` (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value) and 0 <= value < limit
    except OverflowError:  # an integer too large for a float
        return False


def _count(value: Any) -> bool:
    """A whole number from 0 to under 2**53 (not a boolean)."""
    return type(value) is int and 0 <= value < LIMITS["count"]


def _timestamp_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be an ISO 8601 date and time"
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        return "must be an ISO 8601 date and time"
    if when.tzinfo is None or when.utcoffset() is None:
        return "must give its UTC offset"
    return None


def short(value: Any) -> str:
    """``value`` as a few characters of JSON, for a warning."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def response_problem(record: Any) -> str | None:
    """What is wrong with a response record's shape (``None``: nothing)."""
    if not isinstance(record, dict):
        return "the response is not a record"
    keys = set(record)
    if keys == {"json"}:
        return None if _finite(record["json"]) else "a number in it is not finite"
    if keys == {"pydantic", "data"}:
        path = record["pydantic"]
        if not isinstance(path, str) or not _PYDANTIC_PATH.fullmatch(path):
            return f"'pydantic' is not a module:Class name ({short(path)})"
        return None if _finite(record["data"]) else "a number in it is not finite"
    codecs = ", ".join(repr(k) for k in sorted(keys)) or "none"
    return (
        f"unknown codec ({codecs}; this run reads 'json' and 'pydantic' with 'data'"
        " and never unpickles)"
    )


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True
