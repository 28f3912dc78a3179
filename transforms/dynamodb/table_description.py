"""What ``DescribeTable`` says about a table, and the segment count it suggests.

``ItemCount`` and ``TableSizeBytes`` are refreshed by DynamoDB about every six
hours, so they are estimates: good for choosing a segment count and for
progress, never for checking completeness.
"""

from __future__ import annotations

import dataclasses
import math
import time

from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.scan.errors import EndpointUnreachable, explain
from transforms.dynamodb.scan.restriction import MAX_TOTAL_SEGMENTS

__all__ = ["SegmentChoice", "TableDescription", "choose_total_segments", "describe_table"]

PAGE_BYTES = 1 << 20
BYTES_PER_SEGMENT = 2 << 30
SEGMENTS_PER_WORKER = 4
DEFAULT_WORKERS = 4


@dataclasses.dataclass(frozen=True)
class TableDescription:
    """The parts of ``DescribeTable`` a reindex needs."""

    table_name: str
    key_attributes: tuple[str, ...]
    item_count: int
    size_bytes: int
    billing_mode: str = "PROVISIONED"
    read_capacity_units: int | None = None
    index_names: tuple[str, ...] = ()
    table_arn: str | None = None
    key_types: tuple[str, ...] = ()
    """``S``, ``N`` or ``B`` per key attribute, in the order of ``key_attributes``."""

    @classmethod
    def from_response(cls, response: dict) -> TableDescription:
        table = response["Table"]
        key_schema = sorted(table["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
        throughput = table.get("ProvisionedThroughput") or {}
        billing = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        indexes = [
            index["IndexName"]
            for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
            for index in table.get(kind, [])
        ]
        types = {
            a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])
        }
        key_types = tuple(types.get(k["AttributeName"], "") for k in key_schema)
        return cls(
            table_name=table["TableName"],
            key_attributes=tuple(k["AttributeName"] for k in key_schema),
            item_count=int(table.get("ItemCount", 0)),
            size_bytes=int(table.get("TableSizeBytes", 0)),
            billing_mode=billing,
            read_capacity_units=throughput.get("ReadCapacityUnits") or None,
            index_names=tuple(indexes),
            table_arn=table.get("TableArn") or None,
            key_types=key_types if all(key_types) else (),
        )

    @property
    def average_item_bytes(self) -> float:
        return self.size_bytes / self.item_count if self.item_count else 0.0


@dataclasses.dataclass(frozen=True)
class SegmentChoice:
    total_segments: int
    reason: str


def choose_total_segments(
    size_bytes: int, item_count: int, workers: int | None = None
) -> SegmentChoice:
    """A segment count for a table of this size, with the reason.

    About one segment per 2 GB (AWS's guidance), but at least
    ``4 × workers`` so that slow segments do not hold the job; never more
    segments than 1 MB pages or items, so a tiny table is not cut into empty
    segments.
    """
    assumed = f"{DEFAULT_WORKERS} workers (assumed: --workers N to say)"
    counted = f"{workers} worker(s)" if workers else assumed
    workers = workers or DEFAULT_WORKERS
    by_size = math.ceil(size_bytes / BYTES_PER_SEGMENT)
    by_workers = SEGMENTS_PER_WORKER * workers
    if size_bytes <= 0 and 0 < item_count < by_workers:
        return SegmentChoice(
            item_count,
            f"{item_count} segment(s): DescribeTable reports no size yet, and {item_count} "
            "item(s); more segments would be empty",
        )
    if size_bytes <= 0:
        return SegmentChoice(
            by_workers,
            f"{by_workers} segments: DescribeTable reports no size yet (it refreshes about "
            f"every 6 hours), so {SEGMENTS_PER_WORKER} per worker for {counted}",
        )
    wanted = max(by_size, by_workers, 1)
    pages = max(1, math.ceil(size_bytes / PAGE_BYTES))
    cap = min(pages, max(item_count, 1), MAX_TOTAL_SEGMENTS)
    total = max(1, min(wanted, cap))
    if total < wanted:
        reason = (
            f"{total} segment(s): the table holds about {item_count:,} items in "
            f"{size_bytes:,} bytes ({pages:,} page(s) of 1 MB); more segments would be empty"
        )
    elif by_size >= by_workers:
        reason = f"{total} segments: one per 2 GB of the table's {size_bytes:,} bytes"
    else:
        reason = (
            f"{total} segments: {SEGMENTS_PER_WORKER} per worker for {counted}, "
            "so that slow segments do not hold the job"
        )
    return SegmentChoice(total, reason)


QUICK_READ_TIMEOUT = 10.0
"""Seconds ``describe_table`` waits for an answer, each of its 3 attempts."""


_UNREACHABLE: dict[tuple, tuple[float, Exception]] = {}
"""Endpoints this process could not reach, by (endpoint, region, table): when, and the error."""
UNREACHABLE_FOR = 120.0
"""Seconds an endpoint that did not answer is taken as still not answering,
so that the checks before a run and the run do not each wait for it."""


def describe_table(client_config: DynamoDBClientConfig, table_name: str) -> TableDescription:
    """``DescribeTable`` with errors turned into one-line :class:`ScanError`s.

    Made before the pipeline starts, with few retries and short timeouts
    (DynamoDB answers it in milliseconds), so that a wrong endpoint or
    region, or one that accepts connections and never answers, is reported
    in seconds, not after the scan's own patience (minutes).
    """
    quick = dataclasses.replace(
        client_config,
        max_attempts=min(client_config.max_attempts, 3),
        connect_timeout=min(client_config.connect_timeout, 5.0),
        read_timeout=min(client_config.read_timeout, QUICK_READ_TIMEOUT),
    )
    place = (client_config.endpoint_url, client_config.region_name, table_name)
    failed = _UNREACHABLE.get(place)
    if failed is not None and time.monotonic() - failed[0] < UNREACHABLE_FOR:
        raise failed[1]  # not waited for twice in one command
    client = quick.create_client()
    try:
        return TableDescription.from_response(client.describe_table(TableName=table_name))
    except Exception as error:
        explained = explain(error, table_name, client_config.endpoint_url)
        if isinstance(explained, EndpointUnreachable):
            _UNREACHABLE[place] = (time.monotonic(), explained)
        raise explained from error
    finally:
        client.close()
