"""The JSON report model and its files, public for tools that read reports (SPEC §10).

An alias of :mod:`pytest_prodgate.schema.report` (the schema) and
:mod:`pytest_prodgate.schema.files` (reading and writing reports).
"""

from pytest_prodgate.schema.files import *  # noqa: F403
from pytest_prodgate.schema.files import __all__ as _files_all
from pytest_prodgate.schema.report import *  # noqa: F403
from pytest_prodgate.schema.report import __all__ as _report_all

__all__ = [*_report_all, *_files_all]
