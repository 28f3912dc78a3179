"""A stream's shards from ``DescribeStream``, and their lineage.

A DynamoDB stream is a set of shards. A shard is *open* while it takes new
records and *closed* once ``SequenceNumberRange.EndingSequenceNumber`` is set;
when a shard closes (DynamoDB rolls shards over every few hours, and splits
them as the table grows) its records continue in one or two *children*,
whose ``ParentShardId`` names it. A shard is removed from the stream once
its records are older than the stream's 24-hour retention, so a listed
shard may name a parent that is no longer listed: such a shard is a *root*
of the lineage, like a shard without a parent.

``DescribeStream`` returns at most 100 shards a call; :func:`describe_stream`
follows ``LastEvaluatedShardId`` with ``ExclusiveStartShardId`` to the end,
and returns the shards parents first (:func:`lineage_order`).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

__all__ = [
    "DESCRIBE_STREAM_LIMIT",
    "Shard",
    "StreamDescription",
    "describe_stream",
    "lineage_order",
    "stream_from_pages",
]

DESCRIBE_STREAM_LIMIT = 100
"""Shards per ``DescribeStream`` call: the API's maximum."""


@dataclasses.dataclass(frozen=True)
class Shard:
    """One shard as ``DescribeStream`` lists it."""

    shard_id: str
    parent_shard_id: str | None = None
    starting_sequence_number: str | None = None
    ending_sequence_number: str | None = None

    @property
    def closed(self) -> bool:
        """The shard takes no more records: it has an ending sequence number."""
        return self.ending_sequence_number is not None

    @classmethod
    def from_response(cls, shard: Mapping[str, Any]) -> Shard:
        numbers = shard.get("SequenceNumberRange") or {}
        return cls(
            shard_id=shard["ShardId"],
            parent_shard_id=shard.get("ParentShardId") or None,
            starting_sequence_number=numbers.get("StartingSequenceNumber"),
            ending_sequence_number=numbers.get("EndingSequenceNumber"),
        )


@dataclasses.dataclass(frozen=True)
class StreamDescription:
    """What ``DescribeStream`` says about a stream; ``shards`` parents first."""

    stream_arn: str
    status: str
    view_type: str | None
    created: datetime | None
    table: str | None
    shards: tuple[Shard, ...]

    @property
    def shard_ids(self) -> frozenset[str]:
        return frozenset(shard.shard_id for shard in self.shards)

    def is_root(self, shard: Shard) -> bool:
        """``shard`` has no parent, or its parent is no longer listed (trimmed)."""
        return shard.parent_shard_id is None or shard.parent_shard_id not in self.shard_ids

    def trimmed_parents(self) -> dict[str, str]:
        """``{shard id: parent id}`` of the shards whose parent is no longer listed."""
        listed = self.shard_ids
        return {
            shard.shard_id: shard.parent_shard_id
            for shard in self.shards
            if shard.parent_shard_id is not None and shard.parent_shard_id not in listed
        }


def _order_key(shard: Shard) -> tuple[int, int, str]:
    start = shard.starting_sequence_number
    if start is not None and start.isdigit():
        return (0, int(start), shard.shard_id)
    return (1, 0, shard.shard_id)


def lineage_order(shards: Iterable[Shard]) -> list[Shard]:
    """``shards`` with every parent before its children.

    Roots (no parent, or a parent not among ``shards``) come first; shards
    that are ready at the same time are taken by starting sequence number,
    then id, so the order is the same for the same listing. A shard listed
    twice is kept once (the first listing). A cycle, which DynamoDB never
    makes, would not loop: its shards are appended in the same order.
    """
    by_id: dict[str, Shard] = {}
    for shard in shards:
        by_id.setdefault(shard.shard_id, shard)
    children: dict[str, list[Shard]] = {}
    ready: list[tuple[tuple[int, int, str], Shard]] = []
    for shard in by_id.values():
        parent = shard.parent_shard_id
        if parent is None or parent not in by_id or parent == shard.shard_id:
            heapq.heappush(ready, (_order_key(shard), shard))
        else:
            children.setdefault(parent, []).append(shard)
    ordered: list[Shard] = []
    placed: set[str] = set()
    while ready:
        _, shard = heapq.heappop(ready)
        ordered.append(shard)
        placed.add(shard.shard_id)
        for child in children.pop(shard.shard_id, ()):
            heapq.heappush(ready, (_order_key(child), child))
    leftover = [shard for shard in by_id.values() if shard.shard_id not in placed]
    return ordered + sorted(leftover, key=_order_key)


def stream_from_pages(pages: Iterable[Mapping[str, Any]]) -> StreamDescription:
    """The :class:`StreamDescription` of ``DescribeStream`` responses, in call order."""
    shards: list[Shard] = []
    first = None
    for page in pages:
        description = page["StreamDescription"]
        first = first or description
        shards.extend(Shard.from_response(shard) for shard in description.get("Shards", ()))
    if first is None:
        raise ValueError("no DescribeStream response")
    return StreamDescription(
        stream_arn=first["StreamArn"],
        status=first.get("StreamStatus", "ENABLED"),
        view_type=first.get("StreamViewType"),
        created=first.get("CreationRequestDateTime"),
        table=first.get("TableName"),
        shards=tuple(lineage_order(shards)),
    )


def _pages(client, stream_arn: str, limit: int) -> Iterable[Mapping[str, Any]]:
    start: str | None = None
    seen: set[str] = set()
    while True:
        request: dict[str, Any] = {"StreamArn": stream_arn, "Limit": limit}
        if start is not None:
            request["ExclusiveStartShardId"] = start
        page = client.describe_stream(**request)
        yield page
        start = page["StreamDescription"].get("LastEvaluatedShardId")
        if not start:
            return
        if start in seen:
            raise RuntimeError(
                f"DescribeStream of {stream_arn} returned LastEvaluatedShardId {start} twice"
            )
        seen.add(start)


def describe_stream(
    client, stream_arn: str, *, limit: int = DESCRIBE_STREAM_LIMIT
) -> StreamDescription:
    """Every shard of the stream at ``stream_arn``, parents first.

    ``client`` is a ``dynamodbstreams`` client; ``limit`` is the page size
    (1 to 100).
    """
    return stream_from_pages(_pages(client, stream_arn, limit))
