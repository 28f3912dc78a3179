"""Collections: ``list``, ``tuple``, ``set``, ``frozenset``, ``dict``,
``deque``, ``OrderedDict`` and their abstract and ``typing`` spellings.

Lists and tuples read L, or SS/NS/BS when their element type takes S/N/B
(wire order kept); sets read SS/NS/BS or L; dicts read M, with keys of type
``str``, ``int``, ``float``, ``Decimal``, ``UUID`` or an Enum. Abstract
sequences become tuples and abstract sets frozensets, as in dataclasses-json.

Each reader first converts all elements on the fast path; when that fails it
converts them again one by one, so that the failure names the element's
position (``[i]``) or map key.
"""

from __future__ import annotations

import collections
import collections.abc as abc
import dataclasses
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from transforms.decode.errors import (
    DecodeError,
    malformed,
    short,
    type_name,
    undecodable,
    within,
)
from transforms.decode.hints import unwrap_new_type
from transforms.decode.plans import Plan, converter
from transforms.decode.scalars import number_error, parse_int, read_uuid

__all__ = [
    "MAPPINGS",
    "RETRY",
    "SEQUENCES",
    "SETS",
    "SET_TAGS",
    "each",
    "each_value",
    "fixed_tuple_plan",
    "generic_plan",
    "is_hashable_type",
    "key_reader",
    "read_list",
    "read_map",
    "read_set",
]

PlanOf = Callable[[Any, str], Plan]
"""The compiler's ``plan(type, where)``, for element, value and key types."""

RETRY = (KeyError, TypeError, AttributeError, DecodeError)
"""What makes a reader leave its fast path and convert element by element."""

SEQUENCES: dict[Any, Callable] = {
    list: list,
    abc.MutableSequence: list,
    tuple: tuple,
    abc.Sequence: tuple,
    abc.Collection: tuple,
    collections.deque: collections.deque,
}
SETS: dict[Any, Callable] = {
    set: set,
    abc.MutableSet: set,
    frozenset: frozenset,
    abc.Set: frozenset,
}
MAPPINGS: dict[Any, Callable] = {
    dict: dict,
    abc.Mapping: dict,
    abc.MutableMapping: dict,
    collections.OrderedDict: collections.OrderedDict,
}
SET_TAGS = (("SS", "S"), ("NS", "N"), ("BS", "B"))


def each(values: Any, convert: Callable) -> list:
    """Converts every element; a failure names the element's position."""
    out = []
    for index, value in enumerate(values):
        try:
            out.append(convert(value))
        except DecodeError as error:
            within(error, index)
            raise
        except (KeyError, TypeError, AttributeError) as error:
            raise within(malformed(value, error), index) from error
    return out


def each_value(mapping: Any, convert: Callable, convert_key: Callable | None) -> dict:
    """Converts every map entry; a failure names the entry's key."""
    out = {}
    for key, value in mapping.items():
        try:
            if convert_key is not None:
                converted_key = convert_key(key)
            else:
                converted_key = key
            out[converted_key] = convert(value)
        except DecodeError as error:
            within(error, str(key))
            raise
        except (KeyError, TypeError, AttributeError) as error:
            raise within(malformed(value, error), str(key)) from error
    return out


def same_keys(payload: dict, convert_key: Callable) -> DecodeError:
    """The error for a map two of whose keys decode to one (``"1"`` and ``"01"``
    for ``dict[int, V]``): one entry would silently replace the other."""
    seen: dict[Any, str] = {}
    for key in payload:
        first = seen.setdefault(convert_key(key), key)
        if first != key:
            error = DecodeError(
                "InvalidValue",
                f"map keys {short(repr(first))} and {short(repr(key))} are the same key "
                f"{short(repr(convert_key(first)))}: one entry would replace the other",
            )
            return within(error, key)
    raise AssertionError("no two keys are the same")


def read_list(element: Plan, build: Callable) -> Callable[[list], Any]:
    """Payload function for L: each element decoded by ``element``.

    The function carries ``(tag, read, convert, build)`` of its elements as
    its attribute ``element``; generated decoders inline the same loop.
    """
    convert = converter(element)
    tag, read = element.primary()
    if read is None:

        def read_list(payload):
            try:
                values = [wire[tag] for wire in payload]
            except RETRY:
                values = each(payload, convert)
            return values if build is list else build(values)

    else:

        def read_list(payload):
            try:
                values = [read(wire[tag]) for wire in payload]
            except RETRY:
                values = each(payload, convert)
            return values if build is list else build(values)

    read_list.element = (tag, read, convert, build)
    return read_list


def read_set(read: Callable | None, build: Callable) -> Callable[[list], Any]:
    """Payload function for SS/NS/BS: ``read`` applied to each bare element of
    the payload, which must be a list (not a string, whose letters it would take)."""

    def read_set(payload):
        if type(payload) is not list:
            raise TypeError(f"a set holds {type(payload).__name__}, not a list")
        if read is None:
            return build(payload)
        try:
            values = [read(value) for value in payload]
        except DecodeError:
            values = each(payload, read)
        return values if build is list else build(values)

    return read_set


