"""Whether a reindex can catch up with the writes made while it runs.

``reindex --catch-up`` needs an enabled stream on the table (any view type:
``KEYS_ONLY`` is enough, since changed items are re-read) and a scan that
ends within the stream's 24-hour retention, so that the records of its first
minute are still there when it catches up.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from pipeline.plan.scan import duration
from transforms.dynamodb.stream.positions import DEFAULT_SAFETY_MARGIN, RETENTION
from transforms.dynamodb.stream.table_stream import TableStream

__all__ = ["CatchUpPlan"]


@dataclasses.dataclass(frozen=True)
class CatchUpPlan:
    """``stream``: the table's enabled stream, or None; ``scan_seconds``: the
    estimated scan duration, or None when unknown."""

    table: str
    stream: TableStream | None
    scan_seconds: float | None

    @property
    def possible(self) -> bool | None:
        """True, False, or None when the scan's duration is not known."""
        if self.stream is None:
            return False
        if self.scan_seconds is None:
            return None
        return timedelta(seconds=self.scan_seconds) + DEFAULT_SAFETY_MARGIN < RETENTION

    def render(self) -> str:
        if self.stream is None:
            return (
                f"catch-up: not possible: table {self.table!r} has no enabled stream; enable "
                f"one (aws dynamodb update-table --table-name {self.table} --stream-specification "
                "StreamEnabled=true,StreamViewType=KEYS_ONLY) before the reindex starts"
            )
        view = self.stream.view_type or "unknown view type"
        head = f"catch-up: stream on ({view}; any view type will do: changed items are re-read)"
        if self.scan_seconds is None:
            return (
                f"{head}; the scan's duration is unknown (pass --max-read-units-per-second), "
                "so whether it ends within the stream's 24-hour retention cannot be told"
            )
        verdict = (
            "possible"
            if self.possible
            else "not possible: the scan would outlast the stream's 24-hour retention "
            "(raise the read ceiling, or reindex from an export)"
        )
        return f"{head}; the scan takes about {duration(self.scan_seconds)}: {verdict}"
