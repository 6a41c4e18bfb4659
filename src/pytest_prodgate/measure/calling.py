"""Calling a sync or async callable: how to tell which, deadlines, worker threads.

Pure Python, no pytest, numpy or scipy. Shared by :class:`~pytest_prodgate.Model`
and the load runner.

Deadlines. A sync callable cannot be interrupted: with a deadline it runs in a
fresh *daemon* thread that is abandoned when the deadline passes (its eventual
result is discarded; being a daemon it never keeps the interpreter from
exiting). An awaitable is run as a task that is cancelled and abandoned at the
deadline. A coroutine that *blocks* its event loop (``time.sleep`` in an
``async def``) cannot be cancelled while it blocks; when it finally returns
after its deadline the result is discarded all the same (:func:`await_limited`
raises :class:`Expired`), so such a call is a timeout, never a success.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from pytest_prodgate.schema.redact import safe_repr  # re-exported: measure's messages use it

__all__ = [
    "MAX_ERROR_MESSAGE",
    "Expired",
    "await_limited",
    "close_awaitable",
    "default_name",
    "describe",
    "is_async_callable",
    "loop_running",
    "retrieve",
    "run_coroutine",
    "run_in_daemon_thread",
    "safe_repr",
    "short",
    "start_in_daemon_thread",
]

#: Longest error message kept on a call record.
MAX_ERROR_MESSAGE = 500

T = TypeVar("T")


class Expired(Exception):
    """An attempt hit its deadline (the caller turns it into its own timeout error)."""


def short(text: str, limit: int = MAX_ERROR_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters (the last one an ellipsis)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(exc: BaseException) -> str:
    """``str(exc)``, secrets redacted, shortened; a placeholder when it cannot be printed."""
    from pytest_prodgate.schema.redact import redact

    try:
        return short(redact(str(exc)))
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


def is_async_callable(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` returns a coroutine, as far as can be told without calling it."""
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.iscoroutinefunction(target):
        return True
    try:
        if inspect.iscoroutinefunction(inspect.unwrap(target)):
            return True
    except ValueError:  # a __wrapped__ cycle
        pass
    if not inspect.isfunction(target) and not inspect.ismethod(target):
        dunder_call = inspect.getattr_static(type(target), "__call__", None)
        if dunder_call is not None and inspect.iscoroutinefunction(dunder_call):
            return True
    return False


def default_name(fn: Callable[..., Any]) -> str:
    """``fn``'s qualified name (through partials), else its type's, else its repr."""
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    qualname = getattr(target, "__qualname__", None)
    if (
        isinstance(qualname, str)
        and qualname
        and (inspect.isroutine(target) or inspect.isclass(target))
    ):
        return qualname
    type_name = getattr(type(target), "__qualname__", None)
    if isinstance(type_name, str) and type_name:
        return type_name
    return repr(target)


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop, as ``asyncio.run`` does.

    On Python 3.11+ the calling thread's current event loop is left alone (``asyncio.run``
    would reset it to ``None``, which upsets e.g. pytest-asyncio's loop).
    """
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)  # pragma: no cover - Python 3.10


def loop_running() -> bool:
    """Whether an event loop is running in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def close_awaitable(awaitable: Any) -> None:
    """Close an awaitable that will never be awaited, so Python does not warn about it."""
    close = getattr(awaitable, "close", None) if inspect.iscoroutine(awaitable) else None
    if close is not None:
        close()
    elif isinstance(awaitable, asyncio.Future):
        awaitable.cancel()


def retrieve(task: asyncio.Future[Any]) -> None:
    """Done-callback of an abandoned task: fetch its exception so asyncio does not log it."""
    if not task.cancelled():
        task.exception()


async def await_limited(awaitable: Awaitable[Any], timeout: float | None) -> Any:
    """Await ``awaitable``; past ``timeout`` seconds cancel and abandon it, raise :class:`Expired`.

    A result (or exception) that only arrives after the deadline, because the
    awaitable blocked the loop, is discarded and :class:`Expired` raised too.
    """
    if timeout is None:
        return await awaitable
    if timeout <= 0:
        close_awaitable(awaitable)
        raise Expired
    start = time.perf_counter()
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except BaseException:  # the caller was cancelled: take the model call down with it
        task.cancel()
        task.add_done_callback(retrieve)
        raise
    if not done:
        task.cancel()
        task.add_done_callback(retrieve)
        raise Expired
    if time.perf_counter() - start > timeout:  # it blocked the loop past its deadline
        retrieve(task)
        raise Expired
    return task.result()


def _spawn(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str,
    deliver: Callable[[bool, Any], None],
) -> None:
    """Call ``fn`` in a fresh daemon thread (in a copy of this context); ``deliver(ok, value)``."""
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome: tuple[bool, Any] = (True, context.run(fn, *args, **kwargs))
        except BaseException as exc:
            outcome = (False, exc)
        deliver(*outcome)

    threading.Thread(target=target, name=name, daemon=True).start()


def run_in_daemon_thread(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float,
    name: str,
    grace: Callable[[], float] | None = None,
) -> Any:
    """Call ``fn`` in a fresh daemon thread; abandon it past ``timeout`` s (:class:`Expired`).

    ``grace()``, asked at the deadline, gives how much longer to wait for the
    thread to finish on its own (e.g. while its private loop cancels a coroutine).
    """
    done = threading.Event()
    box: list[tuple[bool, Any]] = []

    def deliver(ok: bool, value: Any) -> None:
        box.append((ok, value))
        done.set()

    _spawn(fn, args, kwargs, name, deliver)
    if not done.wait(timeout) and (grace is None or not done.wait(grace())):
        raise Expired
    ok, value = box[0]
    if ok:
        return value
    raise value


def start_in_daemon_thread(
    loop: asyncio.AbstractEventLoop,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str,
) -> asyncio.Future[Any]:
    """Call ``fn`` in a fresh daemon thread; a future on ``loop`` gets its result."""
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():  # abandoned after a timeout, or cancelled
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def deliver(ok: bool, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(settle, ok, value)

    _spawn(fn, args, kwargs, name, deliver)
    return future
