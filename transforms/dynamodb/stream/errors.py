"""Why the index cannot be caught up from the table's stream, each saying what to do.

Both errors mean the same to a user: the stream cannot bring the index up
to date, so the table must be read whole again (a reindex).
"""

from __future__ import annotations

__all__ = ["NoStream", "StreamCatchUpError", "StreamGap", "enable_stream_command"]


def enable_stream_command(table: str) -> str:
    """The AWS CLI command that enables a KEYS_ONLY stream on ``table``."""
    return (
        f"aws dynamodb update-table --table-name {table} "
        "--stream-specification StreamEnabled=true,StreamViewType=KEYS_ONLY"
    )


class StreamCatchUpError(RuntimeError):
    """The stream cannot bring the index up to date; the message says why."""


class NoStream(StreamCatchUpError):
    """The table has no stream, or its stream is disabled."""

    def __init__(self, table: str, *, disabled: bool = False):
        self.table = table
        self.disabled = disabled
        state = "its stream is disabled" if disabled else "it has no stream"
        super().__init__(
            f"cannot catch up table {table!r} from its stream: {state}; enable one with "
            f"`{enable_stream_command(table)}` (any view type will do), then reindex: "
            "writes made while no stream was on are in no stream"
        )


class StreamGap(StreamCatchUpError):
    """Records the catch-up needs are not in the stream (trimmed, or another stream).

    ``gap`` names what is missing, e.g. ``shard shardId-... was trimmed``.
    """

    def __init__(self, table: str, gap: str):
        self.table = table
        self.gap = gap
        super().__init__(
            f"cannot catch up table {table!r} from its stream: {gap}; the changes in "
            "between are lost to the stream, so reindex the table to bring the index up "
            "to date"
        )
