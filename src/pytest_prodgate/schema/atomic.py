"""Files written atomically, with the user's umask, leaving no temporary file behind.

Pure: no pytest. :func:`write_atomic` is how every file the plugin and the command
write reaches the disk (reports, pages, the lock, a redacted ``--junitxml`` file).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["STALE_TEMP_AGE_S", "write_atomic"]


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


#: A temporary file of a writer that is gone, on another host or in another pid
#: namespace (where its pid says nothing), is removed once it is this old.
STALE_TEMP_AGE_S = 24 * 3600


def _writer_tag() -> str:
    """This host and pid namespace, short: which pids a temporary file's name can be checked
    against (a container sharing the directory has its own pids)."""
    import hashlib
    import socket

    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return hashlib.sha256(f"{socket.gethostname()}\0{namespace}".encode()).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another write in this process: never ours to remove
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid we can ask about: keep it
    return True


def _remove_stale_temps(target: Path, tag: str) -> None:
    """Remove the temporary files earlier writers of ``target`` left (killed mid-write).

    Ours are named ``.NAME.PID.TAG.RANDOM.tmp``: one whose TAG is this host's and
    whose PID is not running is removed; one of another host, or of a version
    before this naming (``.NAME.RANDOM.tmp``), once it is older than
    :data:`STALE_TEMP_AGE_S`. Nothing else in the directory is looked at.
    """
    import re
    import time

    ours = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.([0-9a-f]{{8}})\.[a-z0-9_]{{8}}\.tmp")
    older = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")
    prefix = f".{target.name}."
    try:
        names = [
            n for n in os.listdir(target.parent) if n.startswith(prefix) and n.endswith(".tmp")
        ]
    except OSError:
        return
    now = time.time()
    for name in names:
        m = ours.fullmatch(name)
        if m is None and older.fullmatch(name) is None:
            continue
        path = target.parent / name
        if m is not None and m.group(2) == tag:
            stale = not _pid_alive(int(m.group(1)))
        else:
            try:
                stale = now - path.lstat().st_mtime > STALE_TEMP_AGE_S
            except OSError:
                continue
        if stale:
            with contextlib.suppress(OSError):
                path.unlink()


@contextlib.contextmanager
def _unlink_on_sigterm(tmp: list[str]) -> Iterator[None]:
    """While a file is written, SIGTERM (``timeout``, a cancelled CI job) first removes
    the temporary file ``tmp[0]``, then ends the process as it would have.

    Only in the main thread and only where SIGTERM has its default action (a handler
    of the program's own runs as before; one that raises lets the ``except`` of
    :func:`write_atomic` clean up). The previous handler is restored afterwards.
    """
    import signal
    import threading

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp[0])
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def write_atomic(
    path: str | os.PathLike[str], data: str | bytes | Iterable[bytes | memoryview]
) -> None:
    """Write ``data`` (text, bytes, or chunks of bytes written in turn) to ``path`` so
    that readers see the old file or the new one, never half.

    The file gets the permissions the umask gives a new file (as ``open()`` would).
    The temporary file beside it is named ``.NAME.PID.TAG.RANDOM.tmp`` (TAG: this
    host): a write removes those of earlier writers that were killed mid-write
    (:func:`_remove_stale_temps`), and SIGTERM during the write removes its own.
    """
    chunks = (
        [data.encode("utf-8")]
        if isinstance(data, str)
        else [data]
        if isinstance(data, bytes)
        else data
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = _writer_tag()
    _remove_stale_temps(target, tag)
    tmp: list[str] = []
    with _unlink_on_sigterm(tmp):
        fd, name = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}.{tag}.", suffix=".tmp", dir=target.parent
        )
        tmp.append(name)
        try:
            # mkstemp makes the file 0600; a report or lock is as readable as any file
            # the user creates (0666 less the umask).
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(name, target)
            tmp.clear()
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise
