"""The parallel scan as a source of the reindex spine.

Every item scanned is an upsert; a scan never removes. A segment the scan
could not read to its end becomes a dead letter of stage ``scan`` whose
``key`` is the ``ExclusiveStartKey`` to resume it from.
"""

from __future__ import annotations

from collections.abc import Callable

import apache_beam as beam

from transforms.dead_letters import dead_letter
from transforms.dynamodb.scan.errors import UnreadSegment
from transforms.dynamodb.scan.fn import METRICS_NAMESPACE
from transforms.dynamodb.scan.segment_figures import SegmentSummary, segment_figures
from transforms.dynamodb.scan.source import ReadFromDynamoDB
from transforms.dynamodb.source import (
    Check,
    Counters,
    ReindexSource,
    SourceRead,
    SourceReport,
    SpineCounts,
)
from transforms.dynamodb.table_description import TableDescription
from transforms.dynamodb.wire import dumps_item

__all__ = ["SCAN_STAGE", "ScanSource", "unread_segment_dead_letter"]

SCAN_STAGE = "scan"
"""Dead-letter stage of a segment not read to its end (``key``: where to resume)."""

UNREAD_SHOWN = 8


def unread_segment_dead_letter(unread: UnreadSegment, table: str) -> dict:
    """The dead letter (stage ``scan``) of a segment not read to its end.

    ``key`` is the ``ExclusiveStartKey`` to resume it from (``None``: from its
    start); there is no ``item``.
    """
    return dead_letter(
        SCAN_STAGE,
        error_type="SegmentReadFailed",
        error=unread.error,
        table=table,
        key=unread.resume_key,
        segment=unread.segment,
        total_segments=unread.total_segments,
    )


def _scanned(_) -> list[tuple[str, str]]:
    return [(METRICS_NAMESPACE, "items")]


def _unread(_) -> list[tuple[str, str]]:
    return [(METRICS_NAMESPACE, "unread_segments")]


class ScanSource(ReindexSource):
    """A parallel scan of ``description``'s table through ``make_read()``.

    ``make_read`` builds a :class:`ReadFromDynamoDB` with ``with_segments=True``
    and ``report_unread_segments=True``; it is called once per pipeline, since
    a transform belongs to the one pipeline it was applied to.
    """

    stage = SCAN_STAGE
    tally_counters = {"upserts": _scanned, "dead_letters": _unread}

    def __init__(self, make_read: Callable[[], ReadFromDynamoDB], description: TableDescription):
        self._make_read = make_read
        self.read_transform = make_read()
        self.description = description
        self.table = description.table_name
        self.table_arn = description.table_arn
        self.key_attributes = tuple(description.key_attributes)

    @property
    def scan_request(self):
        return self.read_transform.scan_request

    @property
    def approximate_items(self) -> int | None:
        return self.description.item_count or None

    def read(self, pipeline: beam.Pipeline) -> SourceRead:
        if self.read_transform.unread_segments is not None:  # applied to an earlier pipeline
            self.read_transform = self._make_read()
        items = pipeline | "Read" >> self.read_transform
        unread = self.read_transform.unread_segments | "UnreadSegments" >> beam.Map(
            unread_segment_dead_letter, self.table
        )
        removals = pipeline | "NoRemovals" >> beam.Create([])
        return SourceRead(items, removals, unread)

    def report(
        self, counters: Counters, spine: SpineCounts, dead_letters_path: str, result=None
    ) -> SourceReport:
        def count(name: str) -> int:
            return counters.get((METRICS_NAMESPACE, name), 0)

        request = self.scan_request
        scanned = count("items")
        unread = count("unread_segments")
        counted = result is None or (METRICS_NAMESPACE, "pages") not in counters
        unknown = counted and (scanned or result is not None)  # no metrics, or none to show
        segments = SegmentSummary() if counted else segment_figures(result)
        details = (
            "counted in the pipeline: the runner reports no metrics, so pages, read "
            "units, retries and checkpoints are not known"
            if unknown
            else f"{count('pages'):,} pages, {count('response_bytes') / 1e6:,.1f} MB, "
            f"{count('consumed_read_units_milli') / 1000:,.1f} read units, "
            f"{count('retries'):,} retries, {count('throttles'):,} throttled, "
            f"{count('checkpoints'):,} checkpoints"
        )
        head = [f"  scanned        {scanned:>10,}  ({details})"]
        item_count = self.description.item_count
        tail = [
            f"  table ItemCount {item_count:>9,}  (DescribeTable; refreshed about "
            "every 6 hours, approximate: "
            f"scanned {scanned - item_count:+,}, not checked)",
            *(
                ["  per segment    not known (the runner reports no metrics)"]
                if unknown
                else _per_segment_lines(segments)
            ),
        ]
        checks = [
            Check(
                f"scanned {scanned:,} == indexed {spine.indexed:,} + "
                f"dead-lettered {spine.dead_lettered:,}",
                scanned == spine.indexed + spine.dead_lettered,
            ),
            Check(
                f"{request.segment_count - unread} of {request.segment_count} "
                "segment(s) read to their end",
                unread == 0,
            ),
        ]
        letters = _unread_letters(dead_letters_path) if unread else []
        for letter in letters:
            tail.append(
                f"  unread segment {letter['segment']} of {letter['total_segments']}: "
                f"resume at {_start(letter)} ({letter['error'].splitlines()[0]})"
            )
        return SourceReport(
            title=(
                f"reindex of table {self.table!r}: {request.segment_count} of "
                f"{request.total_segments} segment(s)"
            ),
            read_label="scanned",
            read=scanned,
            upserts=scanned,
            removals=0,
            head=head,
            tail=tail,
            checks=checks,
            problem=_unread_line(
                self.table, unread, request.segment_count, letters, dead_letters_path
            )
            if unread
            else None,
            figures={
                "scanned": scanned,
                "total_segments": request.total_segments,
                "segments_read": request.segment_count,
                "segments": segments,
                "pages": count("pages"),
                "read_units": count("consumed_read_units_milli") / 1000,
                "retries": count("retries"),
                "throttles": count("throttles"),
                "checkpoints": count("checkpoints"),
                "response_bytes": count("response_bytes"),
                "unread_segment_count": unread,
                "unread": letters,
                "table_item_count": item_count,
            },
        )


