"""The option table: every run-wide setting declared once.

One row per setting: its :class:`~pytest_prodgate.schema.settings.Settings` field,
command-line flag, ini key, kind, choices, default, metavar, help, and the flag of
``prodgate gate`` that overrides it, if any. From this table come

* the pytest options and ini keys (``plugin/options.py``: :func:`declare` with
  ``group.addoption``, then ``parser.addini`` per :attr:`Option.ini_key`),
* the options that switch validation on (:attr:`Option.dest`),
* where a value came from in an error line (:meth:`Option.where`),
* the flags of ``prodgate gate`` (``cli/main.py``: :func:`declare` with
  ``parser.add_argument`` and ``command=True``),

as pytest-benchmark's ``add_*_options(addoption, prefix)`` serve its plugin and
its command. Validation is :func:`~pytest_prodgate.schema.settings.build_settings`.

Pure and light: no pytest, no pydantic (the plugin reads this table at startup of
every pytest run). ``Settings``, ``build_settings`` and ``SettingsError`` are
importable from here too; they load pydantic on first use.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pytest_prodgate.schema.redact import safe_repr

if TYPE_CHECKING:
    from pytest_prodgate.errors import SettingsError
    from pytest_prodgate.schema.settings import Settings, build_settings

__all__ = [
    "OPTIONS",
    "Option",
    "Settings",
    "SettingsError",
    "build_settings",
    "by_field",
    "declare",
]

Kind = Literal["flag", "str", "path", "int", "float", "lines"]

#: The pytest ini type of each kind. Paths are read as strings and resolved by the
#: plugin against the ini file's directory, so that ``~`` expands and a path may
#: hold spaces (pytest's ``paths`` splits like a shell and returns a list).
_INI_TYPES: dict[Kind, str] = {
    "flag": "bool",
    "str": "string",
    "path": "string",
    "int": "int",
    "float": "float",
    "lines": "linelist",
}


def _number(text: str) -> float:
    """A float option's value; ``1e400`` and ``nan`` are refused as written, not as the
    ``inf`` and ``nan`` they parse to."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{safe_repr(text)} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{safe_repr(text)} is not a finite number")
    return value


def _integer(text: str) -> int:
    """An int option's value (argparse's own message would echo it unredacted)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{safe_repr(text)} is not a whole number") from None


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    """A choice option's value, checked here: argparse's "invalid choice" message would
    echo a mistyped value, which may be a pasted secret, unredacted."""

    def check(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f"{safe_repr(text)} is not one of " + ", ".join(choices)
            )
        return text

    return check


_PY_TYPES: dict[Kind, Callable[[str], Any]] = {"int": _integer, "float": _number}


@dataclass(frozen=True)
class Option:
    """One setting: where the user writes it and what it means."""

    #: The :class:`Settings` field.
    field: str
    #: The pytest flag; its dest (``prodgate_x_y``) is also the ini key.
    flag: str
    kind: Kind
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    default: Any = None
    #: Whether the setting has an ini key (flags that act once have none).
    ini: bool = True
    #: The flag of ``prodgate gate`` that overrides the report's own value, if any.
    command: str | None = None

    @property
    def dest(self) -> str:
        """The attribute on pytest's ``config.option`` (``prodgate_ci_method``)."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def ini_key(self) -> str | None:
        return self.dest if self.ini else None

    @property
    def ini_type(self) -> str:
        return _INI_TYPES[self.kind]

    def where(self, *, ini: bool = False, command: bool = False) -> str:
        """How an error line names the value: ``--prodgate-seed``, ``prodgate_seed (ini)``."""
        if ini:
            return f"{self.ini_key} (ini)"
        flag = self.command if command else self.flag
        assert flag is not None
        return flag


