"""Run-wide settings from the command line and ini file, validated.

Pure: no pytest. The plugin gathers raw values (each with the name the user
wrote it under, ``--prodgate-seed`` or ``prodgate_seed``) and
:func:`build_settings` validates them all at once, so a usage error lists every
bad value on its own line, each naming its option or key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pytest_prodgate.errors import SettingsError

__all__ = ["OPTIONS", "Settings", "SettingsError", "build_settings"]

CiMethod = Literal["auto", "bootstrap", "wilson", "clopper-pearson"]


class Settings(BaseModel):
    """Everything a run is configured with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    lock: bool = False
    mode: Literal["gate", "report"] = "gate"
    model: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")] | None = None
    report: Path | None = None
    baseline: Path | None = None
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    resamples: Annotated[int, Field(ge=100, le=10_000_000)] = 9999
    seed: Annotated[int, Field(ge=0)] = 0
    ci_method: CiMethod = "auto"
    inconclusive: Literal["fail", "warn"] | None = None
    trials: Annotated[int, Field(ge=1, le=10_000)] = 1
    max_spend_usd: Annotated[float, Field(ge=0.0)] | None = None


#: field -> (command-line option, ini key or None)
OPTIONS: dict[str, tuple[str, str | None]] = {
    "enabled": ("--prodgate", None),
    "lock": ("--prodgate-lock", None),
    "mode": ("--prodgate-mode", "prodgate_mode"),
    "model": ("--prodgate-model", "prodgate_model"),
    "report": ("--prodgate-report", "prodgate_report"),
    "baseline": ("--prodgate-baseline", "prodgate_baseline"),
    "confidence": ("--prodgate-confidence", "prodgate_confidence"),
    "resamples": ("--prodgate-resamples", "prodgate_resamples"),
    "seed": ("--prodgate-seed", "prodgate_seed"),
    "ci_method": ("--prodgate-ci-method", "prodgate_ci_method"),
    "inconclusive": ("--prodgate-inconclusive", "prodgate_inconclusive"),
    "trials": ("--prodgate-trials", "prodgate_trials"),
    "max_spend_usd": ("--prodgate-max-spend-usd", "prodgate_max_spend_usd"),
}


def build_settings(values: dict[str, tuple[Any, str]]) -> Settings:
    """Validate ``{field: (value, where)}``; ``where`` names the option or ini key."""
    try:
        return Settings.model_validate({k: v for k, (v, _) in values.items()})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            where = values.get(field, (None, field))[1]
            lines.append(f"{where}={err.get('input')!r}: {err['msg']}")
        raise SettingsError("\n".join(lines)) from None
