"""The application: ``python -m pipeline``, the one reindex spine, its commands."""

CONSOLE_SCRIPT = "dynamodb-reindex"
"""The command ``pip install`` puts on the PATH; it behaves as ``python -m pipeline``."""
