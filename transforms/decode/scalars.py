"""Scalars: ``str``, ``int``, ``float``, ``Decimal``, ``bool``, ``bytes``, ``UUID``.

Numbers arrive as DynamoDB's N text and are parsed strictly: only the
characters a number can hold, no NaN or Infinity, integers only where an
``int`` is expected (``"3.0"`` and ``"3e2"`` are integers, ``"3.5"`` is not),
floats only within range. Every refusal is an ``InvalidNumber``
:class:`~transforms.decode.errors.DecodeError`; a bad UUID is an ``InvalidValue``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from transforms.decode.errors import DecodeError, short

__all__ = [
    "MAX_INT_EXPONENT",
    "NUMBER_CHARS",
    "SCALARS",
    "number_error",
    "parse_decimal",
    "parse_float",
    "parse_int",
    "parse_json_number",
    "read_uuid",
    "scalar_subclass",
]

NUMBER_CHARS = "0123456789.eE+-"
MAX_INT_EXPONENT = 400


def number_error(expected: str, text: Any, why: str) -> DecodeError:
    return DecodeError("InvalidNumber", f"expected {expected}, got N {short(repr(text))} ({why})")


def parse_decimal(text: str, expected: str = "Decimal") -> Decimal:
    """N text as an exact Decimal; NaN, Infinity, spaces, underscores refused."""
    if not text.strip(NUMBER_CHARS):
        try:
            return Decimal(text)
        except InvalidOperation:
            pass
    raise number_error(expected, text, "not a number")


def parse_int(text: str) -> int:
    """N text as an ``int``: integral values only, exponents up to
    :data:`MAX_INT_EXPONENT`."""
    if text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
        try:
            return int(text)
        except ValueError:
            raise number_error("int", text, "too many digits") from None
    number = parse_decimal(text, "int")
    if number.adjusted() > MAX_INT_EXPONENT:
        raise number_error("int", text, "out of range")
    if number != number.to_integral_value():
        raise number_error("int", text, "not an integer")
    return int(number)


def parse_float(text: str, expected: str = "float") -> float:
    """N text as a finite ``float``."""
    if not text.strip(NUMBER_CHARS):
        try:
            value = float(text)
        except ValueError:
            pass
        else:
            if value - value == 0.0:
                return value
            raise number_error(expected, text, "out of range for float")
    raise number_error(expected, text, "not a number")


def parse_json_number(text: str, expected: str) -> int | float:
    """The number as ``json.loads`` would read it: int unless it has a point
    or an exponent."""
    if text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
        return int(text)
    return parse_float(text, expected)


def read_uuid(text: str) -> uuid.UUID:
    """S text as a ``UUID``."""
    try:
        return uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        raise DecodeError("InvalidValue", f"expected UUID, got S {short(repr(text))}") from None


def scalar_subclass(read: Callable | None, tp: type) -> Callable:
    """The payload function for a subclass ``tp`` of a scalar type read by ``read``."""
    if read is None:
        return tp
    return lambda payload: tp(read(payload))


def _payload_of_type(tag: str, expected: type) -> Callable[[Any], Any]:
    """The payload function of a tag whose payload is the value itself, once
    it is of the ``expected`` type (botocore passes any JSON value on)."""

    def read(payload: Any) -> Any:
        if type(payload) is expected:
            return payload
        raise TypeError(f"{tag} holds {type(payload).__name__}, not {expected.__name__}")

    read.payload_type = expected
    return read


read_text = _payload_of_type("S", str)
read_binary = _payload_of_type("B", bytes)
read_bool = _payload_of_type("BOOL", bool)


SCALARS: dict[type, tuple[str, Callable | None]] = {
    str: ("S", read_text),
    bytes: ("B", read_binary),
    bool: ("BOOL", read_bool),
    int: ("N", parse_int),
    float: ("N", parse_float),
    Decimal: ("N", parse_decimal),
}
"""Each scalar type's wire tag and payload function. Where the payload is the
value (S, B, BOOL), the function only checks its type; the fast path
(:mod:`transforms.decode.wire_structs`), whose parser checks it already,
takes the payload as is."""
