"""Output paths that would destroy an input: one check for the plugin and the command.

Pure: no pytest. A run or a command names its outputs and its inputs as
``(label, path)`` pairs, the label as the user gave it (``--prodgate-report=/p/r.json``,
``-o /p/out.json``, ``the dataset /p/evals/qa.jsonl``); :func:`output_clash` says, in
one line naming both, which output is the same file as another output or an input,
or lies inside an input directory (the cache journal's).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["output_clash", "same_file"]

Labelled = Sequence[tuple[str, Path]]


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare as given
        return Path(os.path.abspath(path))


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same resolved path (symlinks, ``./``,
    ``..``), or, when both exist, the same inode (a hard link)."""
    if _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _inside(path: Path, directory: Path) -> bool:
    return _resolved(path).is_relative_to(_resolved(directory))


def output_clash(
    outputs: Labelled, inputs: Labelled = (), directories: Labelled = ()
) -> str | None:
    """Why one of ``outputs`` cannot be written without destroying something, or ``None``.

    An output is refused when it is the same file as an earlier output (only the
    last written would survive), as one of ``inputs``, or lies inside one of
    ``directories``.
    """
    for i, (label, path) in enumerate(outputs):
        for other, other_path in outputs[:i]:
            if same_file(path, other_path):
                return (
                    f"{label} is the same file as {other}: only one of them would survive; "
                    "give each output its own path"
                )
        for other, other_path in inputs:
            if same_file(path, other_path):
                return (
                    f"{label} is the same file as {other}: writing it would overwrite it; "
                    "give another path"
                )
        for other, directory in directories:
            if _inside(path, directory):
                return (
                    f"{label} is inside {other}: writing it could overwrite a file there; "
                    "give a path outside it"
                )
    return None
