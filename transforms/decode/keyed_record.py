"""A decoded record travelling with the raw key of the item it came from.

``DecodeItems(..., with_keys=True)`` emits :class:`KeyedRecord`; ``WriteToIndex``
takes the document id from ``key`` (the key attributes' wire values), so any
model field type that decodes a key – ``UUID``, ``Enum``, ``datetime``... –
indexes, and ids are the same as for a plain ``str`` or number field.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from transforms.dynamodb.wire import Key

__all__ = ["KeyedRecord"]


class KeyedRecord(NamedTuple):
    """``record`` (a model instance) and ``key``: its item's primary-key
    attributes in wire format, hash key first (``None`` when the item lacked
    one of them)."""

    key: Key | None
    record: Any
