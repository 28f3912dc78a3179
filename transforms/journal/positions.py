"""Committed scan positions and the per-segment state they add up to.

Each record says that one bundle read the pages of ``segment`` from the page
requested at ``start`` (``None``: the segment's first page) up to the page
whose ``LastEvaluatedKey`` is ``end``, and that everything produced from
those pages was durable when the record was written. ``done`` marks the
segment's last page (no ``LastEvaluatedKey``).

Records are folded by following the chain of keys from where the run started
each segment: ``start`` of one record is ``end`` of the one before. Records
that are not reachable from the start (a bundle whose record was written
while an earlier one's was lost) are ignored, so the state never skips a page
that was not committed; duplicates (a page range read twice) are harmless.
Keys are compared in their canonical JSON (:func:`transforms.dynamodb.wire.dumps_item`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from transforms.dynamodb.wire import Key, dumps_item, item_from_json, item_to_json, loads_item

__all__ = ["PositionRecord", "SegmentState", "fold_positions"]


@dataclasses.dataclass(frozen=True)
class PositionRecord:
    """One bundle's committed pages of one segment (see the module docstring).

    ``start`` and ``end`` are canonical key texts (``"null"``: none).
    """

    segment: int
    start: str
    end: str
    done: bool
    pages: int
    items: int

    def to_json(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "from": _key_json(self.start),
            "to": _key_json(self.end),
            "done": self.done,
            "pages": self.pages,
            "items": self.items,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> PositionRecord:
        """The record of ``obj``; ``ValueError`` (or ``KeyError``, ``TypeError``) if malformed."""
        segment, pages, items = obj["segment"], obj["pages"], obj["items"]
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (segment, pages, items)):
            raise ValueError(f"not a position record: {obj!r}")
        return cls(
            segment,
            _key_text(obj["from"]),
            _key_text(obj["to"]),
            bool(obj["done"]),
            pages,
            items,
        )


def _key_json(text: str) -> dict[str, Any] | None:
    key = loads_item(text)
    return None if key is None else item_to_json(key)


def _key_text(obj: Mapping[str, Any] | None) -> str:
    return dumps_item(None if obj is None else item_from_json(obj))


@dataclasses.dataclass(frozen=True)
class SegmentState:
    """Where a segment stands: ``done``, or the key to continue from.

    ``next_start_key`` is the ``ExclusiveStartKey`` of the first page not
    committed (``None``: the segment's start, or nothing left when ``done``);
    ``pages`` and ``items`` count what was committed along the chain.
    """

    segment: int
    next_start_key: Key | None
    pages: int
    items: int
    done: bool

    @property
    def started(self) -> bool:
        return self.done or self.pages > 0 or self.next_start_key is not None


def fold_positions(
    records: Iterable[PositionRecord],
    segments: Iterable[int],
    start_keys: Mapping[int, str] | None = None,
) -> dict[int, SegmentState]:
    """Each of ``segments``' state after ``records``.

    ``start_keys`` maps a segment to the canonical key text it started from
    (by default its beginning).
    """
    by_segment: dict[int, dict[str, list[PositionRecord]]] = {}
    for record in records:
        by_segment.setdefault(record.segment, {}).setdefault(record.start, []).append(record)
    start_keys = start_keys or {}
    return {
        segment: _follow(segment, start_keys.get(segment, "null"), by_segment.get(segment, {}))
        for segment in segments
    }


def _follow(segment: int, start: str, edges: Mapping[str, list[PositionRecord]]) -> SegmentState:
    """The farthest state reachable from ``start``: done if any path ends the segment."""
    best = (False, 0, 0, start)  # done, pages, items, key text
    seen = {start}
    pending = [(start, 0, 0)]
    while pending:
        key, pages, items = pending.pop()
        for record in edges.get(key, ()):
            reached = (record.done, pages + record.pages, items + record.items, record.end)
            if reached[:2] > best[:2]:
                best = reached
            if not record.done and record.end not in seen:
                seen.add(record.end)
                pending.append((record.end, reached[1], reached[2]))
    done, pages, items, key = best
    return SegmentState(segment, None if done else loads_item(key), pages, items, done)
