"""The end-of-run report of a reindex, built from the pipeline's metrics.

The job is accounted for when every scanned item was either indexed or
dead-lettered: ``scanned == indexed + dead_lettered``. The table's
``ItemCount`` is shown beside it, but DynamoDB refreshes it only about every
six hours, so it is informational.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from apache_beam.metrics.metric import MetricsFilter

from transforms.scan_request import ScanRequest
from transforms.table_description import TableDescription

__all__ = ["ReindexSummary", "counter_totals", "summarize"]

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

    @property
    def accounted_for(self) -> bool:
        """Every scanned item was indexed or dead-lettered."""
        return self.scanned == self.indexed + self.dead_lettered

    @property
    def items_per_second(self) -> float:
        return self.scanned / self.elapsed_seconds if self.elapsed_seconds else 0.0

    def render(self) -> str:
        by_stage = ", ".join(f"{k} {v:,}" for k, v in sorted(self.dead_lettered_by_stage.items()))
        lines = [
            f"reindex of table {self.table!r}: {self.segments_read} of "
            f"{self.total_segments} segment(s) in {self.elapsed_seconds:.1f} s "
            f"({self.items_per_second:,.0f} items/s)",
            f"  scanned        {self.scanned:>10,}  ({self.pages:,} pages, "
            f"{self.read_units:,.1f} read units, {self.retries:,} retries, "
            f"{self.throttles:,} throttled, {self.checkpoints:,} checkpoints)",
            f"  decoded        {self.decoded:>10,}",
            f"  dead-lettered  {self.dead_lettered:>10,}  ({by_stage or 'none'}) "
            f"-> {self.dead_letters_path}",
            f"  indexed        {self.indexed:>10,}  -> {self.index} "
            f"(now holds {self.index_count:,} documents)",
            f"  table ItemCount {self.table_item_count:>9,}  (DescribeTable; refreshed about "
            "every 6 hours, approximate)",
            "  per segment    " + self._per_segment_text(),
        ]
        verdict = "OK" if self.accounted_for else "MISMATCH: some items are not accounted for"
        lines.append(
            f"  check: scanned {self.scanned:,} == indexed {self.indexed:,} + "
            f"dead-lettered {self.dead_lettered:,}: {verdict}"
        )
        return "\n".join(lines)

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
    result,
    request: ScanRequest,
    config,
    description: TableDescription,
    elapsed_seconds: float,
    index_count: int,
) -> ReindexSummary:
    totals = counter_totals(result)
    return ReindexSummary(
        table=config.table,
        index=config.index,
        dead_letters_path=config.dead_letters,
        total_segments=request.total_segments,
        segments_read=request.segment_count,
        scanned=totals.get(("dynamodb", "items"), 0),
        decoded=totals.get(("reindex", "decoded"), 0),
        dead_lettered=totals.get(("reindex", "dead_letters"), 0),
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
    )
