"""Strict, compiled decoding of DynamoDB wire-format items into dataclasses.

An item is what DynamoDB's low-level API returns: attribute names mapped to
tagged values, ``{"id": {"S": "w1"}, "n": {"N": "3"}, "b": {"B": b"..."}}``,
numbers as text and binary values as ``bytes``. :func:`compile_decoder` reads a
dataclass declared with dataclasses-json once (type hints, letter case,
``config(...)`` metadata) and returns a function ``item -> instance`` built
from one small converter per field, so decoding an item does no generic
deserialise-then-``from_dict`` pass::

    decode = compile_decoder(Work)               # once, e.g. in DoFn.setup()
    work = decode({"id": {"S": "w1"}, "title": {"S": "Dune"}, ...})

Contract
--------
On every valid item the result equals ``Model.from_dict(plain)``, where
``plain`` is the item passed through boto3's ``TypeDeserializer``, apart from
the deliberate differences listed below. Everything that does not fit the
model raises :class:`DecodeError` naming the kind of failure, the path of the
failing attribute in the item's own names (``contributors[2].agent.bornYear``:
dots between attributes, ``[i]`` for list and set positions, map keys as
attributes) and a message saying what was expected and what was found.

Wire values are taken as boto3 returns them: a one-key dict whose tag decides
the type; payloads are not re-checked against their tag.

Types
-----
==========================  ====================================================
field type                  accepted wire values
==========================  ====================================================
``str``                     S
``int``                     N holding an integer ("3", "3.0", "3e2"; not "3.5")
``float``                   N within float range ("1e400" is refused)
``Decimal``                 N, exactly (all 38 digits)
``bool``                    BOOL (never N)
``bytes``                   B, as ``bytes``
``datetime``                S in ISO-8601 (``datetime.fromisoformat``), or N
                            epoch seconds (``datetime.fromtimestamp`` in the
                            local time zone as of compiling, as dataclasses-json
                            decodes the numbers its ``to_json`` writes)
``date``                    S in ISO-8601, or N epoch seconds (local date)
``UUID``                    S
``Enum``                    the member's value: S, N or BOOL
``Literal[...]``            one of the literal values
``list``/``List[T]``,       L, or SS/NS/BS when T takes S/N/B (wire order kept);
``Sequence[T]``, ``tuple``  abstract sequences become tuples, as in dataclasses-json
``set``/``Set[T]``,         SS/NS/BS or L
``frozenset``
``dict``/``Dict[K, V]``     M; K is str, int, float, Decimal, UUID or an Enum
nested dataclass            M, decoded with that class's own configuration
``Optional[T]``             NULL or T
``Union[A, B, ...]``        the first member that decodes the value wins
``Any``, ``object``         any value, as boto3's ``TypeDeserializer`` gives it
                            except that binary stays ``bytes``
==========================  ====================================================

Missing attributes take the field's default or ``default_factory``; fields
declared with ``field(init=False)`` are never read. ``InitVar`` parameters are
read from the attribute of their (letter-cased) name, or take their default.
Field names follow dataclasses-json: the class's ``letter_case``, a field's
``config(letter_case=...)`` or ``config(field_name=...)``; as in ``from_dict``,
an attribute spelled with the Python field name is accepted when the mapped
name is absent. ``config(exclude=...)`` only affects encoding. A custom
``config(decoder=fn)`` (or a decoder registered in dataclasses-json's global
config, read at compile time) receives the attribute's plain Python value, and
is skipped when that value already has the field's type, as in ``from_dict``.

Unknown attributes are ignored, unless ``forbid_unknown=True`` or the class
says ``Undefined.RAISE``. ``Undefined.INCLUDE`` collects them (as plain
values) into the class's ``CatchAll`` field; ``forbid_unknown`` does not apply
to such a class.

Error kinds (``DecodeError.error_type``)
----------------------------------------
``MissingField``    a required attribute is absent
``TypeMismatch``    the wire type does not fit the field (or is malformed)
``NullNotAllowed``  NULL in a field that is not Optional
``InvalidNumber``   N that is not a number, not an integer for an int field, or
                    out of range for a float
``InvalidDate``     text or number that is not a valid date or datetime
``InvalidEnum``     a value outside an Enum or Literal
``InvalidValue``    any other refused value: a bad UUID, a tuple of the wrong
                    length, the model's own ``__post_init__`` raising
``UnknownField``    an attribute the model does not declare, when forbidden
``DecoderFailed``   a custom decoder raised

Deliberate differences from ``from_dict``
-----------------------------------------
* Values are never coerced across types: ``from_dict`` turns S "3" into an int,
  S "false" into ``True`` and N 3 into the str "3"; these are TypeMismatch here.
  "3.5" into an int field is refused where ``int()`` would truncate it.
* NULL in a field that is not Optional is refused; ``from_dict`` only warns.
* ``datetime`` fields: ``from_dict`` cannot decode DynamoDB numbers (it calls
  ``datetime.fromtimestamp`` on a ``Decimal``, a TypeError) nor ISO text; here N
  gives what ``from_json`` gives for the same number, and S is ISO-8601.
* ``date`` fields get a ``date``; ``from_dict`` leaves the text.
* Binary values are ``bytes``. boto3 deserialises them to ``Binary`` objects,
  which ``from_dict`` cannot decode into a bytes field (it iterates them, a
  TypeError); given plain ``bytes`` it returns the same bytes as here. Custom
  decoders and ``Any`` fields receive ``bytes`` too.
* Members of a ``Union`` other than ``Optional`` are decoded strictly and the
  first that fits wins; ``from_dict`` leaves non-map values undecoded and may
  pick an earlier dataclass member because it does not check types.
* Sets decoded into list fields keep DynamoDB's order; ``from_dict`` goes
  through a Python set, whose order is arbitrary.
* Numeric ``Literal`` values come back as the literal's own ``int`` or ``float``,
  not as ``Decimal`` (they compare equal).
* ``InitVar`` parameters are read from the item; ``from_dict`` never passes
  them (their default applies, and without one it raises a TypeError).
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import threading
import types
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import (
    Any,
    Literal,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from dataclasses_json import CatchAll, Undefined
from dataclasses_json import cfg as dataclasses_json_cfg

__all__ = ["DecodeError", "compile_decoder"]

Wire = Mapping[str, Any]
Item = Mapping[str, Wire]


class DecodeError(ValueError):
    """An item does not fit the model.

    ``error_type`` is one short CamelCase kind (see the module docstring),
    ``field`` the path of the failing attribute in the item's own names
    (``contributors[2].agent.bornYear``) or None for the item as a whole, and
    ``message`` says what was expected and what was found.
    """

    def __init__(self, error_type: str, message: str, field: str | None = None):
        super().__init__(error_type, message, field)
        self.error_type = error_type
        self.message = message
        self.field = field

    @property
    def field(self) -> str | None:
        """Attribute names joined by dots, list and set positions as ``[i]``."""
        if not self._segments:
            return None
        parts = []
        for segment in reversed(self._segments):
            if isinstance(segment, int):
                parts.append(f"[{segment}]")
            else:
                parts.append(f".{segment}" if parts else segment)
        return "".join(parts)

    @field.setter
    def field(self, path: str | None) -> None:
        self._segments: list[str | int] = [] if path is None else [path]

    def __str__(self) -> str:
        if self.field is None:
            return f"{self.error_type}: {self.message}"
        return f"{self.error_type} at {self.field}: {self.message}"

    def __reduce__(self):
        return type(self), (self.error_type, self.message, self.field)


def _within(error: DecodeError, segment: str | int) -> DecodeError:
    """Puts an attribute name, or an ``int`` list position, in front of the
    error's path as the error leaves that attribute or element."""
    error._segments.append(segment)
    return error


