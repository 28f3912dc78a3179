"""What to scan: a picklable description of one parallel scan of a table.

A :class:`ScanRequest` is the request template of every page; each of its
segments becomes one :class:`SegmentScan`, the element the scan's splittable
DoFn receives. Neither carries a client or credentials.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.scan.restriction import validate_segments
from transforms.dynamodb.table_description import (
    TableDescription,
    choose_total_segments,
    describe_table,
)
from transforms.dynamodb.wire import Item, Key, loads_item

_LOGGER = logging.getLogger(__name__)

__all__ = ["ScanRequest", "SegmentItem", "SegmentScan", "build_scan_request", "scan_options"]

MAX_PAGE_SIZE = 1_000_000


@dataclasses.dataclass(frozen=True)
class ScanRequest:
    """One parallel scan: table, segments and the Scan parameters of each page.

    ``projection`` lists attribute names; they are sent through
    ``ExpressionAttributeNames`` so reserved words, dots and dashes are safe.
    ``filter_expression`` may use ``#names`` and ``:values`` given in
    ``expression_attribute_names`` / ``expression_attribute_values`` (wire
    format). ``estimated_items`` / ``estimated_bytes`` describe the whole table
    and only feed size and progress estimates.
    """

    table_name: str
    total_segments: int
    segments: tuple[int, ...] | None = None
    page_size: int | None = None
    consistent_read: bool = False
    index_name: str | None = None
    projection: tuple[str, ...] | None = None
    filter_expression: str | None = None
    expression_attribute_names: tuple[tuple[str, str], ...] | None = None
    expression_attribute_values: tuple[tuple[str, Any], ...] | None = None
    estimated_items: int = 0
    estimated_bytes: int = 0
    start_keys: tuple[tuple[int, str], ...] | None = None
    """``(segment, dumps_item(ExclusiveStartKey))`` of segments that resume
    where an earlier scan stopped; the others start at their beginning."""

    def __post_init__(self):
        if not self.table_name or not isinstance(self.table_name, str):
            raise ValueError(f"table_name must be a non-empty string, got {self.table_name!r}")
        validate_segments(self.total_segments, self.segments)
        if self.page_size is not None and (
            isinstance(self.page_size, bool)
            or not isinstance(self.page_size, int)
            or not 1 <= self.page_size <= MAX_PAGE_SIZE
        ):
            raise ValueError(
                f"page_size must be an integer from 1 to {MAX_PAGE_SIZE:,} or None, "
                f"got {self.page_size!r}"
            )
        if self.projection is not None and not self.projection:
            raise ValueError("projection must name at least one attribute, or be None")
        scanned = set(range(self.total_segments) if self.segments is None else self.segments)
        for segment, _ in self.start_keys or ():
            if segment not in scanned:
                raise ValueError(f"start key given for segment {segment}, which is not scanned")

    def start_key(self, segment: int) -> Key | None:
        """Where ``segment`` starts: its entry in ``start_keys``, else its beginning."""
        for number, key in self.start_keys or ():
            if number == segment:
                return loads_item(key)
        return None

    @property
    def chosen_segments(self) -> tuple[int, ...]:
        """The segments this scan reads, in order."""
        return tuple(range(self.total_segments)) if self.segments is None else self.segments

    def segment_scans(self) -> list[SegmentScan]:
        """One :class:`SegmentScan` per segment read."""
        return [SegmentScan(self, segment) for segment in self.chosen_segments]

    @property
    def segment_count(self) -> int:
        """How many segments this scan reads."""
        return self.total_segments if self.segments is None else len(self.segments)

    @property
    def estimated_items_per_segment(self) -> float:
        return self.estimated_items / self.total_segments

    @property
    def estimated_bytes_per_segment(self) -> float:
        return self.estimated_bytes / self.total_segments

    def page_request(self, segment: int, start_key: Key | None) -> dict[str, Any]:
        """The keyword arguments of the Scan call for one page.

        A single-segment scan is sent as a plain Scan (no ``Segment``).
        """
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if self.total_segments > 1:
            request["Segment"] = segment
            request["TotalSegments"] = self.total_segments
        if self.index_name:
            request["IndexName"] = self.index_name
        if self.page_size:
            request["Limit"] = self.page_size
        if self.consistent_read:
            request["ConsistentRead"] = True
        names = dict(self.expression_attribute_names or ())
        if self.projection:
            placeholders = []
            for position, attribute in enumerate(self.projection):
                placeholder = f"#p{position}"
                names[placeholder] = attribute
                placeholders.append(placeholder)
            request["ProjectionExpression"] = ", ".join(placeholders)
        if self.filter_expression:
            request["FilterExpression"] = self.filter_expression
        if names:
            request["ExpressionAttributeNames"] = names
        if self.expression_attribute_values:
            request["ExpressionAttributeValues"] = dict(self.expression_attribute_values)
        if start_key is not None:
            request["ExclusiveStartKey"] = start_key
        return request


@dataclasses.dataclass(frozen=True)
class SegmentScan:
    """One segment of a :class:`ScanRequest`, read from its start key to its end."""

    request: ScanRequest
    segment: int

    def __post_init__(self):
        request = self.request
        if not (
            0 <= self.segment < request.total_segments
            and (request.segments is None or self.segment in request.segments)
        ):
            raise ValueError(
                f"segment {self.segment} is not read by the scan of {request.table_name!r}"
            )

    @property
    def start_key(self) -> Key | None:
        """Where the segment starts (see :meth:`ScanRequest.start_key`)."""
        return self.request.start_key(self.segment)


class SegmentItem(NamedTuple):
    """An item with the segment that produced it."""

    segment: int
    total_segments: int
    item: Item


def build_scan_request(
    table_name: str,
    total_segments: int | None,
    segments: tuple[int, ...] | None,
    workers: int | None,
    description: TableDescription | None,
    client_config: DynamoDBClientConfig,
    request_options: Mapping[str, Any],
) -> ScanRequest:
    """The :class:`ScanRequest` of a scan; ``DescribeTable`` only if needed.

    The request is checked before the chosen segment count is logged, so a
    bad option is the only thing said.
    """
    reason = None
    if total_segments is None:
        description = description or describe_table(client_config, table_name)
        choice = choose_total_segments(description.size_bytes, description.item_count, workers)
        total_segments, reason = choice.total_segments, choice.reason
    request = ScanRequest(
        table_name=table_name,
        total_segments=total_segments,
        segments=segments,
        estimated_items=description.item_count if description else 0,
        estimated_bytes=description.size_bytes if description else 0,
        **request_options,
    )
    if reason:
        _LOGGER.info("Scanning %s with %s", table_name, reason)
    return request


def scan_options(
    page_size: int | None = None,
    consistent_read: bool = False,
    index_name: str | None = None,
    projection: Sequence[str] | None = None,
    filter_expression: str | None = None,
    expression_attribute_names: Mapping[str, str] | None = None,
    expression_attribute_values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The per-page Scan options of a :class:`ScanRequest`, normalised."""
    if isinstance(projection, str):
        raise TypeError(f"projection must be a sequence of attribute names, e.g. ({projection!r},)")
    return {
        "page_size": page_size,
        "consistent_read": consistent_read,
        "index_name": index_name,
        "projection": tuple(projection) if projection is not None else None,
        "filter_expression": filter_expression,
        "expression_attribute_names": _as_pairs(expression_attribute_names),
        "expression_attribute_values": _as_pairs(expression_attribute_values),
    }


def _as_pairs(mapping: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...] | None:
    return None if mapping is None else tuple(sorted(mapping.items()))
