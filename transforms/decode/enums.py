"""Closed sets of values: ``Enum`` members and ``Literal[...]`` values.

A member is read from its value's wire form: S for text, N for numbers
(compared as numbers, so ``"2"``, ``"2.0"`` and ``"2e0"`` all match 2), BOOL
and B. A value outside the set is an ``InvalidEnum`` failure, unless the Enum
defines its own ``_missing_`` hook and that accepts the plain value.
Numeric ``Literal`` values come back as the literal's own ``int`` or ``float``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from enum import Enum, Flag
from typing import Any

from transforms.decode.errors import DecodeError, describe, short, type_name
from transforms.decode.plain import plain
from transforms.decode.plans import ABSENT, Plan
from transforms.decode.scalars import parse_decimal

__all__ = ["enum_plan", "literal_plan", "member_key", "value_plan"]


def member_key(value: Any) -> Any:
    """The value an Enum member (or a plain literal value) is read from."""
    return value.value if isinstance(value, Enum) else value


def _first_of_each(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    """``{key: result}`` keeping the first of keys that compare equal (``1``, ``1.0``)."""
    found: dict[Any, Any] = {}
    for key, result in pairs:
        found.setdefault(key, result)
    return found


def value_plan(values: list[tuple[Any, Any]], expected: str, fallback: Callable | None) -> Plan:
    """A plan for a closed set of values (Enum members, Literal values).

    ``values`` pairs each accepted Python value with the result, in order
    (a list, since ``1``, ``1.0`` and ``True`` are one key of a dict: each
    is read from its own wire type here); ``fallback`` is tried with the
    plain value when no entry matches (an Enum's ``_missing_``, a Flag's
    combinations).
    """
    by_text = _first_of_each([(key, result) for key, result in values if type(key) is str])
    by_number = _first_of_each(
        [
            (key, result)
            for key, result in values
            if isinstance(key, (int, float, Decimal)) and not isinstance(key, bool)
        ]
    )
    by_number_text = _first_of_each([(str(key), result) for key, result in by_number.items()])
    by_bool = _first_of_each([(key, result) for key, result in values if isinstance(key, bool)])
    by_bytes = _first_of_each([(key, result) for key, result in values if type(key) is bytes])
    shown = ", ".join(repr(key) for key, _ in values)
    nullable = any(key is None for key, _ in values)

    def refuse(tag, payload):
        if fallback is not None:
            try:
                return fallback(plain({tag: payload}))
            except Exception:  # whatever the hook raises (a KeyError of cls[name]...)
                pass
        raise DecodeError(
            "InvalidEnum",
            f"expected one of {expected} ({short(shown)}), got {describe({tag: payload})}",
        )

    def read_text(text):
        try:
            return by_text[text]
        except KeyError:
            return refuse("S", text)

    def read_number(text):
        try:
            return by_number_text[text]
        except KeyError:
            pass
        number = parse_decimal(text, expected)
        result = by_number.get(number, ABSENT)
        if result is ABSENT and number.is_finite():
            result = by_number.get(float(number), ABSENT)
        return refuse("N", text) if result is ABSENT else result

    def read_bool(flag):
        try:
            return by_bool[flag]
        except KeyError:
            return refuse("BOOL", flag)

    def read_bytes(data):
        try:
            return by_bytes[data]
        except (KeyError, TypeError):
            return refuse("B", data)

    handlers: dict[str, Callable | None] = {}
    if by_text or fallback is not None:
        handlers["S"] = read_text
    if by_number or fallback is not None:
        handlers["N"] = read_number
    if by_bool or fallback is not None:
        handlers["BOOL"] = read_bool
    if by_bytes or fallback is not None:
        handlers["B"] = read_bytes
    return Plan(handlers, expected, nullable)


def enum_plan(enum_type: type) -> Plan:
    """The plan of an Enum: its members by value, then its own ``_missing_``;
    a ``Flag`` (``IntFlag``) also takes any combination of its members by number."""
    values = [(member.value, member) for member in enum_type]
    custom_missing = getattr(enum_type._missing_, "__func__", None) is not Enum._missing_.__func__
    fallback = enum_type if custom_missing else None
    if issubclass(enum_type, Flag):
        fallback = functools.partial(_flag_of, enum_type)
    return value_plan(values, enum_type.__qualname__, fallback)


def _flag_of(flag_type: type, value: Any) -> Any:
    """``flag_type(value)``, a whole number as an int: the combination of members
    it stands for (or what the Flag's own ``_missing_`` makes of it)."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = int(value)
    return flag_type(value)


def literal_plan(tp: Any, args: tuple[Any, ...]) -> Plan:
    """The plan of ``Literal[args]``."""
    values = [(member_key(value), value) for value in args]
    return value_plan(values, type_name(tp), None)
