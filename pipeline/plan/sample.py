"""A table's size from a short sample scan, for ``plan --sample-segments N``.

``DescribeTable`` refreshes ``ItemCount`` and ``TableSizeBytes`` about every
six hours, so a young table (and every table on a local server) reports 0
bytes. The sample scans ``N`` segments of a parallel scan of ``T`` segments,
each to its end, and scales what it read by ``T / N``. It starts with
``T = N`` (a small table is then read whole, and counted exactly) and, when a
sampled segment holds more than ``pages_per_segment`` pages, starts again
with 16 times as many segments, so that each read stays short; the reads of
every attempt are counted in the cost. Reads are eventually consistent.
"""

from __future__ import annotations

import dataclasses
import math

from pipeline.local.sample_data import item_size
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.scan.errors import explain
from transforms.dynamodb.scan.restriction import MAX_TOTAL_SEGMENTS

__all__ = ["MAX_SAMPLE_SEGMENTS", "SampleEstimate", "sample_table"]

GROWTH = 16
DEFAULT_PAGES_PER_SEGMENT = 4
MAX_SAMPLE_SEGMENTS = 1_000
"""The most segments a sample reads: one after the other, so that it stays short."""
UNIT_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class SampleEstimate:
    """What a sample scan read, and the table's size scaled from it.

    ``items`` and ``bytes`` (DynamoDB's item sizes) are of the last attempt's
    ``segments`` of ``total_segments``; ``read_units`` and ``pages`` count
    every page of every attempt (``read_units`` as DynamoDB
    reported them in ``ConsumedCapacity``, else from the bytes read).
    ``complete``: every sampled segment was read to its end; otherwise the
    estimate is a lower bound.
    """

    segments: int
    total_segments: int
    items: int
    bytes: int
    pages: int
    read_units: float
    complete: bool

    @property
    def exact(self) -> bool:
        """The sample read the whole table."""
        return self.complete and self.segments == self.total_segments

    @property
    def item_count(self) -> int:
        return round(self.items * self.total_segments / self.segments)

    @property
    def size_bytes(self) -> int:
        return round(self.bytes * self.total_segments / self.segments)

    def render(self) -> str:
        if self.exact:
            how = f"counted by reading the whole table ({self.segments} segment(s))"
        else:
            how = (
                f"estimated from {self.segments} of {self.total_segments:,} segments, "
                f"{self.items:,} items in {self.bytes:,} bytes, scaled by "
                f"{self.total_segments / self.segments:,.0f}"
            )
            if not self.complete:
                how += (
                    "; a sampled segment was not read to its end, so the table holds at least this"
                )
        return (
            f"  sample scan: {how}; it read {self.pages:,} page(s) and consumed "
            f"{self.read_units:,.1f} read units"
        )


def _read_segment(
    client, table: str, segment: int, total: int, max_pages: int, page_size: int | None
):
    """``(items, bytes, pages, read units, read to its end)`` of one segment."""
    items = size = pages = 0
    units = 0.0
    request = {"TableName": table, "ReturnConsumedCapacity": "TOTAL"}
    if page_size:
        request["Limit"] = page_size
    if total > 1:
        request.update(Segment=segment, TotalSegments=total)
    while pages < max_pages:
        page = client.scan(**request)
        pages += 1
        page_bytes = sum(item_size(item) for item in page.get("Items", ()))
        items += len(page.get("Items", ()))
        size += page_bytes
        consumed = (page.get("ConsumedCapacity") or {}).get("CapacityUnits")
        units += consumed if consumed is not None else math.ceil(page_bytes / UNIT_BYTES) / 2
        if "LastEvaluatedKey" not in page:
            return items, size, pages, units, True
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items, size, pages, units, False


def sample_table(
    client_config: DynamoDBClientConfig,
    table: str,
    segments: int,
    *,
    pages_per_segment: int = DEFAULT_PAGES_PER_SEGMENT,
    page_size: int | None = None,
) -> SampleEstimate:
    """Reads ``segments`` segments of ``table`` and estimates its size (module docstring).

    ``page_size`` is the Scan ``Limit`` (default: DynamoDB's 1 MB pages).

    Raises :class:`~transforms.dynamodb.scan.errors.ScanError` with a one-line message
    when the table cannot be scanned.
    """
    if segments < 1 or segments > MAX_SAMPLE_SEGMENTS:
        raise ValueError(f"segments must be from 1 to {MAX_SAMPLE_SEGMENTS:,}, got {segments}")
    client = client_config.create_client()
    try:
        total, pages, units = segments, 0, 0.0
        while True:
            chosen = [n * total // segments for n in range(segments)]
            reads = [
                _read_segment(client, table, s, total, pages_per_segment, page_size) for s in chosen
            ]
            pages += sum(read[2] for read in reads)
            units += sum(read[3] for read in reads)
            complete = all(read[4] for read in reads)
            if complete or total == MAX_TOTAL_SEGMENTS:
                return SampleEstimate(
                    segments=segments,
                    total_segments=total,
                    items=sum(read[0] for read in reads),
                    bytes=sum(read[1] for read in reads),
                    pages=pages,
                    read_units=units,
                    complete=complete,
                )
            total = min(total * GROWTH, MAX_TOTAL_SEGMENTS)
    except Exception as error:
        raise explain(error, table, client_config.endpoint_url) from error
    finally:
        client.close()
