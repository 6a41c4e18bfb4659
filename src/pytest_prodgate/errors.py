"""Every error pytest-prodgate raises on bad input, under one base class.

Each message is one line naming the file, option, key or test at fault, so that
the plugin and the ``prodgate`` command can show it as it is. The classes keep
the builtin base they had (``ValueError``, ``RuntimeError``, ``TimeoutError``)
so that ``except ValueError`` in user code keeps working.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DatasetError",
    "DrillError",
    "LockError",
    "MergeError",
    "ModelTimeout",
    "ProdgateError",
    "ReplayedModelError",
    "ReportError",
    "SettingsError",
    "SpendCapReached",
    "TargetError",
]


class ProdgateError(Exception):
    """Base of every error pytest-prodgate raises."""


class SettingsError(ProdgateError, ValueError):
    """One or more settings are invalid; one line each, naming the option or key."""


class TargetError(ProdgateError, ValueError):
    """A ``prodgate`` marker was misused; the message names the keyword."""


class ReportError(ProdgateError, ValueError):
    """A report file is missing, unreadable, or not a compatible prodgate report."""


class MergeError(ProdgateError, ValueError):
    """Shard reports that cannot be merged; the one-line message names the files."""


class LockError(ProdgateError, ValueError):
    """``prodgate.lock`` cannot be used; the one-line message names the file and key."""


class DatasetError(ProdgateError, ValueError):
    """A dataset file cannot be read as eval cases.

    The message is one line, ``FILE:LINE: what is wrong (resolved: /abs/FILE)``
    (``FILE: ...`` when the problem is the file as a whole). ``path`` is the
    path as given, ``resolved`` the absolute path, ``line`` the 1-based line
    or ``None``, and ``reason`` the bare description.
    """

    def __init__(
        self, path: str, reason: str, *, line: int | None = None, resolved: str | None = None
    ) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        self.resolved = resolved
        where = path if line is None else f"{path}:{line}"
        message = f"{where}: {reason}"
        if resolved is not None and resolved != path:
            message += f" (resolved: {resolved})"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_dataset_error, (self.path, self.reason, self.line, self.resolved))


def _rebuild_dataset_error(
    path: str, reason: str, line: int | None, resolved: str | None
) -> DatasetError:
    return DatasetError(path, reason, line=line, resolved=resolved)


class DrillError(ProdgateError, RuntimeError):
    """A drill was used wrongly; the message names what is wrong."""


class SpendCapReached(ProdgateError, RuntimeError):
    """Raised instead of making a model call once the run's spend cap is reached."""


class ModelTimeout(ProdgateError, TimeoutError):
    """A model call (one attempt of it) did not finish within the model's ``timeout_s``."""

    def __init__(self, model: str, timeout_s: float) -> None:
        super().__init__(f"model {model!r} did not answer within timeout_s={timeout_s:g} s")
        self.model = model
        self.timeout_s = timeout_s

    def __reduce__(self) -> tuple[type[ModelTimeout], tuple[str, float]]:
        return type(self), (self.model, self.timeout_s)


class ReplayedModelError(ProdgateError):
    """A failed model call replayed from ``--prodgate-cache`` with ``--prodgate-cache-errors``.

    The model was not called: the call failed when it was recorded, and the
    journal holds the exception's class name and (redacted) message, never the
    exception itself. A replay raises an instance of a subclass named like that
    class (``type(exc).__name__ == "RateLimitError"``), which also derives from
    the original class when that is a builtin exception or :class:`ModelTimeout`
    (see :mod:`pytest_prodgate.measure.replayed`). ``str(exc)`` is the recorded
    message; ``error``, ``error_message``, ``model``, ``recorded_at`` and
    ``timed_out`` say what was recorded.
    """

    def __new__(cls, error: str, message: str, **_: Any) -> ReplayedModelError:
        # One argument for the next base's __new__ (OSError's reads its arguments).
        return super().__new__(cls, message)

    def __init__(
        self,
        error: str,
        message: str,
        *,
        model: str | None = None,
        recorded_at: str | None = None,
        timed_out: bool = False,
    ) -> None:
        # Not super().__init__: a builtin base such as UnicodeDecodeError wants other arguments.
        BaseException.__init__(self, message)
        self.error = error
        self.error_message = message
        self.model = model
        self.recorded_at = recorded_at
        self.timed_out = timed_out

    def __str__(self) -> str:
        return self.error_message
