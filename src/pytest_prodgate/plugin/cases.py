"""``load_cases``: a dataset as parametrize-ready ``pytest.param`` s (SPEC §5)."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from pytest_prodgate.data.dataset import read_cases
from pytest_prodgate.errors import DatasetError

__all__ = ["load_cases"]


def load_cases(
    path: str | os.PathLike[str],
    *,
    id_field: str = "id",
    input_field: str = "input",
    expected_field: str | None = "expected",
    tags_field: str | None = "tags",
    base_dir: str | os.PathLike[str] | None = None,
) -> list[Any]:
    """Read a dataset as parametrize-ready params: ``pytest.param(case, id=case.id)``.

    A relative ``path`` resolves against the directory of the module that
    calls ``load_cases`` (or against ``base_dir`` when given; against the
    current directory when the caller has no ``__file__``), so a suite runs
    the same from any working directory. ``expected_field=None`` means the
    dataset has no expected values; ``tags_field=None`` means it has no tags.
    Raises :class:`~pytest_prodgate.errors.DatasetError` naming the file and line of any problem.
    """
    __tracebackhide__ = True
    if base_dir is None:
        caller_file = sys._getframe(1).f_globals.get("__file__")
        if isinstance(caller_file, str) and caller_file:
            base_dir = os.path.dirname(os.path.abspath(caller_file))
    try:
        cases = read_cases(
            path,
            id_field=id_field,
            input_field=input_field,
            expected_field=expected_field,
            tags_field=tags_field,
            base_dir=base_dir,
        )
    except DatasetError as exc:
        # Keep a collection error short: the caller's line and the message.
        raise exc.with_traceback(None) from None
    return [pytest.param(case, id=case.id) for case in cases]
