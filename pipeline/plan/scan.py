"""``python -m pipeline plan``: what a reindex would do, before scanning.

A Scan is charged by the data it reads, rounded up to 4 KB per page: half a
read unit per 4 KB with eventually consistent reads, one with strongly
consistent reads. The figures below come from ``DescribeTable``, which
DynamoDB refreshes about every six hours, so they are estimates. A table that
reports 0 bytes (younger than that, or empty) has an unknown size: the plan
says so instead of printing figures of nothing, and ``--sample-segments N``
estimates the size from a short sample scan (``pipeline.plan.sample``).
"""

from __future__ import annotations

import dataclasses
import math

from pipeline.plan.sample import SampleEstimate
from transforms.dynamodb.table_description import (
    PAGE_BYTES,
    TableDescription,
    choose_total_segments,
)

__all__ = ["ReindexPlan", "plan_reindex"]

UNIT_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class ReindexPlan:
    description: TableDescription
    total_segments: int
    segment_reason: str
    eventual_read_units: float | None
    """``None`` when the size is unknown (``size_known``)."""
    strong_read_units: float | None
    max_read_units_per_second: float | None
    workers: int | None
    sample: SampleEstimate | None = None

    @property
    def size_known(self) -> bool:
        """DescribeTable (or a sample scan) gave a size; 0 bytes means not known yet."""
        return self.description.size_bytes > 0 or self.sample is not None

    @property
    def eventual_seconds(self) -> float | None:
        if not self.max_read_units_per_second or self.eventual_read_units is None:
            return None
        return self.eventual_read_units / self.max_read_units_per_second

    def render(self) -> str:
        d = self.description
        capacity = (
            f"provisioned, {d.read_capacity_units:,} read units/s"
            if d.read_capacity_units
            else "on-demand (no provisioned read capacity)"
        )
        if self.sample is not None:
            size = [f"table {d.table_name!r}: about {d.item_count:,} items, {d.size_bytes:,} bytes"]
            size.append(self.sample.render())
        elif self.size_known:
            size = [
                f"table {d.table_name!r}: about {d.item_count:,} items, {d.size_bytes:,} bytes "
                f"(DescribeTable, refreshed about every 6 hours)"
            ]
        else:
            size = [
                f"table {d.table_name!r}: about {d.item_count:,} items, size unknown: "
                "DescribeTable reports 0 bytes, as for any table younger than its 6-hour "
                "refresh (or empty)",
                "  pass --sample-segments N to estimate the size from a short scan of N "
                "segments (the plan then states the read units the scan consumed)",
            ]
        lines = [
            *size,
            f"  key: {', '.join(d.key_attributes)}; capacity: {capacity}",
            f"  segments: {self.segment_reason}",
        ]
        if self.sample is not None:
            lines.append(
                "  (reindex chooses its segment count from DescribeTable: pass "
                f"--total-segments {self.total_segments} for this one)"
            )
        if not self.size_known:
            if self.max_read_units_per_second:
                lines.append(
                    f"  at {self.max_read_units_per_second:,.0f} read units/s: time and read "
                    "units unknown until the size is known"
                )
            return "\n".join(lines)
        lines.append(
            f"  a full scan reads about {self.eventual_read_units:,.0f} read units "
            f"(eventually consistent; {self.strong_read_units:,.0f} with --consistent-read)"
        )
        if self.max_read_units_per_second:
            rate = self.max_read_units_per_second
            lines.append(
                f"  at {rate:,.0f} read units/s: about {duration(self.eventual_seconds)} "
                f"(strongly consistent: {duration(self.strong_read_units / rate)})"
            )
            if d.read_capacity_units:
                share = rate / d.read_capacity_units
                lines.append(f"  that is {share:.0%} of the table's provisioned read capacity")
        else:
            lines.append(
                "  no ceiling given: the scan reads as fast as the table allows; pass "
                "--max-read-units-per-second to protect production traffic"
            )
        return "\n".join(lines)


def duration(seconds: float) -> str:
    """A short human duration: seconds, minutes or hours."""
    if seconds < 90:
        return f"{seconds:,.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds / 3600:,.1f} h"


def scan_read_units(size_bytes: int, pages: int, consistent: bool) -> float:
    """Read units of a full scan: 4 KB units, rounded up once per page."""
    units = math.ceil(size_bytes / UNIT_BYTES) + max(pages - 1, 0) * 0.5
    return units if consistent else units / 2


def plan_reindex(
    description: TableDescription,
    workers: int | None = None,
    max_read_units_per_second: float | None = None,
    sample: SampleEstimate | None = None,
) -> ReindexPlan:
    """The plan for ``description``; with a ``sample``, for the size it estimated."""
    if sample is not None:
        description = dataclasses.replace(
            description, item_count=sample.item_count, size_bytes=sample.size_bytes
        )
    choice = choose_total_segments(description.size_bytes, description.item_count, workers)
    units: dict[bool, float | None] = {False: None, True: None}
    if description.size_bytes > 0 or sample is not None:
        pages = max(math.ceil(description.size_bytes / PAGE_BYTES), choice.total_segments)
        units = {c: scan_read_units(description.size_bytes, pages, c) for c in units}
    return ReindexPlan(
        description=description,
        total_segments=choice.total_segments,
        segment_reason=choice.reason,
        eventual_read_units=units[False],
        strong_read_units=units[True],
        max_read_units_per_second=max_read_units_per_second,
        workers=workers,
        sample=sample,
    )
