"""The JSON report model, public for tools that read reports (SPEC §10).

An alias of :mod:`pytest_prodgate.schema.report`, where the schema lives.
"""

from pytest_prodgate.schema.report import *  # noqa: F403
from pytest_prodgate.schema.report import __all__ as __all__