# ---------------------------------------------------------------- messages

_SHORT = 60


def _short(text: str) -> str:
    return text if len(text) <= _SHORT else text[: _SHORT - 3] + "..."


def _describe(wire: Any) -> str:
    """A short description of a wire value, for messages: ``S 'abc'``."""
    if not isinstance(wire, Mapping) or len(wire) != 1:
        return f"malformed value {_short(repr(wire))}"
    ((tag, payload),) = wire.items()
    if tag in ("S", "N"):
        return f"{tag} {_short(repr(payload))}"
    if tag == "BOOL":
        return f"BOOL {payload!r}"
    if tag == "NULL":
        return "NULL"
    if tag == "B":
        return f"B of {len(payload)} bytes"
    if tag == "M":
        return f"M with keys {_short(', '.join(map(str, payload)))}"
    if tag in ("L", "SS", "NS", "BS"):
        return f"{tag} of {len(payload)} elements"
    return f"unknown type {_short(repr(tag))}"


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and get_origin(tp) is None:
        return tp.__qualname__
    return repr(tp).replace("typing.", "").replace("collections.abc.", "")


def _unexpected(wire: Any, expected: str, nullable: bool) -> None:
    """The wire value has none of the accepted tags: None for a NULL where
    allowed, otherwise the error."""
    if isinstance(wire, dict) and len(wire) == 1 and "NULL" in wire:
        if nullable:
            return None
        raise DecodeError("NullNotAllowed", f"expected {expected}, got NULL")
    raise DecodeError("TypeMismatch", f"expected {expected}, got {_describe(wire)}")


