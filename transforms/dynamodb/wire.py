"""DynamoDB wire-format items and their lossless JSON form.

Items travel through the pipeline exactly as DynamoDB's low-level API returns
them: ``{"id": {"S": "w1"}, "n": {"N": "3"}, "b": {"B": b"..."}}``. Binary
values are ``bytes``. For JSON (dead letters, restriction coders) binary values
are written as base64 strings, exactly as DynamoDB's own HTTP API does, and
``item_from_json`` restores them to ``bytes``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

Item = dict[str, dict[str, Any]]
Key = dict[str, dict[str, Any]]

__all__ = [
    "Item",
    "Key",
    "dumps_item",
    "item_from_json",
    "item_to_json",
    "key_of",
    "loads_item",
]


def _value_to_json(value: Any) -> Any:
    """A wire value in JSON form; a malformed one (not a one-tag map, a payload
    of the wrong shape) is kept as it is, with any ``bytes`` in it as base64,
    so that a dead letter can always carry its item."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return _plain_to_json(value)
    ((type_tag, payload),) = value.items()
    if type_tag == "B" and isinstance(payload, bytes):
        return {"B": _b64(payload)}
    if type_tag == "BS" and isinstance(payload, list) and all(type(b) is bytes for b in payload):
        return {"BS": [_b64(b) for b in payload]}
    if type_tag == "L" and isinstance(payload, list):
        return {"L": [_value_to_json(v) for v in payload]}
    if type_tag == "M" and isinstance(payload, Mapping):
        return {"M": item_to_json(payload)}
    return {type_tag: _plain_to_json(payload)}


def _value_from_json(value: Any) -> Any:
    """The inverse of :func:`_value_to_json`: malformed values come back as
    they went (a ``bytes`` in one comes back as its base64 text)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return value
    ((type_tag, payload),) = value.items()
    if type_tag == "B" and isinstance(payload, str):
        return {"B": base64.b64decode(payload, validate=True)}
    if type_tag == "BS" and isinstance(payload, list) and all(type(b) is str for b in payload):
        return {"BS": [base64.b64decode(b, validate=True) for b in payload]}
    if type_tag == "L" and isinstance(payload, list):
        return {"L": [_value_from_json(v) for v in payload]}
    if type_tag == "M" and isinstance(payload, Mapping):
        return {"M": item_from_json(payload)}
    return {type_tag: payload}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _plain_to_json(value: Any) -> Any:
    """Any value an item may hold, JSON-serialisable: binaries (``bytes``,
    ``bytearray``, ``memoryview``, boto3's ``Binary``) as base64 text, other
    values JSON has no type for (a ``Decimal`` in a malformed item) as text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _b64(bytes(value))
    if type(value).__name__ == "Binary" and isinstance(getattr(value, "value", None), bytes):
        return _b64(value.value)  # boto3.dynamodb.types.Binary
    if isinstance(value, Mapping):
        return {str(key): _plain_to_json(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain_to_json(inner) for inner in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)


def item_to_json(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A JSON-serialisable copy of a wire-format item (binary as base64).
    Never fails on a malformed value: see :func:`_value_to_json`."""
    return {name: _value_to_json(value) for name, value in item.items()}


def item_from_json(obj: Mapping[str, Mapping[str, Any]]) -> Item:
    """The inverse of :func:`item_to_json`: base64 binaries become ``bytes``."""
    return {name: _value_from_json(value) for name, value in obj.items()}


def dumps_item(item: Mapping[str, Any] | None) -> str:
    """Deterministic JSON text of an item or key (sorted, compact)."""
    if item is None:
        return "null"
    return json.dumps(item_to_json(item), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def loads_item(text: str) -> Item | None:
    """The inverse of :func:`dumps_item`."""
    obj = json.loads(text)
    return None if obj is None else item_from_json(obj)


def key_of(item: Mapping[str, Any], key_attributes: Iterable[str]) -> Key | None:
    """The primary-key attributes of ``item``, or None if any is missing."""
    key = {}
    for name in key_attributes:
        if name not in item:
            return None
        key[name] = item[name]
    return key
