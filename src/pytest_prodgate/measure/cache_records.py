"""What a record of the ``--prodgate-cache`` journal may hold: checked field by field on read.

Pure Python, no pytest. :func:`check_record` says what is wrong with a parsed
journal line, naming the field (``bad call.latency_s (NaN: ...)``), or ``None``:
every figure a replay turns into a measurement is finite, non-negative and
plausible (:data:`LIMITS`), every other field has the type this version writes,
and a record is either a successful call with a response in a codec this version
reads (:func:`response_problem`) or a failed call (``"ok": false``) naming its
exception class and message, with no response, cost or tokens.
A record that fails is skipped with a warning and its call made again
(:mod:`pytest_prodgate.measure.cache`).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any

from pytest_prodgate.measure.calling import MAX_ERROR_MESSAGE

__all__ = [
    "CALL_FIELDS",
    "FAILURE_FIELDS",
    "LIMITS",
    "RECORD_VERSION",
    "check_record",
    "failed",
    "response_problem",
    "short",
]

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

#: What a failed call's record gives besides the figures (``call.ok`` false).
FAILURE_FIELDS = ("ok", "error", "error_message", "timed_out")
#: A successful call's record (``call.ok`` absent or true) has no error: these values.
_SUCCESS = {"ok": True, "error": None, "error_message": None, "timed_out": False}
#: What a failed call's record (``call.ok`` false) has no figure of: it returned no response.
_NO_RESPONSE = ("cost_usd", "cost_error", "input_tokens", "output_tokens")
#: The longest exception class name a failed record may give.
MAX_ERROR_NAME = 200

_PYDANTIC_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def failed(call: Any) -> bool:
    """Whether a record's ``call`` is that of a failed call (``"ok": false``)."""
    return isinstance(call, dict) and call.get("ok") is False


def check_record(obj: Any) -> str | None:
    """What is wrong with a parsed journal line, field by field (``None``: nothing).

    Every field a replay reuses is checked: the figures of ``call`` (see
    :data:`LIMITS`), when it was recorded, the types of the other fields, and
    either the response's codec (a successful call) or the error (a failed one,
    ``call.ok`` false, which has no response, cost or tokens). An unknown field
    of ``call`` is refused: it would be a figure this run does not know how to replay.
    """
    if not isinstance(obj, dict):
        return "not a prodgate cache record (not an object)"
    if obj.get("v") != RECORD_VERSION:
        return f"not a prodgate cache record of version {RECORD_VERSION}"
    key, call = obj.get("key"), obj.get("call")
    if not isinstance(key, str) or not key:
        return "not a prodgate cache record (no 'key')"
    if not isinstance(call, dict) or not (failed(call) or isinstance(obj.get("response"), dict)):
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
    if failed(call):
        if "response" in obj:
            return f"bad response ({short(obj['response'])}: a failed call has none)"
        return None
    problem = response_problem(obj["response"])
    if problem is not None:
        return f"bad response ({problem})"
    return None


def _call_problem(call: dict[str, Any]) -> str | None:
    for name in call:
        if name not in CALL_FIELDS and name not in _SUCCESS:
            return f"unknown field call.{name[:40]} (a figure this run cannot replay)"
    ok = call.get("ok", True)
    if not isinstance(ok, bool):
        return f"bad call.ok ({short(ok)}: must be true or false)"
    problem = _outcome_problem(call) if ok else _failure_problem(call)
    if problem is not None:
        return problem
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


def _outcome_problem(call: dict[str, Any]) -> str | None:
    """A successful call's record gives no error (or the values of no error)."""
    for name, expected in _SUCCESS.items():
        if name in call and call[name] != expected:
            return (
                f"bad call.{name} ({short(call[name])}: a successful call has no error,"
                f" so it must be {json.dumps(expected)} unless call.ok is false)"
            )
    return None


def _failure_problem(call: dict[str, Any]) -> str | None:
    """A failed call's record names its error, and has no cost or tokens."""
    error = call.get("error")
    if not (isinstance(error, str) and error.isidentifier() and len(error) <= MAX_ERROR_NAME):
        return (
            f"bad call.error ({short(error)}: a failed call's must be the name of"
            " its exception class)"
        )
    message = call.get("error_message")
    if not isinstance(message, str) or len(message) > MAX_ERROR_MESSAGE:
        return (
            f"bad call.error_message ({short(message)}: a failed call's must be a string"
            f" of at most {MAX_ERROR_MESSAGE} characters)"
        )
    timed_out = call.get("timed_out")
    if not isinstance(timed_out, bool):
        return f"bad call.timed_out ({short(timed_out)}: a failed call's must be true or false)"
    for name in _NO_RESPONSE:
        if call.get(name) is not None:
            return (
                f"bad call.{name} ({short(call[name])}: a failed call returned no response,"
                " so it must be null)"
            )
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