# ---------------------------------------------------------------- numbers

_NUMBER_CHARS = "0123456789.eE+-"
_MAX_INT_EXPONENT = 400


def _number_error(expected: str, text: Any, why: str) -> DecodeError:
    return DecodeError("InvalidNumber", f"expected {expected}, got N {_short(repr(text))} ({why})")


def _parse_decimal(text: str, expected: str = "Decimal") -> Decimal:
    """N text as an exact Decimal; NaN, Infinity, spaces, underscores refused."""
    if not text.strip(_NUMBER_CHARS):
        try:
            return Decimal(text)
        except InvalidOperation:
            pass
    raise _number_error(expected, text, "not a number")


def _parse_int(text: str) -> int:
    if text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
        try:
            return int(text)
        except ValueError:
            raise _number_error("int", text, "too many digits") from None
    number = _parse_decimal(text, "int")
    if number.adjusted() > _MAX_INT_EXPONENT:
        raise _number_error("int", text, "out of range")
    if number != number.to_integral_value():
        raise _number_error("int", text, "not an integer")
    return int(number)


def _parse_float(text: str, expected: str = "float") -> float:
    if not text.strip(_NUMBER_CHARS):
        try:
            value = float(text)
        except ValueError:
            pass
        else:
            if value - value == 0.0:
                return value
            raise _number_error(expected, text, "out of range for float")
    raise _number_error(expected, text, "not a number")


def _parse_json_number(text: str, expected: str) -> int | float:
    """The number as ``json.loads`` would read it: int unless it has a point
    or an exponent."""
    if text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
        return int(text)
    return _parse_float(text, expected)


# ---------------------------------------------------------------- plans


class _Plan:
    """How one Python type is read from the wire.

    ``handlers`` maps each accepted tag to a function of the payload, or to
    None when the payload is the value itself. NULL is accepted, as None, only
    when ``nullable``. ``expected`` names the type in messages.
    """

    __slots__ = ("expected", "handlers", "nullable")

    def __init__(self, handlers: dict[str, Callable | None], expected: str, nullable: bool = False):
        self.handlers = handlers
        self.expected = expected
        self.nullable = nullable

    def or_null(self) -> _Plan:
        return _Plan(self.handlers, f"{self.expected} or NULL", True)

    def primary(self) -> tuple[str, Callable | None]:
        """The first accepted tag and its payload function: the fast path
        that decoders try before the full converter."""
        for tag, read in self.handlers.items():
            return tag, read
        return "NULL", _none


def _none(payload: Any) -> None:
    return None


def _converter(plan: _Plan) -> Callable[[Wire], Any]:
    """The function wire value -> Python value for a plan."""
    handlers, expected, nullable = plan.handlers, plan.expected, plan.nullable
    if len(handlers) == 1:
        ((tag, read),) = handlers.items()

        def convert(wire):
            try:
                payload = wire.get(tag)
            except AttributeError:
                payload = None
            if payload is None:
                return _unexpected(wire, expected, nullable)
            return payload if read is None else read(payload)

        return convert

    def convert(wire):
        try:
            ((tag, payload),) = wire.items()
            read = handlers[tag]
        except (KeyError, TypeError, ValueError, AttributeError):
            return _unexpected(wire, expected, nullable)
        return payload if read is None else read(payload)

    return convert


_RETRY = (KeyError, TypeError, AttributeError, DecodeError)


def _each(values: Any, convert: Callable) -> list:
    """Converts every element; a failure names the element's position."""
    out = []
    for index, value in enumerate(values):
        try:
            out.append(convert(value))
        except DecodeError as error:
            _within(error, index)
            raise
        except (KeyError, TypeError, AttributeError) as error:
            raise _within(_malformed(value, error), index) from error
    return out


def _each_value(mapping: Any, convert: Callable, convert_key: Callable | None) -> dict:
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
            _within(error, str(key))
            raise
        except (KeyError, TypeError, AttributeError) as error:
            raise _within(_malformed(value, error), str(key)) from error
    return out


