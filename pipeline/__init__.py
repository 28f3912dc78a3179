"""The application: ``python -m pipeline``, the one reindex spine, its commands."""

import os
import sys

CONSOLE_SCRIPT = "dynamodb-reindex"
"""The command ``pip install`` puts on the PATH; it behaves as ``python -m pipeline``."""


def ran_as_console_script() -> bool:
    """Whether this process was started as :data:`CONSOLE_SCRIPT`."""
    return bool(sys.argv) and os.path.basename(sys.argv[0] or "") == CONSOLE_SCRIPT
