"""``python -m pytest_prodgate.cli``: the ``prodgate`` command."""

import sys

from pytest_prodgate.cli.main import main

sys.exit(main())