def _malformed(wire: Any, error: Exception) -> DecodeError:
    return DecodeError("TypeMismatch", f"malformed value {_describe(wire)} ({error})")


def _read_list(element: _Plan, build: Callable) -> Callable[[list], Any]:
    """Payload function for L: each element decoded by ``element``."""
    convert = _converter(element)
    tag, read = element.primary()
    if read is None:

        def read_list(payload):
            try:
                values = [wire[tag] for wire in payload]
            except _RETRY:
                values = _each(payload, convert)
            return values if build is list else build(values)

    else:

        def read_list(payload):
            try:
                values = [read(wire[tag]) for wire in payload]
            except _RETRY:
                values = _each(payload, convert)
            return values if build is list else build(values)

    return read_list


def _read_set(read: Callable | None, build: Callable) -> Callable[[list], Any]:
    """Payload function for SS/NS/BS: ``read`` applied to each bare element."""
    if read is None:
        return build

    def read_set(payload):
        try:
            values = [read(value) for value in payload]
        except DecodeError:
            values = _each(payload, read)
        return values if build is list else build(values)

    return read_set


def _read_map(value: _Plan, convert_key: Callable | None) -> Callable[[dict], dict]:
    """Payload function for M into a dict: keys by ``convert_key``, values by ``value``."""
    convert = _converter(value)
    tag, read = value.primary()
    if convert_key is not None:

        def read_map(payload):
            try:
                return {convert_key(key): convert(wire) for key, wire in payload.items()}
            except _RETRY:
                return _each_value(payload, convert, convert_key)

    elif read is None:

        def read_map(payload):
            try:
                return {key: wire[tag] for key, wire in payload.items()}
            except _RETRY:
                return _each_value(payload, convert, None)

    else:

        def read_map(payload):
            try:
                return {key: read(wire[tag]) for key, wire in payload.items()}
            except _RETRY:
                return _each_value(payload, convert, None)

    return read_map


_ANY = _Plan(
    {
        "S": None,
        "N": _parse_decimal,
        "B": None,
        "BOOL": None,
        "L": lambda payload: _ANY_LIST(payload),
        "M": lambda payload: _ANY_MAP(payload),
        "SS": set,
        "NS": _read_set(_parse_decimal, set),
        "BS": set,
    },
    "any value",
    nullable=True,
)
_plain = _converter(_ANY)
_ANY_LIST = _read_list(_ANY, list)
_ANY_MAP = _read_map(_ANY, None)


