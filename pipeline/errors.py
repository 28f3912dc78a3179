"""The errors every command of the application raises for what it cannot do."""

__all__ = ["ReindexError", "UsageError"]


class ReindexError(RuntimeError):
    """The job cannot start or did not finish; the message says why and what to fix."""


class UsageError(ReindexError):
    """The options cannot be used as given: a combination that cannot go together,
    a value the index or runner refuses, a model that cannot serve. The command
    line exits 2 for it, as for any other usage error."""