def read_map(value: Plan, convert_key: Callable | None) -> Callable[[dict], dict]:
    """Payload function for M into a dict: keys by ``convert_key``, values by ``value``.

    The function carries ``(value, convert_key)`` as its attribute ``entry``,
    for decoders that read the wire form another way.
    """
    convert = converter(value)
    tag, read = value.primary()
    if convert_key is not None:

        def read_map(payload):
            try:
                values = {convert_key(key): convert(wire) for key, wire in payload.items()}
            except RETRY:
                values = each_value(payload, convert, convert_key)
            if len(values) != len(payload):
                raise same_keys(payload, convert_key)
            return values

    elif read is None:

        def read_map(payload):
            try:
                return {key: wire[tag] for key, wire in payload.items()}
            except RETRY:
                return each_value(payload, convert, None)

    else:

        def read_map(payload):
            try:
                return {key: read(wire[tag]) for key, wire in payload.items()}
            except RETRY:
                return each_value(payload, convert, None)

    read_map.entry = (value, convert_key)
    return read_map


def _built(read: Callable[[dict], dict], build: Callable) -> Callable[[dict], Any]:
    """``read`` whose dict becomes a ``build`` (e.g. an ``OrderedDict``), in wire order."""

    def read_built(payload):
        return build(read(payload))

    return read_built


def is_hashable_type(tp: Any) -> bool:
    return not (isinstance(tp, type) and getattr(tp, "__hash__", None) is None)


def generic_plan(tp: Any, origin: Any, args: tuple[Any, ...], where: str, plan: PlanOf) -> Plan:
    """The plan of a collection type ``tp`` (``origin[args]``); ``plan`` reads
    its element, value and key types."""
    expected = type_name(tp)
    if origin in MAPPINGS:
        key_type, value_type = args if len(args) == 2 else (Any, Any)
        value = plan(value_type, where)
        read = read_map(value, key_reader(key_type, where, plan))
        build = MAPPINGS[origin]
        return Plan({"M": read if build is dict else _built(read, build)}, expected)
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        return fixed_tuple_plan(args, expected, where, plan)
    if origin in SEQUENCES:
        element_type = args[0] if args else Any
        build = SEQUENCES[origin]
    elif origin in SETS:
        element_type = args[0] if args else Any
        if not is_hashable_type(element_type):
            raise TypeError(
                f"{where}: set elements of type {type_name(element_type)} are not hashable; "
                + (
                    "declare it with @dataclass(frozen=True), or make the field a list"
                    if dataclasses.is_dataclass(element_type)
                    else "make the field a list"
                )
            )
        build = SETS[origin]
    else:
        raise undecodable(where, tp)
    element = plan(element_type, where)
    handlers: dict[str, Callable | None] = {"L": read_list(element, build)}
    for set_tag, scalar_tag in SET_TAGS:
        if scalar_tag in element.handlers:
            handlers[set_tag] = read_set(element.handlers[scalar_tag], build)
    return Plan(handlers, expected)


def fixed_tuple_plan(args: tuple[Any, ...], expected: str, where: str, plan: PlanOf) -> Plan:
    """The plan of ``tuple[A, B, ...]``: an L of exactly that many elements."""
    converts = [converter(plan(arg, where)) for arg in args]
    size = len(converts)

    def read_tuple(payload):
        if len(payload) != size:
            raise DecodeError(
                "InvalidValue", f"expected {expected}: {size} elements, got L of {len(payload)}"
            )
        values = []
        for index, (convert, wire) in enumerate(zip(converts, payload, strict=True)):
            try:
                values.append(convert(wire))
            except DecodeError as error:
                within(error, index)
                raise
        return tuple(values)

    return Plan({"L": read_tuple}, expected)


_FOUND_AS_VALUE = re.compile(r"\bgot [NS] ")


def _map_key(read: Callable[[str], Any]) -> Callable[[str], Any]:
    """``read`` of a map key's text, whose errors call it a map key, not an S or N value."""

    def read_key(key: str) -> Any:
        try:
            return read(key)
        except DecodeError as error:
            error.message = _FOUND_AS_VALUE.sub("got map key ", error.message, count=1)
            raise

    return read_key


_INT_KEY = re.compile(r"[+-]?[0-9]+")


def _int_key(text: str) -> int:
    """A map key as an ``int``: digits with an optional sign only. Map keys are
    text that DynamoDB keeps as written, so ``"1.0"`` or ``"1e0"`` (which
    ``int()`` and dataclasses-json refuse) is not taken for ``1``."""
    if _INT_KEY.fullmatch(text):
        return parse_int(text)
    raise number_error("int", text, "not written as an integer")


def key_reader(key_type: Any, where: str, plan: PlanOf) -> Callable | None:
    """The function of a map key's text for ``key_type``; None for ``str`` keys."""
    key_type = unwrap_new_type(key_type)
    if key_type in (str, Any, object) or isinstance(key_type, TypeVar):
        return None
    if key_type is int:
        return _map_key(_int_key)
    if key_type in (float, Decimal) or (isinstance(key_type, type) and issubclass(key_type, Enum)):
        read = plan(key_type, where).handlers
        by_text = read.get("S") or read.get("N")
        if by_text is None:
            raise TypeError(
                f"{where}: cannot decode map keys of type {type_name(key_type)}: map keys "
                "are text, and its values are neither text nor numbers"
            )
        return _map_key(by_text)
    if key_type is uuid.UUID:
        return _map_key(read_uuid)
    raise TypeError(f"{where}: cannot decode map keys of type {type_name(key_type)}")