OPTIONS: tuple[Option, ...] = (
    Option("enabled", "--prodgate", "flag", "run eval cases and gate the run.", ini=False),
    Option(
        "mode",
        "--prodgate-mode",
        "str",
        "gate: fail the run on a missed gate; report: measure and report, never fail on a gate.",
        choices=("gate", "report"),
        default="gate",
        command="--mode",
    ),
    Option(
        "model",
        "--prodgate-model",
        "str",
        "callable behind the default prodgate_model fixture.",
        metavar="MOD:ATTR",
    ),
    Option(
        "report",
        "--prodgate-report",
        "path",
        "write the JSON report to PATH.",
        metavar="PATH",
        command="--json",
    ),
    Option(
        "html",
        "--prodgate-html",
        "path",
        "write the self-contained HTML report to PATH (plots with pytest-prodgate[html]).",
        metavar="PATH",
    ),
    Option(
        "comment",
        "--prodgate-comment",
        "path",
        "write a Markdown pull-request comment of the run to PATH.",
        metavar="PATH",
    ),
    Option(
        "baseline",
        "--prodgate-baseline",
        "path",
        "a previous JSON report to compare accuracy with.",
        metavar="PATH",
        command="--baseline",
    ),
    Option(
        "confidence",
        "--prodgate-confidence",
        "float",
        "two-sided confidence level of every interval.",
        metavar="LEVEL",
        default=0.95,
        command="--confidence",
    ),
    Option("resamples", "--prodgate-resamples", "int", "bootstrap resamples.", "N", default=9999),
    Option("seed", "--prodgate-seed", "int", "statistics seed.", "N", default=0),
    Option(
        "ci_method",
        "--prodgate-ci-method",
        "str",
        "interval of the accuracy, slice and error-rate gates (see docs).",
        choices=("auto", "bootstrap", "wilson", "clopper-pearson"),
        default="auto",
    ),
    Option(
        "inconclusive",
        "--prodgate-inconclusive",
        "str",
        "whether an inconclusive gate fails the run "
        "(unset: absolute gates fail, regression gates warn).",
        choices=("fail", "warn"),
        command="--inconclusive",
    ),
    Option("trials", "--prodgate-trials", "int", "default trials per case.", "N", default=1),
    Option(
        "concurrency",
        "--prodgate-concurrency",
        "int",
        "model calls in flight per process for prodgate_output, made ahead of the cases.",
        "N",
        default=8,
    ),
    Option(
        "max_spend_usd",
        "--prodgate-max-spend-usd",
        "float",
        "stop calling models once the run has spent USD.",
        metavar="USD",
    ),
    Option(
        "shard",
        "--prodgate-shard",
        "str",
        "run only shard K of N of the eval cases (1 <= K <= N); its gates are not decided: "
        "prodgate merge gates the shards' reports together.",
        metavar="K/N",
    ),
    Option(
        "early_stop",
        "--prodgate-early-stop",
        "flag",
        "run each suite's cases in a seeded order and stop a suite once every gate "
        "is resolved (see docs/howto-early-stopping.md).",
    ),
    Option(
        "early_stop_looks",
        "--prodgate-early-stop-looks",
        "int",
        "planned looks at a suite's data under early stopping (2-100).",
        "N",
        default=10,
    ),
    Option(
        "cache",
        "--prodgate-cache",
        "path",
        "journal every model call in DIR and replay recorded calls instead of paying again.",
        metavar="DIR",
    ),
    Option(
        "cache_mode",
        "--prodgate-cache-mode",
        "str",
        "with --prodgate-cache: use = replay and record; refresh = call everything "
        "again and record; off = no cache.",
        choices=("use", "refresh", "off"),
        default="use",
    ),
    Option(
        "cache_latency",
        "--prodgate-cache-latency",
        "str",
        "replay: replayed calls keep their recorded latency in latency gates "
        "(the gate says so); exclude: latency gates use fresh calls only.",
        choices=("replay", "exclude"),
        default="replay",
        command="--cache-latency",
    ),
    Option(
        "cache_errors",
        "--prodgate-cache-errors",
        "flag",
        "with --prodgate-cache: replay a recorded failed call as that failure instead of "
        "calling the model again (a recorded success always wins).",
    ),
    Option(
        "redact",
        "--prodgate-redact",
        "lines",
        "also redact what REGEX matches in everything printed or written (repeatable; "
        "API keys, bearer tokens and secret environment variables are always redacted).",
        metavar="REGEX",
    ),
    Option(
        "subset",
        "--prodgate-subset",
        "flag",
        "gate a subset of a sealed set on purpose (-k, --lf, skipped cases): the verdicts "
        "stand and say so; without it a sealed suite run in part is INCOMPLETE.",
        ini=False,
    ),
    Option(
        "lock",
        "--prodgate-lock",
        "flag",
        "write prodgate.lock (sealed datasets and targets).",
        ini=False,
    ),
)


def by_field(field: str) -> Option:
    """The row of one :class:`Settings` field."""
    for option in OPTIONS:
        if option.field == field:
            return option
    raise KeyError(field)


def declare(
    add: Callable[..., object], options: Iterable[Option] = OPTIONS, *, command: bool = False
) -> None:
    """Declare ``options`` through an argparse-style ``add`` function.

    The plugin passes pytest's ``group.addoption``; ``prodgate gate`` passes
    ``parser.add_argument`` with ``command=True`` (its own flags, dest = the
    field). Every option defaults to ``None``: the plugin then falls back to the
    ini key, the command to the value the report was run with.
    """
    for o in options:
        flag = o.command if command else o.flag
        if flag is None:
            continue
        help = o.help
        if command and o.kind != "path":
            help = f"{help.rstrip('.')} (default: as the report was run)."
        elif not command and o.default is not None and o.kind != "flag":
            help = f"{help.rstrip('.')} (default {o.default})."
        kwargs: dict[str, Any] = {"default": None, "help": help}
        if o.kind == "flag":
            kwargs["action"] = "store_true"
        elif o.kind == "lines":
            kwargs["action"] = "append"
            if o.metavar:
                kwargs["metavar"] = o.metavar
        else:
            if o.kind in _PY_TYPES:
                kwargs["type"] = _PY_TYPES[o.kind]
            if o.choices:
                kwargs["type"] = _one_of(o.choices)
                kwargs["choices"] = o.choices  # for --help; the type has checked it
            if o.metavar:
                kwargs["metavar"] = o.metavar
        if command:
            kwargs["dest"] = o.field
        add(flag, **kwargs)


def __getattr__(name: str) -> Any:
    """``Settings``, ``build_settings``, ``SettingsError``: pydantic loads on first use."""
    if name in ("Settings", "build_settings", "SettingsError"):
        from pytest_prodgate.schema import settings

        return getattr(settings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
