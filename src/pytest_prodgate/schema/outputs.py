"""Output paths that would destroy an input: one check for the plugin and the command.

Pure: no pytest. A run or a command names its outputs and its inputs as
``(label, path)`` pairs, the label as the user gave it (``--prodgate-report=/p/r.json``,
``-o /p/out.json``, ``the dataset /p/evals/qa.jsonl``); :func:`output_clash` says, in
one line naming both, which output is the same file as another output or an input,
or lies inside an input directory (the cache journal's); :func:`output_problem` says
why a file cannot be written at a path at all.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["output_clash", "output_problem", "same_file"]

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


def output_problem(path: Path) -> str | None:
    """Why the atomic write (:func:`~pytest_prodgate.schema.files.write_atomic`) cannot
    put a file at ``path``, if so.

    The write creates a temporary file beside the target and renames it over the
    target, so what is checked is that a file can be created there: a probe file is
    created and removed (``os.access`` answers yes to root and ignores ACLs), also
    when the target exists. A missing directory is created by the write; the probe
    then goes to the nearest directory that exists.
    """
    if path.is_dir():
        return "is a directory, not a file"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, not a directory"
    replacing = path.exists() or path.is_symlink()
    try:
        fd, probe = tempfile.mkstemp(prefix=".prodgate-probe.", suffix=".tmp", dir=parent)
    except OSError as exc:
        why = exc.strerror or str(exc)
        if replacing:
            return (
                f"cannot create files in {parent} ({why}): replacing the file needs a "
                "temporary file beside it"
            )
        return f"cannot create files in {parent} ({why})"
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    if replacing and _sticky_foreign(parent, path):
        return f"is another user's file in the sticky directory {parent}: it cannot be replaced"
    return None


def _sticky_foreign(parent: Path, path: Path) -> bool:
    """A sticky directory (``/tmp``) lets only the owner of a file, or of the directory,
    rename over it (root may too)."""
    try:
        dir_st, st = parent.stat(), path.lstat()
    except OSError:
        return False
    euid = os.geteuid() if hasattr(os, "geteuid") else 0
    return (
        bool(dir_st.st_mode & stat.S_ISVTX) and euid != 0 and euid not in (st.st_uid, dir_st.st_uid)
    )
