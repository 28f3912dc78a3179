"""The end-of-run report of a reindex, built from the pipeline's metrics.

The job is accounted for when every scanned item was either indexed or
dead-lettered: ``scanned == indexed + dead_lettered``, stage by stage
(``scanned == decoded + decode dead letters``, ``decoded == indexed + index
dead letters``), when the index holds at least the documents written, and
when every segment was read to its end. The table's ``ItemCount`` is shown
beside it, but DynamoDB refreshes it only about every six hours, so it is
informational. The counters come from the runner's metrics, or from a tally
made in the pipeline where the runner reports none (``counted``; see
:mod:`pipeline.run_counts`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

from transforms.scan_request import ScanRequest
from transforms.table_description import TableDescription
from transforms.wire import dumps_item

__all__ = ["SCAN_STAGE", "ReindexSummary", "counter_totals", "summarize"]

SCAN_STAGE = "scan"
"""Dead-letter stage of a segment not read to its end (``key``: where to resume)."""
UNREAD_SHOWN = 8

_SEGMENT_COUNTER = re.compile(r"items_segment_(\d+)$")
PER_SEGMENT_SHOWN = 32


def counter_totals(result) -> dict[tuple[str, str], int]:
    """``{(namespace, name): value}`` over all steps; committed where known."""
    totals: dict[tuple[str, str], int] = {}
    for counter in result.metrics().query(MetricsFilter())["counters"]:
        name = (counter.key.metric.namespace, counter.key.metric.name)
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[name] = totals.get(name, 0) + (value or 0)
    return totals


@dataclasses.dataclass
class ReindexSummary:
    """Counts of one reindex run; ``render()`` gives the printed report."""

    table: str
    index: str
    dead_letters_path: str
    total_segments: int
    segments_read: int
    scanned: int
    decoded: int
    dead_lettered: int
    dead_lettered_by_stage: dict[str, int]
    indexed: int
    index_count: int
    table_item_count: int
    elapsed_seconds: float
    per_segment: dict[int, int]
    pages: int = 0
    read_units: float = 0.0
    retries: int = 0
    throttles: int = 0
    checkpoints: int = 0
    response_bytes: int = 0
    unread_segment_count: int = 0
    unread: list[dict] = dataclasses.field(default_factory=list)
    alias_swap: Any = None  # transforms.index.alias.SwapResult with --swap-alias
    counted: bool = False

    def checks(self) -> list[tuple[str, bool]]:
        """``(what is checked, holds)`` for every reconciliation of the run."""
        decode_letters = self.dead_lettered_by_stage.get("decode", 0)
        index_letters = self.dead_lettered_by_stage.get("index", 0)
        return [
            (
                f"scanned {self.scanned:,} == indexed {self.indexed:,} + "
                f"dead-lettered {self.dead_lettered:,}",
                self.scanned == self.indexed + self.dead_lettered,
            ),
            (
                f"scanned {self.scanned:,} == decoded {self.decoded:,} + "
                f"decode dead letters {decode_letters:,}",
                self.scanned == self.decoded + decode_letters,
            ),
            (
                f"decoded {self.decoded:,} == indexed {self.indexed:,} + "
                f"index dead letters {index_letters:,}",
                self.decoded == self.indexed + index_letters,
            ),
            (
                f"index holds {self.index_count:,} documents >= indexed {self.indexed:,}",
                self.index_count >= self.indexed,
            ),
            (
                f"{self.segments_read - self.unread_segment_count} of {self.segments_read} "
                "segment(s) read to their end",
                self.unread_segment_count == 0,
            ),
        ]

    @property
    def accounted_for(self) -> bool:
        """Every scanned item was indexed or dead-lettered, and nothing was left unread."""
        return all(holds for _, holds in self.checks())

    def problem(self) -> str | None:
        """One line saying what does not add up, or None."""
        if self.unread_segment_count:
            return self._unread_line()
        failed = [what for what, holds in self.checks() if not holds]
        if not failed:
            return None
        return "the counts do not add up: " + "; ".join(failed)

    def _unread_line(self) -> str:
        shown = [
            f"segment {letter['segment']} from "
            + (f"ExclusiveStartKey {dumps_item(letter['key'])}" if letter["key"] else "its start")
            for letter in self.unread[:UNREAD_SHOWN]
        ]
        if len(self.unread) > UNREAD_SHOWN:
            shown.append(f"and {len(self.unread) - UNREAD_SHOWN} more")
        segments = ",".join(str(letter["segment"]) for letter in self.unread)
        reason = self.unread[0]["error"].splitlines()[0] if self.unread else "see the log"
        return (
            f"{self.unread_segment_count} of {self.segments_read} segment(s) of table "
            f"{self.table!r} were not read to their end: {', '.join(shown) or 'see the log'} "
            f"(first error: {reason}); everything read was indexed or dead-lettered: "
            f"re-run with --resume-from {self.dead_letters_path} and another --dead-letters "
            f"folder to read the rest (or --segments {segments} to read them again whole)"
        )

    @property
    def items_per_second(self) -> float:
        return self.scanned / self.elapsed_seconds if self.elapsed_seconds else 0.0

    def render(self) -> str:
        by_stage = ", ".join(f"{k} {v:,}" for k, v in sorted(self.dead_lettered_by_stage.items()))
        lines = [
            f"reindex of table {self.table!r}: {self.segments_read} of "
            f"{self.total_segments} segment(s) in {self.elapsed_seconds:.1f} s "
            f"({self.items_per_second:,.0f} items/s)",
            f"  scanned        {self.scanned:>10,}  ({self._scan_details()})",
            f"  decoded        {self.decoded:>10,}",
            f"  dead-lettered  {self.dead_lettered:>10,}  ({by_stage or 'none'}) "
            f"-> {self.dead_letters_path}",
            f"  indexed        {self.indexed:>10,}  -> {self.index} "
            f"(now holds {self.index_count:,} documents)",
            f"  table ItemCount {self.table_item_count:>9,}  (DescribeTable; refreshed about "
            "every 6 hours, approximate: "
            f"scanned {self.scanned - self.table_item_count:+,}, not checked)",
            "  per segment    " + self._per_segment_text(),
        ]
        for letter in self.unread:
            start = (
                f"ExclusiveStartKey {dumps_item(letter['key'])}" if letter["key"] else "its start"
            )
            lines.append(
                f"  unread segment {letter['segment']} of {letter['total_segments']}: "
                f"resume at {start} ({letter['error'].splitlines()[0]})"
            )
        for what, holds in self.checks():
            verdict = "OK" if holds else "MISMATCH"
            lines.append(f"  check: {what}: {verdict}")
        if self.alias_swap is not None:
            lines.append(self.alias_swap.render())
        return "\n".join(lines)

    def _scan_details(self) -> str:
        if self.counted:
            return (
                "counted in the pipeline: the runner reports no metrics, so pages, "
                "read units, retries and checkpoints are not known"
            )
        return (
            f"{self.pages:,} pages, {self.response_bytes / 1e6:,.1f} MB, "
            f"{self.read_units:,.1f} read units, {self.retries:,} retries, "
            f"{self.throttles:,} throttled, {self.checkpoints:,} checkpoints"
        )

    def _per_segment_text(self) -> str:
        counts = [self.per_segment.get(s, 0) for s in sorted(self.per_segment)]
        if not counts:
            return "no items"
        if len(counts) <= PER_SEGMENT_SHOWN:
            return "  ".join(f"{s}:{self.per_segment[s]:,}" for s in sorted(self.per_segment))
        ordered = sorted(counts)
        return (
            f"{len(counts):,} segments with items: min {ordered[0]:,}, "
            f"median {ordered[len(ordered) // 2]:,}, max {ordered[-1]:,}"
        )


def _per_segment(totals: dict[tuple[str, str], int]) -> dict[int, int]:
    counts = {}
    for (namespace, name), value in totals.items():
        match = _SEGMENT_COUNTER.match(name)
        if namespace == "dynamodb" and match:
            counts[int(match.group(1))] = value
    return counts


def _by_stage(totals: dict[tuple[str, str], int], stages: Iterable[str]) -> dict[str, int]:
    return {
        stage: totals[("reindex", f"dead_letters_{stage}")]
        for stage in stages
        if totals.get(("reindex", f"dead_letters_{stage}"))
    }


def summarize(
    totals: dict[tuple[str, str], int],
    request: ScanRequest,
    config,
    description: TableDescription,
    elapsed_seconds: float,
    index_count: int,
    *,
    counted: bool = False,
) -> ReindexSummary:
    """The summary of a run whose counters are ``totals`` (see :func:`counter_totals`)."""
    return ReindexSummary(
        table=config.table,
        index=config.index,
        dead_letters_path=config.dead_letters,
        total_segments=request.total_segments,
        segments_read=request.segment_count,
        scanned=totals.get(("dynamodb", "items"), 0),
        decoded=totals.get(("reindex", "decoded"), 0),
        dead_lettered=totals.get(("reindex", "dead_letters"), 0)
        - totals.get(("reindex", f"dead_letters_{SCAN_STAGE}"), 0),
        dead_lettered_by_stage=_by_stage(totals, ("decode", "index")),
        indexed=totals.get(("reindex", "indexed"), 0),
        index_count=index_count,
        table_item_count=description.item_count,
        elapsed_seconds=elapsed_seconds,
        per_segment=_per_segment(totals),
        pages=totals.get(("dynamodb", "pages"), 0),
        read_units=totals.get(("dynamodb", "consumed_read_units_milli"), 0) / 1000,
        retries=totals.get(("dynamodb", "retries"), 0),
        throttles=totals.get(("dynamodb", "throttles"), 0),
        checkpoints=totals.get(("dynamodb", "checkpoints"), 0),
        response_bytes=totals.get(("dynamodb", "response_bytes"), 0),
        unread_segment_count=totals.get(("dynamodb", "unread_segments"), 0),
        counted=counted,
    )
