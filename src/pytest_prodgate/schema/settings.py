"""Run-wide settings, validated: the pydantic model behind the option table.

Pure: no pytest. The plugin gathers raw values, each with the name the user wrote
it under (``--prodgate-seed``, ``prodgate_seed (ini)``, ``--confidence``), and
:func:`build_settings` validates them all at once, so a usage error lists every
bad value on its own line, each naming its option or key.

Flags, ini keys, choices, defaults and help live in
:data:`pytest_prodgate.schema.options.OPTIONS`; this model adds the types and
ranges. Importing this module checks that the two agree, field by field.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pytest_prodgate.errors import SettingsError
from pytest_prodgate.schema.options import OPTIONS, by_field
from pytest_prodgate.schema.redact import redact, safe_repr

__all__ = ["Settings", "SettingsError", "build_settings", "parse_shard"]


def _default(field: str) -> Any:
    return by_field(field).default


class Settings(BaseModel):
    """Everything a run is configured with (defaults from the option table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    lock: bool = False
    subset: bool = False
    mode: Literal["gate", "report"] = _default("mode")
    model: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")] | None = None
    report: Path | None = None
    html: Path | None = None
    comment: Path | None = None
    baseline: Path | None = None
    confidence: Annotated[float, Field(gt=0.5, lt=1.0, allow_inf_nan=False)] = _default(
        "confidence"
    )
    resamples: Annotated[int, Field(ge=100, le=10_000_000)] = _default("resamples")
    seed: Annotated[int, Field(ge=0)] = _default("seed")
    ci_method: Literal["auto", "bootstrap", "wilson", "clopper-pearson"] = _default("ci_method")
    inconclusive: Literal["fail", "warn"] | None = None
    trials: Annotated[int, Field(ge=1, le=10_000)] = _default("trials")
    concurrency: Annotated[int, Field(ge=1, le=10_000)] = _default("concurrency")
    max_spend_usd: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    shard: str | None = None
    early_stop: bool = False
    early_stop_looks: Annotated[int, Field(ge=2, le=100)] = _default("early_stop_looks")
    cache: Path | None = None
    cache_mode: Literal["use", "refresh", "off"] = _default("cache_mode")
    cache_latency: Literal["replay", "exclude"] = _default("cache_latency")
    cache_errors: bool = False
    redact: list[str] | None = None

    @field_validator("redact")
    @classmethod
    def _regexes(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or ():
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
            if compiled.search("") is not None:
                # It would match between every two characters of every line printed.
                raise ValueError(
                    f"{safe_repr(pattern)} matches the empty string: give what a secret looks like"
                )
        return value

    @field_validator("shard")
    @classmethod
    def _shard(cls, value: str | None) -> str | None:
        if value is None:
            return None
        index, total = parse_shard(value)
        return f"{index}/{total}"


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)``; a :class:`ValueError` says what is wrong with it."""
    k, sep, n = text.strip().partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise ValueError("expected K/N, two whole numbers such as 2/4")
    index, total = int(k), int(n)
    if total < 1:
        raise ValueError(f"N must be at least 1, not {total}")
    if not 1 <= index <= total:
        raise ValueError(f"K must be between 1 and N={total}, not {index}")
    return index, total


def _literal_choices(annotation: Any) -> tuple[str, ...]:
    if typing.get_origin(annotation) is Literal:
        return tuple(typing.get_args(annotation))
    return tuple(c for arg in typing.get_args(annotation) for c in _literal_choices(arg))


def _check_table() -> None:
    """The table and the model name the same fields, choices and defaults."""
    fields = Settings.model_fields
    assert {o.field for o in OPTIONS} == set(fields), "option table and Settings differ"
    for o in OPTIONS:
        info = fields[o.field]
        assert _literal_choices(info.annotation) == o.choices, f"{o.field}: choices differ"
        assert info.default == (o.default if o.kind != "flag" else False), (
            f"{o.field}: defaults differ"
        )


_check_table()


def build_settings(values: dict[str, tuple[Any, str]]) -> Settings:
    """Validate ``{field: (value, where)}``; ``where`` names the option or ini key."""
    try:
        return Settings.model_validate({k: v for k, (v, _) in values.items()})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            where = values.get(field, (None, field))[1]
            lines.append(f"{where}={safe_repr(err.get('input'))}: {redact(err['msg'])}")
        raise SettingsError("\n".join(lines)) from None