def _per_segment_lines(figures: SegmentSummary) -> list[str]:
    """The per-segment figures: ranges and means, then the largest and slowest segments."""
    if not figures.segments:
        return ["  per segment    no items"]
    mean_items = figures.items_sum / figures.segments
    mean_seconds = figures.read_ms_sum / figures.segments / 1000
    lines = [
        f"  per segment    {figures.segments:,} segments: {figures.items_min:,}-"
        f"{figures.items_max:,} items (mean {mean_items:,.0f}), read in "
        f"{figures.read_ms_min / 1000:,.1f}-{figures.read_ms_max / 1000:,.1f} s "
        f"(mean {mean_seconds:,.1f} s)"
    ]
    if figures.largest:
        largest = "  ".join(f"{s}:{items:,}" for s, items in figures.largest)
        lines.append(f"  largest        {largest}")
    if figures.slowest:
        slowest = "  ".join(f"{s}:{ms / 1000:,.1f} s" for s, ms in figures.slowest)
        lines.append(f"  slowest        {slowest}")
    return lines


def _unread_letters(path: str) -> list[dict]:
    from transforms.dead_letters import read_dead_letters

    letters = (letter for letter in read_dead_letters(path) if letter["stage"] == SCAN_STAGE)
    return sorted(letters, key=lambda letter: letter["segment"])


def _start(letter: dict) -> str:
    return f"ExclusiveStartKey {dumps_item(letter['key'])}" if letter["key"] else "its start"


def _unread_line(
    table: str, unread: int, segments_read: int, letters: list[dict], dead_letters_path: str
) -> str:
    shown = [
        f"segment {letter['segment']} from {_start(letter)}" for letter in letters[:UNREAD_SHOWN]
    ]
    if len(letters) > UNREAD_SHOWN:
        shown.append(f"and {len(letters) - UNREAD_SHOWN} more")
    segments = ",".join(str(letter["segment"]) for letter in letters)
    reason = letters[0]["error"].splitlines()[0] if letters else "see the log"
    return (
        f"{unread} of {segments_read} segment(s) of table {table!r} were not read to their "
        f"end: {', '.join(shown) or 'see the log'} (first error: {reason}); everything read "
        "was indexed or dead-lettered: run the same command with --resume to read the rest "
        "(where the runner keeps no journal: run it again whole, or read only those into the "
        f"live index with --upsert and --resume-from {dead_letters_path} with another "
        f"--dead-letters folder, or --upsert --segments {segments})"
    )