def _read_datetime_text(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except (ValueError, TypeError) as error:
        raise DecodeError(
            "InvalidDate", f"expected ISO-8601 datetime, got S {_short(repr(text))} ({error})"
        ) from None


def _read_date_text(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except (ValueError, TypeError) as error:
        raise DecodeError(
            "InvalidDate", f"expected ISO-8601 date, got S {_short(repr(text))} ({error})"
        ) from None


def _read_epoch(text: str, make: Callable, expected: str):
    seconds = _parse_json_number(text, expected)
    try:
        return make(seconds)
    except (OverflowError, OSError, ValueError) as error:
        raise DecodeError(
            "InvalidDate",
            f"expected {expected} epoch seconds, got N {_short(repr(text))} ({error})",
        ) from None


def _read_uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        raise DecodeError("InvalidValue", f"expected UUID, got S {_short(repr(text))}") from None


def _local_timezone():
    """The local zone as dataclasses-json uses it for epoch numbers."""
    return datetime.now(timezone.utc).astimezone().tzinfo


def _datetime_plan() -> _Plan:
    zone = _local_timezone()

    def read_epoch(text):
        return _read_epoch(
            text, lambda seconds: datetime.fromtimestamp(seconds, tz=zone), "datetime"
        )

    return _Plan({"S": _read_datetime_text, "N": read_epoch}, "datetime")


def _date_plan() -> _Plan:
    def read_epoch(text):
        return _read_epoch(text, date.fromtimestamp, "date")

    return _Plan({"S": _read_date_text, "N": read_epoch}, "date")


def _scalar_subclass(read: Callable | None, tp: type) -> Callable:
    if read is None:
        return tp
    return lambda payload: tp(read(payload))


_SCALARS: dict[type, tuple[str, Callable | None]] = {
    str: ("S", None),
    bytes: ("B", None),
    bool: ("BOOL", None),
    int: ("N", _parse_int),
    float: ("N", _parse_float),
    Decimal: ("N", _parse_decimal),
}

_SEQUENCES: dict[Any, Callable] = {
    list: list,
    abc.MutableSequence: list,
    tuple: tuple,
    abc.Sequence: tuple,
    abc.Collection: tuple,
}
_SETS: dict[Any, Callable] = {
    set: set,
    abc.MutableSet: set,
    frozenset: frozenset,
    abc.Set: frozenset,
}
_MAPPINGS = {dict, abc.Mapping, abc.MutableMapping}
_SET_TAGS = (("SS", "S"), ("NS", "N"), ("BS", "B"))
_UNION_TYPES = (Union, types.UnionType)

_ABSENT = object()


def _is_hashable_type(tp: Any) -> bool:
    return not (isinstance(tp, type) and getattr(tp, "__hash__", None) is None)


def _member_key(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _value_plan(values: dict[Any, Any], expected: str, fallback: Callable | None) -> _Plan:
    """A plan for a closed set of values (Enum members, Literal values).

    ``values`` maps each accepted Python value to the result; ``fallback`` is
    tried with the plain value when no entry matches (an Enum's ``_missing_``).
    """
    by_text = {key: result for key, result in values.items() if type(key) is str}
    by_number = {
        key: result
        for key, result in values.items()
        if isinstance(key, (int, float, Decimal)) and not isinstance(key, bool)
    }
    by_number_text = {str(key): result for key, result in by_number.items()}
    by_bool = {key: result for key, result in values.items() if isinstance(key, bool)}
    by_bytes = {key: result for key, result in values.items() if type(key) is bytes}
    shown = ", ".join(repr(key) for key in values)
    nullable = None in values

    def refuse(tag, payload):
        if fallback is not None:
            try:
                return fallback(_plain({tag: payload}))
            except (ValueError, TypeError, DecodeError):
                pass
        raise DecodeError(
            "InvalidEnum",
            f"expected one of {expected} ({_short(shown)}), got {_describe({tag: payload})}",
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
        number = _parse_decimal(text, expected)
        result = by_number.get(number, _ABSENT)
        if result is _ABSENT and number.is_finite():
            result = by_number.get(float(number), _ABSENT)
        return refuse("N", text) if result is _ABSENT else result

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
    return _Plan(handlers, expected, nullable)


def _first_that_decodes(
    candidates: list[tuple[str, Callable | None]], expected: str, tag: str
) -> Callable:
    """Payload function trying each Union member accepting ``tag``, in order."""

    def read(payload):
        failures = []
        for name, read_member in candidates:
            if read_member is None:
                return payload
            try:
                return read_member(payload)
            except DecodeError as error:
                failures.append(f"as {name}: {error}")
        raise DecodeError(
            "TypeMismatch",
            f"expected {expected}, got {_describe({tag: payload})}; " + "; ".join(failures),
        )

    return read


def _custom_plan(decoder: Callable, field_type: Any, skip_same_type: bool, nullable: bool) -> _Plan:
    """A field with a custom decoder: the plain value goes to ``decoder``."""
    name = _short(getattr(decoder, "__qualname__", None) or repr(decoder))

    def apply(value):
        if skip_same_type and type(value) is field_type:
            return value
        try:
            return decoder(value)
        except Exception as error:
            kind = type(error).__name__
            raise DecodeError(
                "DecoderFailed", f"custom decoder {name} raised {kind}: {_short(str(error))}"
            ) from error

    def reader(read_plain):
        if read_plain is None:
            return apply
        return lambda payload: apply(read_plain(payload))

    handlers = {tag: reader(read_plain) for tag, read_plain in _ANY.handlers.items()}
    return _Plan(handlers, f"{_type_name(field_type)} (custom decoder)", nullable)


def _is_optional(tp: Any) -> bool:
    return tp is Any or (get_origin(tp) in _UNION_TYPES and type(None) in get_args(tp))


def _unwrap_new_type(tp: Any) -> Any:
    while hasattr(tp, "__supertype__"):
        tp = tp.__supertype__
    return tp


def _hints(cls: type) -> dict[str, Any]:
    try:
        return get_type_hints(cls)
    except Exception as error:
        raise TypeError(f"cannot resolve the type hints of {cls.__qualname__}: {error}") from error


class _Compiler:
    """Builds the plans of one model and of every dataclass it reaches."""

    def __init__(self, forbid_unknown: bool):
        self.forbid_unknown = forbid_unknown
        self.global_decoders = dict(dataclasses_json_cfg.global_config.decoders)
        self.decoders: dict[type, Callable] = {}
        self.pending: dict[type, list] = {}

    # -- types

    def plan(self, tp: Any, where: str) -> _Plan:
        tp = _unwrap_new_type(tp)
        try:
            decoder = self.global_decoders.get(tp)
        except TypeError:
            decoder = None
        if decoder is not None:
            return _custom_plan(decoder, tp, skip_same_type=False, nullable=_is_optional(tp))
        if tp is Any or tp is object or isinstance(tp, TypeVar):
            return _ANY
        origin, args = get_origin(tp), get_args(tp)
        if origin in _UNION_TYPES:
            return self.union_plan(tp, args, where)
        if origin is Literal:
            values = {_member_key(value): value for value in args}
            return _value_plan(values, _type_name(tp), None)
        if origin is not None:
            return self.generic_plan(tp, origin, args, where)
        if not isinstance(tp, type):
            raise TypeError(f"{where}: cannot decode type {tp!r}")
        if dataclasses.is_dataclass(tp):
            return _Plan({"M": self.dataclass_decoder(tp)}, tp.__qualname__)
        if issubclass(tp, Enum):
            return self.enum_plan(tp)
        if tp in _SCALARS:
            tag, read = _SCALARS[tp]
            return _Plan({tag: read}, tp.__qualname__)
        if issubclass(tp, datetime):
            return _datetime_plan()
        if issubclass(tp, date):
            return _date_plan()
        if issubclass(tp, uuid.UUID):
            return _Plan({"S": _read_uuid}, "UUID")
        for base in (bool, int, float, Decimal, str, bytes):
            if issubclass(tp, base):
                tag, read = _SCALARS[base]
                return _Plan({tag: _scalar_subclass(read, tp)}, tp.__qualname__)
        if tp in _SEQUENCES or tp in _SETS or tp in _MAPPINGS:
            return self.generic_plan(tp, tp, (), where)
        raise TypeError(
            f"{where}: cannot decode type {_type_name(tp)}; give the field a decoder "
            "with dataclasses_json.config(decoder=...)"
        )

    def union_plan(self, tp: Any, args: tuple[Any, ...], where: str) -> _Plan:
        members = [arg for arg in args if arg is not type(None)]
        nullable = len(members) < len(args)
        if len(members) == 1:
            plan = self.plan(members[0], where)
            return plan.or_null() if nullable and not plan.nullable else plan
        plans = [self.plan(member, where) for member in members]
        expected = " | ".join(plan.expected for plan in plans)
        handlers: dict[str, Callable | None] = {}
        for plan in plans:
            for tag in plan.handlers:
                if tag in handlers:
                    continue
                candidates = [
                    (other.expected, other.handlers[tag])
                    for other in plans
                    if tag in other.handlers
                ]
                if len(candidates) == 1:
                    handlers[tag] = candidates[0][1]
                else:
                    handlers[tag] = _first_that_decodes(candidates, expected, tag)
        nullable = nullable or any(plan.nullable for plan in plans)
        return _Plan(handlers, expected + (" or NULL" if nullable else ""), nullable)

    def generic_plan(self, tp: Any, origin: Any, args: tuple[Any, ...], where: str) -> _Plan:
        expected = _type_name(tp)
        if origin in _MAPPINGS:
            key_type, value_type = args if len(args) == 2 else (Any, Any)
            value = self.plan(value_type, where)
            return _Plan({"M": _read_map(value, self.key_reader(key_type, where))}, expected)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return self.fixed_tuple_plan(args, expected, where)
        if origin in _SEQUENCES:
            element_type = args[0] if args else Any
            build = _SEQUENCES[origin]
        elif origin in _SETS:
            element_type = args[0] if args else Any
            if not _is_hashable_type(element_type):
                raise TypeError(
                    f"{where}: set elements of type {_type_name(element_type)} are not hashable"
                )
            build = _SETS[origin]
        else:
            raise TypeError(f"{where}: cannot decode type {expected}")
        element = self.plan(element_type, where)
        handlers: dict[str, Callable | None] = {"L": _read_list(element, build)}
        for set_tag, scalar_tag in _SET_TAGS:
            if scalar_tag in element.handlers:
                handlers[set_tag] = _read_set(element.handlers[scalar_tag], build)
        return _Plan(handlers, expected)

    def fixed_tuple_plan(self, args: tuple[Any, ...], expected: str, where: str) -> _Plan:
        converts = [_converter(self.plan(arg, where)) for arg in args]
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
                    _within(error, index)
                    raise
            return tuple(values)

        return _Plan({"L": read_tuple}, expected)

    def key_reader(self, key_type: Any, where: str) -> Callable | None:
        key_type = _unwrap_new_type(key_type)
        if key_type in (str, Any, object) or isinstance(key_type, TypeVar):
            return None
        if key_type in (int, float, Decimal) or (
            isinstance(key_type, type) and issubclass(key_type, Enum)
        ):
            read = self.plan(key_type, where).handlers
            return read.get("S") or (lambda key: read["N"](key))
        if key_type is uuid.UUID:
            return _read_uuid
        raise TypeError(f"{where}: cannot decode map keys of type {_type_name(key_type)}")

    def enum_plan(self, enum_type: type) -> _Plan:
        values = {member.value: member for member in enum_type}
        custom_missing = (
            getattr(enum_type._missing_, "__func__", None) is not Enum._missing_.__func__
        )
        return _value_plan(values, enum_type.__qualname__, enum_type if custom_missing else None)

    # -- dataclasses

    def dataclass_decoder(self, cls: type) -> Callable[[Item], Any]:
        """The function attribute map -> instance of ``cls`` (memoised, and
        lazy for a class that refers to itself)."""
        if cls in self.decoders:
            return self.decoders[cls]
        if cls in self.pending:
            cell = self.pending[cls]
            return lambda attrs: cell[0](attrs)
        cell = self.pending[cls] = []
        decoder = self.build_dataclass_decoder(cls)
        cell.append(decoder)
        self.decoders[cls] = decoder
        del self.pending[cls]
        return decoder

    def build_dataclass_decoder(self, cls: type) -> Callable[[Item], Any]:
        hints = _hints(cls)
        class_config = getattr(cls, "dataclass_json_config", None) or {}
        undefined = class_config.get("undefined")
        plan = []
        known = set()
        catch_all = None
        for spec in dataclasses.fields(cls):
            options = {}
            try:
                if spec.type in self.global_decoders:
                    options["decoder"] = self.global_decoders[spec.type]
            except TypeError:
                pass
            options.update(class_config)
            options.update(spec.metadata.get("dataclasses_json", {}))
            attr = _attribute_name(spec.name, options.get("letter_case"))
            known.update((attr, spec.name))
            if not spec.init:
                continue
            tp = _unwrap_new_type(hints[spec.name])
            where = f"{cls.__qualname__}.{spec.name}"
            if undefined is Undefined.INCLUDE and tp == CatchAll:
                catch_all = (spec, attr)
                continue
            decoder = options.get("decoder")
            if decoder is not None:
                nullable = _is_optional(tp)
                field_plan = _custom_plan(decoder, tp, skip_same_type=True, nullable=nullable)
            else:
                field_plan = self.plan(tp, where)
            plan.append(_field_step(spec, attr, field_plan, _type_name(tp)))
        for spec in cls.__dataclass_fields__.values():
            hint = hints.get(spec.name)
            if isinstance(hint, dataclasses.InitVar):
                attr = _attribute_name(spec.name, class_config.get("letter_case"))
                known.update((attr, spec.name))
                where = f"{cls.__qualname__}.{spec.name}"
                field_plan = self.plan(hint.type, where)
                plan.append(_field_step(spec, attr, field_plan, _type_name(hint.type)))
        if undefined is Undefined.INCLUDE and catch_all is None:
            raise TypeError(f"{cls.__qualname__} uses Undefined.INCLUDE but has no CatchAll field")
        check_unknown = catch_all is None and (self.forbid_unknown or undefined is Undefined.RAISE)
        return _dataclass_reader(
            cls, tuple(plan), frozenset(known), check_unknown, catch_all, undefined
        )


def _attribute_name(name: str, letter_case: Callable[[str], str] | None) -> str:
    return name if letter_case is None else letter_case(name)


def _field_step(spec: dataclasses.Field, attr: str, plan: _Plan, type_name: str) -> tuple:
    """One step of a dataclass decoder: ``(attribute, field name, primary tag,
    its payload function, full converter, what to do when absent)``."""
    tag, read = plan.primary()
    return (attr, spec.name, tag, read, _converter(plan), _on_missing(spec, attr, type_name))


def _on_missing(spec: dataclasses.Field, attr: str, expected: str) -> Callable[[Item], Any]:
    """What to do when ``attr`` is absent: the Python-named attribute if the
    item has it, else ``_ABSENT`` (the dataclass default applies) or MissingField."""
    alias = spec.name if spec.name != attr else None
    required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING

    def on_missing(attrs):
        if alias is not None:
            wire = attrs.get(alias)
            if wire is not None:
                return wire
        if required:
            raise DecodeError(
                "MissingField", f"required attribute is missing (expected {expected})"
            )
        return _ABSENT

    return on_missing


def _constructor(cls: type, undefined: Any) -> Callable[..., Any]:
    """``**kwargs -> instance``. dataclasses-json wraps ``__init__`` for
    Undefined.EXCLUDE/INCLUDE to sort out unknown keyword arguments; the
    decoder passes only known ones, so it calls the dataclass's own init."""
    init = getattr(cls.__init__, "__wrapped__", None)
    if undefined not in (Undefined.EXCLUDE, Undefined.INCLUDE) or init is None:
        return cls
    new = cls.__new__

    def construct(**kwargs):
        instance = new(cls)
        init(instance, **kwargs)
        return instance

    return construct


def _dataclass_reader(
    cls: type,
    plan: tuple[tuple, ...],
    known: frozenset,
    check_unknown: bool,
    catch_all: tuple[dataclasses.Field, str] | None,
    undefined: Any,
) -> Callable[[Item], Any]:
    """The function attribute map -> instance, running the field steps in order."""
    construct = _constructor(cls, undefined)
    is_known = known.__contains__
    all_known = known.issuperset
    model = cls.__qualname__

    def collect_unknown(attrs, kwargs):
        spec, attr = catch_all
        unknown = {}
        for name, wire in attrs.items():
            if not is_known(name):
                try:
                    unknown[name] = _plain(wire)
                except DecodeError as error:
                    _within(error, name)
                    raise
        given = attrs.get(attr, attrs.get(spec.name))
        if given is not None:
            try:
                value = _plain(given)
            except DecodeError as error:
                _within(error, attr)
                raise
            if not isinstance(value, dict):
                raise DecodeError(
                    "TypeMismatch",
                    f"expected M for the catch-all field, got {_describe(given)}",
                    attr,
                )
            value.update(unknown)
        elif unknown:
            value = unknown
        elif spec.default is not dataclasses.MISSING:
            value = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            value = spec.default_factory()
        else:
            value = {}
        kwargs[spec.name] = value

    def decode(attrs):
        try:
            get = attrs.get
        except AttributeError:
            raise DecodeError(
                "TypeMismatch", f"expected a map of attributes, got {type(attrs).__name__}"
            ) from None
        kwargs = {}
        attr = None
        try:
            for attr, name, tag, read, convert, on_missing in plan:
                wire = get(attr)
                if wire is None:
                    wire = on_missing(attrs)
                    if wire is _ABSENT:
                        continue
                payload = wire.get(tag)
                if payload is None:
                    kwargs[name] = convert(wire)
                elif read is None:
                    kwargs[name] = payload
                else:
                    kwargs[name] = read(payload)
        except DecodeError as error:
            _within(error, attr)
            raise
        except (TypeError, AttributeError) as error:
            raise _within(_malformed(get(attr), error), attr) from error
        if check_unknown and not all_known(attrs):
            name = next(name for name in attrs if not is_known(name))
            raise DecodeError("UnknownField", f"attribute is not a field of {model}", name)
        if catch_all is not None:
            collect_unknown(attrs, kwargs)
        try:
            return construct(**kwargs)
        except DecodeError:
            raise
        except (TypeError, ValueError) as error:
            raise DecodeError(
                "InvalidValue", f"{model} refused the values: {_short(str(error))}"
            ) from error

    decode.__qualname__ = f"decode_{model}"
    return decode


_CACHE: dict[tuple[type, bool], Callable[[Item], Any]] = {}
_CACHE_LOCK = threading.Lock()


def compile_decoder(model: type, *, forbid_unknown: bool = False) -> Callable[[Item], Any]:
    """Builds, once per ``(model, forbid_unknown)``, the function
    ``item -> model instance`` for wire-format items; it raises
    :class:`DecodeError` for an item that does not fit.

    Type hints are resolved and field names mapped here, so a model whose
    types cannot be decoded fails now, with a TypeError naming the field.
    """
    key = (model, forbid_unknown)
    decoder = _CACHE.get(key)
    if decoder is not None:
        return decoder
    if not (isinstance(model, type) and dataclasses.is_dataclass(model)):
        raise TypeError(f"compile_decoder needs a dataclass, got {model!r}")
    with _CACHE_LOCK:
        decoder = _CACHE.get(key)
        if decoder is None:
            decoder = _CACHE[key] = _Compiler(forbid_unknown).dataclass_decoder(model)
    return decoder
