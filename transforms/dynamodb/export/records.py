"""One line of an export data file, as an item to index or a key to remove.

Full exports hold one ``{"Item": {...}}`` per line. Incremental exports hold
the final state of each changed item in the export's period::

    {"Metadata": {"WriteTimestampMicros": {"N": "..."}},
     "Keys": {"id": {"S": "w1"}},
     "NewImage": {...},      # absent when the item was deleted
     "OldImage": {...}}      # with the NEW_AND_OLD_IMAGES view

An :class:`ExportRecord` is an upsert (``item`` set: the ``Item`` or the
``NewImage``) or a removal (``item`` is ``None``, ``keys`` say which).
Binary values, base64 in the file, are ``bytes`` here, exactly as a scan
returns them. A line whose strings are not Unicode text (a lone surrogate
escape such as ``\\ud800``, which no DynamoDB string can hold) is corrupt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from transforms.dynamodb.export.ion import parse_ion_line
from transforms.dynamodb.export.manifest import ION
from transforms.dynamodb.json_parse import loads_noting_text
from transforms.dynamodb.wire import Item, Key, item_from_json

__all__ = ["CorruptRecord", "ExportRecord", "record_parser"]


class CorruptRecord(ValueError):
    """A line that is not a record of this export's kind; the message says why."""


class ExportRecord(NamedTuple):
    """An upsert (``item``) or a removal (``item`` None) of the item with ``keys``.

    ``keys`` is ``None`` in a full export, which does not list keys apart.
    """

    item: Item | None
    keys: Key | None = None


def _wire_item(value: Any, name: str) -> Item:
    if not isinstance(value, dict):
        raise CorruptRecord(f"{name!r} must be an object, got {type(value).__name__}")
    try:
        return item_from_json(value)
    except (ValueError, TypeError, AttributeError) as error:
        raise CorruptRecord(f"{name!r} is not a DynamoDB JSON item ({error})") from error


def _ion_item(value: Any, name: str) -> Item:
    if not isinstance(value, dict) or set(value) != {"M"}:
        raise CorruptRecord(f"{name!r} must be a struct")
    return value["M"]


def _record(fields: Any, incremental: bool, to_item: Callable[[Any, str], Item]) -> ExportRecord:
    if not isinstance(fields, dict):
        raise CorruptRecord(f"expected an object, got {type(fields).__name__}")
    if not incremental:
        if "Item" not in fields:
            raise CorruptRecord(f"no 'Item' in a full export's line (fields {sorted(fields)})")
        return ExportRecord(to_item(fields["Item"], "Item"))
    if "Keys" not in fields:
        raise CorruptRecord(f"no 'Keys' in an incremental export's line (fields {sorted(fields)})")
    keys = to_item(fields["Keys"], "Keys")
    if not keys:
        raise CorruptRecord("'Keys' is empty")
    new_image = fields.get("NewImage")
    return ExportRecord(None if new_image is None else to_item(new_image, "NewImage"), keys)


def _parse_json(line: bytes, incremental: bool) -> ExportRecord:
    try:
        fields, text_known = loads_noting_text(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise CorruptRecord(f"not JSON ({error})") from error
    record = _record(fields, incremental, _wire_item)
    return record if text_known else _check_text(record, line)


def _parse_ion(line: bytes, incremental: bool) -> ExportRecord:
    try:
        fields = parse_ion_line(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise CorruptRecord(f"not Ion ({error})") from error
    return _check_text(_record(fields, incremental, _ion_item), line)


_LONE_SURROGATE_ESCAPE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"  # a high one without a low one
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"  # a low one alone
)


def _lone_surrogate_in(value: Any) -> bool:
    """True if a string or map key anywhere in ``value`` is not encodable as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_lone_surrogate_in(k) or _lone_surrogate_in(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_lone_surrogate_in(v) for v in value)
    return False


def _check_text(record: ExportRecord, line: bytes) -> ExportRecord:
    maybe = b"\\ud" in line or b"\\uD" in line  # a fast test first: most lines have none
    if maybe and _LONE_SURROGATE_ESCAPE.search(line) and _lone_surrogate_in(record):
        raise CorruptRecord(
            "a string holds a lone surrogate (an escape such as \\ud800 without its pair), "
            "which is not text and which DynamoDB cannot store: the line was edited or damaged"
        )
    return record


def record_parser(output_format: str, incremental: bool) -> Callable[[bytes], ExportRecord]:
    """A function ``line -> ExportRecord`` for the export's format and type.

    It raises :class:`CorruptRecord` for a line that does not parse.
    """
    parse = _parse_ion if output_format == ION else _parse_json

    def parse_line(line: bytes) -> ExportRecord:
        return parse(line, incremental)

    return parse_line
