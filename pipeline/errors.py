"""The error every command of the application raises for what it cannot do."""

__all__ = ["ReindexError"]


class ReindexError(RuntimeError):
    """The job cannot start or did not finish; the message says why and what to fix."""
