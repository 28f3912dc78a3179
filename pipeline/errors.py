"""The errors every command of the application raises for what it cannot do."""

__all__ = ["CommandInterrupted", "ReindexError", "UsageError"]


class ReindexError(RuntimeError):
    """The job cannot start or did not finish; the message says why and what to fix."""


class UsageError(ReindexError):
    """The options cannot be used as given: a combination that cannot go together,
    a value the index or runner refuses, a model that cannot serve. The command
    line exits 2 for it, as for any other usage error."""


class CommandInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived where the command has no handler of its own
    (while it starts, checks or reads): raised as Python raises
    ``KeyboardInterrupt`` for SIGINT, for SIGTERM too, so that either ends the
    command with one line and exit code 128 + ``signum``."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
