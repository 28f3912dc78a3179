"""Scan or export? The two ways to read a whole table, compared for ``plan``.

A **scan** reads the live table: it costs read units (half a unit per 4 KB
with eventually consistent reads, rounded up per 1 MB page) and takes as long
as the read rate you can spare from production traffic allows.

An **export** (``export-table-to-point-in-time``, needs point-in-time recovery)
is written to S3 by DynamoDB itself: it consumes no read capacity and cannot
throttle the table; it is billed by the table's size (per GB) and takes its
own time, which AWS does not tie to the table's capacity. The pipeline then
reads the files at its own speed.

:func:`compare_read_paths` puts the figures side by side and recommends one:
the export when a scan at the given rate would run longer than
``max_scan_hours`` (so the table would carry the extra load for long), the scan
otherwise (no bucket, no PITR, no export to wait for). Prices are parameters
(defaults: us-east-1 list prices, on-demand reads and full exports); pass
your region's.
"""

from __future__ import annotations

import dataclasses
import math

from pipeline.plan.scan import duration as _duration
from pipeline.plan.scan import scan_read_units
from transforms.dynamodb.table_description import PAGE_BYTES

__all__ = ["ReadPathComparison", "compare_read_paths"]

GB = 1024**3
DEFAULT_EXPORT_PRICE_PER_GB = 0.10
DEFAULT_READ_PRICE_PER_MILLION = 0.125
DEFAULT_MAX_SCAN_HOURS = 1.0


@dataclasses.dataclass(frozen=True)
class ReadPathComparison:
    """Scan and export figures for one table; ``render()`` prints them."""

    size_bytes: int
    item_count: int
    read_units_per_second: float | None
    consistent_read: bool
    scan_read_units: float
    export_price_per_gb: float
    read_price_per_million: float
    max_scan_hours: float
    pipeline_items_per_second: float | None = None

    @property
    def scan_seconds(self) -> float | None:
        """Time the scan needs at the given read rate (None without a rate)."""
        if not self.read_units_per_second:
            return None
        seconds = self.scan_read_units / self.read_units_per_second
        return max(seconds, self.pipeline_seconds or 0.0)

    @property
    def pipeline_seconds(self) -> float | None:
        """Time the pipeline needs for the items alone, when its speed is known."""
        if not self.pipeline_items_per_second:
            return None
        return self.item_count / self.pipeline_items_per_second

    @property
    def scan_cost_on_demand(self) -> float:
        return self.scan_read_units / 1e6 * self.read_price_per_million

    @property
    def export_cost(self) -> float:
        return self.size_bytes / GB * self.export_price_per_gb

    @property
    def recommendation(self) -> str:
        """``"export"`` or ``"scan"``; ``"either"`` when no read rate is given."""
        seconds = self.scan_seconds
        if seconds is None:
            return "either"
        return "export" if seconds > self.max_scan_hours * 3600 else "scan"

    def reason(self) -> str:
        seconds = self.scan_seconds
        if seconds is None:
            return (
                "give the read rate you can spare (read units/s) to compare times; export "
                f"when a scan at that rate would load the table for more than "
                f"{_duration(self.max_scan_hours * 3600)}"
            )
        if self.recommendation == "export":
            return (
                f"a scan at {self.read_units_per_second:,.0f} read units/s would load the "
                f"table for {_duration(seconds)}, more than {_duration(self.max_scan_hours * 3600)}"
                "; an export consumes no read capacity"
            )
        return (
            f"a scan at {self.read_units_per_second:,.0f} read units/s takes about "
            f"{_duration(seconds)}: no bucket, no point-in-time recovery and no export to wait for"
        )

    def render(self) -> str:
        consistency = "strongly consistent" if self.consistent_read else "eventually consistent"
        scan_time = (
            f"about {_duration(self.scan_seconds)} at {self.read_units_per_second:,.0f} "
            "read units/s"
            if self.scan_seconds is not None
            else "depends on the read rate you can spare"
        )
        export_time = "DynamoDB's export job (minutes to hours, not tied to capacity)"
        if self.pipeline_seconds is not None:
            export_time += f", then about {_duration(self.pipeline_seconds)} to read the files"
        lines = [
            f"scan or export, for {self.item_count:,} items, {self.size_bytes / GB:,.2f} GB:",
            f"  scan    {self.scan_read_units:>14,.0f} read units ({consistency}); "
            f"{scan_time}; on-demand about ${self.scan_cost_on_demand:,.2f}",
            f"  export  {0:>14,} read units; {export_time}; about ${self.export_cost:,.2f} "
            f"(${self.export_price_per_gb:.2f}/GB, size-based); needs point-in-time recovery",
            f"  choose: {self.recommendation} ({self.reason()})",
        ]
        return "\n".join(lines)


def compare_read_paths(
    size_bytes: int,
    item_count: int,
    read_units_per_second: float | None,
    *,
    consistent_read: bool = False,
    pipeline_items_per_second: float | None = None,
    export_price_per_gb: float = DEFAULT_EXPORT_PRICE_PER_GB,
    read_price_per_million: float = DEFAULT_READ_PRICE_PER_MILLION,
    max_scan_hours: float = DEFAULT_MAX_SCAN_HOURS,
) -> ReadPathComparison:
    """Scan and export of a table of ``size_bytes`` and ``item_count``, compared.

    ``read_units_per_second`` is the read rate the scan may use (``None``:
    not known). ``pipeline_items_per_second``, when known (a run's summary
    prints it), adds the pipeline's own time to both paths.
    """
    if size_bytes < 0 or item_count < 0:
        raise ValueError(f"size and item count must be >= 0, got {size_bytes}, {item_count}")
    if read_units_per_second is not None and read_units_per_second <= 0:
        raise ValueError(f"read_units_per_second must be positive, got {read_units_per_second}")
    pages = max(math.ceil(size_bytes / PAGE_BYTES), 1)
    return ReadPathComparison(
        size_bytes=size_bytes,
        item_count=item_count,
        read_units_per_second=read_units_per_second,
        consistent_read=consistent_read,
        scan_read_units=scan_read_units(size_bytes, pages, consistent_read),
        export_price_per_gb=export_price_per_gb,
        read_price_per_million=read_price_per_million,
        max_scan_hours=max_scan_hours,
        pipeline_items_per_second=pipeline_items_per_second,
    )
