"""Refuse a command's output file that is one of its inputs (SPEC §14).

``prodgate merge -o`` must not replace a shard or the baseline it reads, ``html -o``
and ``comment -o`` not the report (or baseline) they render: the check is
:func:`pytest_prodgate.schema.outputs.output_clash`, the plugin's too.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["refuse_inputs"]


def refuse_inputs(flag: str, target: Path, inputs: list[tuple[str, str]]) -> None:
    """A usage error (exit 2, one line) when ``target`` is the same file as one of
    ``inputs`` (``(what, path as given)``, resolved as the command resolves paths)."""
    from pytest_prodgate.cli.main import UsageError, _resolve
    from pytest_prodgate.schema.outputs import output_clash

    labelled = [(f"{what} {_resolve(raw)}", _resolve(raw)) for what, raw in inputs]
    problem = output_clash([(f"{flag} {target}", target)], labelled)
    if problem is not None:
        raise UsageError(problem)
