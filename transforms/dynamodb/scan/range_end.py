"""Where a restriction with an ``end_key`` stops, when its pages come out cut differently.

A :class:`~transforms.dynamodb.scan.restriction.SegmentRestriction` with an ``end_key``
is the primary of a checkpoint: the pages from ``start_key`` to the page whose
``LastEvaluatedKey`` was ``end_key``. It is read again only when a runner
retries it, and by then the table may have changed: an item written or
deleted, or one grown, moves the page boundaries (a page ends after
``Limit`` evaluated items or 1 MB), so no page may end at ``end_key`` any
more. Reading until a page ends there would then run on to the segment's
end, through the residual's pages.

:class:`RangeEnd` finds the end in the items instead. Items in a page come in
scan order, so:

* the item whose key is ``end_key`` ends the range: the page is cut after it;
* if that item was deleted, the range ends before the first item that now
  follows ``end_key`` in the segment: ``after_key``, learnt before reading
  with one request for one item at ``ExclusiveStartKey = end_key`` (DynamoDB
  continues from a key's position whether or not its item still exists);
  the page is cut before it.

Only when neither shows up – both deleted in the meantime, a
``FilterExpression`` that hides them from ``Items``, or a projection without
the key attributes – does the read go on to the segment's end; what that
repeats is described in :mod:`transforms.dynamodb.scan.restriction`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transforms.decode.keyed_record import KeyedRecord
from transforms.dynamodb.wire import Item, Key

__all__ = ["RangeEnd"]


def _attributes(item: Item | KeyedRecord) -> Mapping[str, Any]:
    """What to look key attributes up in: the item, or a record's key
    (``DecodeAtRead``: the table's key attributes, the only ones a scan of
    the table ends pages at)."""
    if type(item) is KeyedRecord:
        return item.key or {}
    return item


def _has_key(item: Item | KeyedRecord, key: Key) -> bool:
    attributes = _attributes(item)
    return all(attributes.get(name) == value for name, value in key.items())


class RangeEnd:
    """The end of a retried primary: ``end_key``, and ``after_key`` (``None``:
    nothing follows ``end_key`` in the segment)."""

    __slots__ = ("after_key", "end_key")

    def __init__(self, end_key: Key, after_key: Key | None):
        self.end_key = end_key
        self.after_key = after_key

    @staticmethod
    def key_after(page_items: Sequence[Item], last_evaluated_key: Key | None, end_key: Key):
        """The key of the first item after ``end_key``, from a one-item page read there."""
        if last_evaluated_key is not None:
            return last_evaluated_key
        if page_items:
            first = _attributes(page_items[0])
            if all(name in first for name in end_key):
                return {name: first[name] for name in end_key}
        return None

    def cut(self, items: Sequence[Item]) -> int | None:
        """How many of a page's ``items`` are within the range, or ``None`` if the
        end is not among them (the range goes on)."""
        for position, item in enumerate(items):
            if _has_key(item, self.end_key):
                return position + 1
            if self.after_key is not None and _has_key(item, self.after_key):
                return position
        return None
