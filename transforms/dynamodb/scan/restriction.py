"""The restriction and the tracker of the parallel-scan source.

A DynamoDB parallel scan divides a table into ``TotalSegments`` segments.
The source reads one element per segment (see
:class:`~transforms.dynamodb.scan.request.SegmentScan`), whose initial restriction is
the whole segment: no runner needs to split an initial restriction for the
segments to be read in parallel. Inside a segment the unit of work is a page:
a Scan request with an ``ExclusiveStartKey`` answered by items and a
``LastEvaluatedKey``.

A :class:`SegmentRestriction` is the range of pages that starts with the page
requested at ``start_key`` (``None``: the segment's beginning) and ends with
the page whose ``LastEvaluatedKey`` is ``end_key`` (``None``: the segment's
end). A checkpoint cuts it after the last claimed page: the residual starts at
that page's ``LastEvaluatedKey``, so committed pages are never read again.
A started segment cannot be cut at a fraction: DynamoDB offers no way to split
a segment's key range.

What a retry may repeat. A runner runs a restriction again when the bundle
that processed it failed, from its ``start_key``; the failed bundle's output
is discarded, so its own pages are read again without doubling anything. The
primary of a checkpoint (``end_key`` set) is a special case: if the table
changed meanwhile, its pages may come out cut differently and none may end at
``end_key``. It still stops where its range ends – after the item whose key
is ``end_key``, or, if that item was deleted, before the first item that now
follows ``end_key`` (one single-item request finds it;
:mod:`transforms.dynamodb.scan.range_end`). Only when neither shows in the pages (both
deleted meanwhile, a ``FilterExpression`` hiding them, a projection without
the key attributes) does it read on to the segment's end and repeat the
residual's items. Then: their documents are written again under the same
key-based ids (upserts, so the index stays exact, each document the item as
read last); their dead letters are written once (``WriteDeadLetters`` keeps
one per stage, table and key, and counts the others in
``dead_letters_repeated``); and counters count them as read again, so
``scanned == indexed + dead-lettered`` still holds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from apache_beam.io.iobase import RestrictionProgress, RestrictionTracker

from transforms.dynamodb.restriction_coder import JsonRestrictionCoder
from transforms.dynamodb.wire import Key, dumps_item, item_from_json, item_to_json

__all__ = [
    "ScanPagePosition",
    "ScanRestrictionCoder",
    "SegmentRestriction",
    "SegmentRestrictionTracker",
    "validate_segments",
]

MAX_TOTAL_SEGMENTS = 1_000_000


def validate_segments(total_segments: int, segments: tuple[int, ...] | None = None) -> None:
    """Raises ValueError naming the bad value; DynamoDB allows 1..1,000,000."""
    if isinstance(total_segments, bool) or not isinstance(total_segments, int):
        raise ValueError(f"total_segments must be an integer, got {total_segments!r}")
    if not 1 <= total_segments <= MAX_TOTAL_SEGMENTS:
        raise ValueError(
            f"total_segments must be between 1 and {MAX_TOTAL_SEGMENTS:,}, got {total_segments}"
        )
    if segments is None:
        return
    if not segments:
        raise ValueError("segments must name at least one segment")
    for segment in segments:
        if isinstance(segment, bool) or not isinstance(segment, int):
            raise ValueError(f"segments must be integers, got {segment!r}")
        if not 0 <= segment < total_segments:
            raise ValueError(
                f"segment {segment} is outside 0..{total_segments - 1} "
                f"(total_segments={total_segments})"
            )
    if len(set(segments)) != len(segments):
        raise ValueError(f"segments lists a segment twice: {sorted(segments)}")


class SegmentRestriction:
    """A range of pages of one scan segment (see the module docstring).

    ``empty`` marks a restriction with no pages at all: the primary of a
    checkpoint taken before the first claim. ``items_before`` counts the items
    earlier parts of the segment already produced, ``seconds_before`` the
    seconds they took to read, and ``estimated_items`` the items expected in
    the whole segment; they inform estimates and the per-segment figures
    (:mod:`~transforms.dynamodb.scan.segment_figures`), never what is read.
    """

    __slots__ = (
        "empty",
        "end_key",
        "estimated_items",
        "items_before",
        "seconds_before",
        "segment",
        "start_key",
        "total_segments",
    )

    def __init__(
        self,
        segment: int,
        total_segments: int,
        start_key: Key | None = None,
        end_key: Key | None = None,
        empty: bool = False,
        items_before: int = 0,
        estimated_items: float = 0.0,
        seconds_before: float = 0.0,
    ):
        validate_segments(total_segments, (segment,))
        self.segment = segment
        self.total_segments = total_segments
        self.start_key = start_key
        self.end_key = end_key
        self.empty = empty
        self.items_before = items_before
        self.estimated_items = float(estimated_items)
        self.seconds_before = float(seconds_before)

    def with_keys(
        self, start_key, end_key, empty=False, items_before=None, seconds_before=None
    ) -> SegmentRestriction:
        """A restriction of the same segment between other pages."""
        return SegmentRestriction(
            self.segment,
            self.total_segments,
            start_key,
            end_key,
            empty,
            self.items_before if items_before is None else items_before,
            self.estimated_items,
            self.seconds_before if seconds_before is None else seconds_before,
        )

    @property
    def started(self) -> bool:
        """True if pages of this segment were read before this restriction."""
        return self.start_key is not None

    def _fields(self):
        return (
            self.segment,
            self.total_segments,
            dumps_item(self.start_key),
            dumps_item(self.end_key),
            self.empty,
            self.items_before,
            self.estimated_items,
            self.seconds_before,
        )

    def __eq__(self, other):
        return type(self) is type(other) and self._fields() == other._fields()

    def __hash__(self):
        return hash(self._fields())

    def __repr__(self):
        return (
            f"SegmentRestriction(segment={self.segment}/{self.total_segments}, "
            f"start_key={dumps_item(self.start_key)}, end_key={dumps_item(self.end_key)}"
            f"{', empty' if self.empty else ''})"
        )


class ScanPagePosition:
    """What the scan claims: the page read at ``start_key`` and where it ended.

    ``last_evaluated_key`` is ``None`` when the page was the segment's last.
    """

    __slots__ = ("item_count", "last_evaluated_key", "start_key")

    def __init__(self, start_key: Key | None, last_evaluated_key: Key | None, item_count: int = 0):
        self.start_key = start_key
        self.last_evaluated_key = last_evaluated_key
        self.item_count = item_count

    def __repr__(self):
        return (
            f"ScanPagePosition(start_key={dumps_item(self.start_key)}, "
            f"last_evaluated_key={dumps_item(self.last_evaluated_key)}, items={self.item_count})"
        )


class SegmentRestrictionTracker(RestrictionTracker):
    """Claims the pages of one segment in order; checkpoints between pages.

    A residual counts the items claimed before it in ``items_before`` and, if
    pages were claimed, the seconds since this tracker was made in
    ``seconds_before``.
    """

    def __init__(self, restriction: SegmentRestriction):
        if not isinstance(restriction, SegmentRestriction):
            raise ValueError(
                f"SegmentRestrictionTracker needs a SegmentRestriction, got {restriction!r}"
            )
        self._restriction = restriction
        self._next_start_key = restriction.start_key
        self._exhausted = restriction.empty
        self._split = False
        self._pages_claimed = 0
        self._items_claimed = 0
        self._started = time.monotonic()

    @property
    def next_start_key(self) -> Key | None:
        """``ExclusiveStartKey`` of the next page to read."""
        return self._next_start_key

    def current_restriction(self) -> SegmentRestriction:
        return self._restriction

    def try_claim(self, position: ScanPagePosition) -> bool:
        if self._exhausted:
            raise ValueError(
                f"Segment {self._restriction.segment} has no page after the one ending at "
                f"{dumps_item(self._next_start_key)}; tried to claim {position!r}"
            )
        if position.start_key != self._next_start_key:
            raise ValueError(
                "Pages must be claimed in order. Tried to claim the page starting at "
                f"{dumps_item(position.start_key)} while the next page starts at "
                f"{dumps_item(self._next_start_key)}"
            )
        if self._split:
            return False
        self._pages_claimed += 1
        self._items_claimed += position.item_count
        self._next_start_key = position.last_evaluated_key
        end_key = self._restriction.end_key
        if position.last_evaluated_key is None or (
            end_key is not None and position.last_evaluated_key == end_key
        ):
            self._exhausted = True
        return True

    def try_split(self, fraction_of_remainder: float):
        if self._exhausted or self._split:
            return None
        restriction = self._restriction
        if fraction_of_remainder > 0 and self._pages_claimed:
            return None
        if self._pages_claimed:
            primary = restriction.with_keys(restriction.start_key, self._next_start_key)
        else:
            primary = restriction.with_keys(
                restriction.start_key, restriction.start_key, empty=True
            )
        seconds = time.monotonic() - self._started if self._pages_claimed else 0.0
        residual = restriction.with_keys(
            self._next_start_key,
            restriction.end_key,
            items_before=restriction.items_before + self._items_claimed,
            seconds_before=restriction.seconds_before + seconds,
        )
        self._restriction = primary
        self._split = True
        return primary, residual

    def check_done(self) -> None:
        if not (self._exhausted or self._split):
            raise ValueError(
                f"Segment {self._restriction.segment} of {self._restriction.total_segments} "
                f"was not read to its end: the page at ExclusiveStartKey "
                f"{dumps_item(self._next_start_key)} and any after it were never claimed"
            )

    def current_progress(self) -> RestrictionProgress:
        completed = float(self._items_claimed)
        if self._exhausted or self._split:
            remaining = 0.0
        else:
            expected = self._restriction.estimated_items - self._restriction.items_before
            remaining = max(expected - completed, 1.0)
        return RestrictionProgress(completed=completed, remaining=remaining)

    def is_bounded(self) -> bool:
        return True


class ScanRestrictionCoder(JsonRestrictionCoder):
    """Deterministic JSON encoding of segment restrictions (keys of any type)."""

    def to_json(self, restriction) -> dict:
        return _to_json(restriction)

    def from_json(self, obj: Mapping[str, Any]):
        return _from_json(obj)


def _key_to_json(key: Key | None) -> dict | None:
    return None if key is None else item_to_json(key)


def _key_from_json(obj: Mapping[str, Any] | None) -> Key | None:
    return None if obj is None else item_from_json(obj)


def _to_json(restriction) -> dict:
    if isinstance(restriction, SegmentRestriction):
        return {
            "kind": "segment",
            "segment": restriction.segment,
            "total_segments": restriction.total_segments,
            "start_key": _key_to_json(restriction.start_key),
            "end_key": _key_to_json(restriction.end_key),
            "empty": restriction.empty,
            "items_before": restriction.items_before,
            "estimated_items": restriction.estimated_items,
            "seconds_before": restriction.seconds_before,
        }
    raise ValueError(f"ScanRestrictionCoder cannot encode {restriction!r}")


def _from_json(obj: Mapping[str, Any]):
    kind = obj.get("kind")
    if kind == "segment":
        return SegmentRestriction(
            obj["segment"],
            obj["total_segments"],
            _key_from_json(obj["start_key"]),
            _key_from_json(obj["end_key"]),
            obj["empty"],
            obj["items_before"],
            obj["estimated_items"],
            obj.get("seconds_before", 0.0),  # absent from earlier versions' encodings
        )
    raise ValueError(f"not an encoded scan restriction: kind={kind!r}")
