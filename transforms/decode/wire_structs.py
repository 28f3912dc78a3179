"""Items decoded straight from their JSON bytes, through msgspec structs of the wire form.

:func:`compile_struct_decoder` builds, once per model, msgspec ``Struct``
types that mirror the wire form of the model's items – an attribute's value
``{"S": "..."}`` is a struct with the field ``S``, a nested model's
``{"M": {...}}`` a struct holding that model's struct, a ``dict`` field's
``{"M": {...}}`` a dict of its values' structs – and generated code that
turns such a struct into a model instance::

    decode = compile_struct_decoder(Work, key_attributes=("id",))
    keyed = decode(b'{"id": {"S": "w1"}, "title": {"S": "T"}, ...}')
    keyed.record, keyed.key        # Work(...), {"id": {"S": "w1"}}

msgspec parses the JSON and checks every payload's JSON type in C, building
no dict per attribute; the generated code only unwraps the structs and calls
the same payload functions (numbers, enums, dates, custom decoders) the
exact decoder calls. For a 1 MB Scan page that is about a third of the
exact decoder's CPU, parse included (``bench/page_cost.py``).

Contract
--------
``decode(raw)`` returns ``KeyedRecord(key_of(item, key_attributes),
compile_decoder(model)(item))`` for the wire-format ``item`` that botocore
parses from ``raw`` – or raises :class:`NotOnFastPath`. It never returns
anything else: every shape it is not sure of (a tag it has no struct for, a
missing required attribute, a payload of another JSON type, two tags, a JSON
``null``, a payload function or constructor that raises) raises
:class:`NotOnFastPath`, and the caller decodes that item the exact way, which
also gives the dead letter its reason and path. So the fast path only
changes how fast an item is decoded, never what comes out.

A model whose items cannot have a struct – unknown attributes refused
(``forbid_unknown``, ``Undefined.RAISE``) or collected (``CatchAll``), a
constructor not called by position, a class that contains itself, two fields
with one attribute name – gets None from :func:`compile_struct_decoder`.
:func:`struct_decoder_source` shows the generated code; names and tags from
the model enter it only as bound constants, never as source text.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import msgspec
from msgspec import UNSET, UnsetType, defstruct
from msgspec import field as struct_field

from transforms.decode.codegen import (
    compile_function,
    is_required,
    listing,
    positional_arguments,
    positional_call,
)
from transforms.decode.compiler import Compiler
from transforms.decode.keyed_record import KeyedRecord
from transforms.decode.models import constructor
from transforms.decode.plans import Plan

__all__ = [
    "DecodeAtRead",
    "NotOnFastPath",
    "StructDecoder",
    "compile_struct_decoder",
    "struct_decoder_source",
]

_PAYLOAD_TYPES: dict[str, Any] = {
    "S": str,
    "N": str,
    "B": bytes,
    "BOOL": bool,
    "NULL": bool,
    "SS": list[str],
    "NS": list[str],
    "BS": list[bytes],
}
"""The JSON type of each scalar and set tag's payload, as botocore returns it
(``B``: base64 text on the wire, ``bytes`` in Python)."""

_KEY_TAGS = ("S", "N", "B")
_NO_STRUCT = "primary tag without a struct"
"""The wire name of ``t0`` when the primary tag has no struct: no JSON value
decodes into it, so an item that uses the name is not on the fast path."""
_SERIAL = itertools.count(1)


class NotOnFastPath(Exception):
    """The item is not one the struct decoder is sure of: decode it the exact way."""


class _Unsupported(Exception):
    """The model (or one class it reaches) cannot have a struct."""


class StructDecoder:
    """``raw item JSON -> KeyedRecord``; see the module docstring.

    ``item_type`` is the struct of one item; ``source`` is the generated code
    with its constants, for reading.
    """

    __slots__ = ("_convert", "_decode_json", "_key", "item_type", "source")

    def __init__(self, item_type: type, convert: Callable, key: Callable, source: str):
        self.item_type = item_type
        self.source = source
        self._convert = convert
        self._key = key
        self._decode_json = msgspec.json.Decoder(item_type).decode

    def __call__(self, raw: bytes) -> KeyedRecord:
        try:
            wire = self._decode_json(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            raise NotOnFastPath(str(error)) from None
        try:
            return KeyedRecord(self._key(wire), self._convert(wire))
        except NotOnFastPath:
            raise
        except Exception as error:  # the exact decoder gives the reason and path
            raise NotOnFastPath(f"{type(error).__name__}: {error}") from None


class _Attribute(NamedTuple):
    """The struct of one wire value and how to read it: ``primary`` (None:
    the payload is the value) reads the primary tag's payload (``t0``);
    ``other`` reads a value without it, or is None where ``t0`` is required;
    ``tags`` maps each tag to its struct field."""

    struct: type
    primary: Callable | None
    other: Callable | None
    tags: dict[str, str]


class _Builder:
    """Builds the structs and converters of one model and the classes it reaches."""

    def __init__(self, model: type, forbid_unknown: bool):
        self.compiler = Compiler(forbid_unknown)
        self.compiler.dataclass_decoder(model)
        self.class_of = {
            generated.decode: cls for cls, generated in self.compiler.generated.items()
        }
        self.models: dict[type, tuple[type, Callable, dict[str, str]]] = {}
        self.building: set[type] = set()
        self.attributes: dict[Plan, _Attribute] = {}
        self.key_tags: dict[type, dict[str, dict[str, str]]] = {}
        self.listings: list[str] = []

    def model(self, cls: type) -> tuple[type, Callable, dict[str, str]]:
        """``(struct type, struct -> instance, {attribute name: struct field})`` of ``cls``."""
        if cls in self.models:
            return self.models[cls]
        if cls in self.building:
            raise _Unsupported(f"{cls.__qualname__} contains itself")
        self.building.add(cls)
        generated = self.compiler.generated.get(cls)
        steps = generated.model if generated is not None else None
        if steps is None or steps.check_unknown or steps.catch_all is not None:
            raise _Unsupported(f"{cls.__qualname__} refuses or collects unknown attributes")
        arguments = positional_arguments(steps)
        if arguments is None or constructor(cls, steps.undefined) is not cls:
            raise _Unsupported(f"{cls.__qualname__} is not constructed by position")
        specs = cls.__dataclass_fields__
        fields: list[tuple] = []
        field_of: dict[str, str] = {}
        tags_by_field: dict[str, dict[str, str]] = {}
        constants: dict[str, Any] = {"UNSET": UNSET, "FALLBACK": NotOnFastPath, "construct": cls}
        body: list[str] = []
        for index, (attr, name, _tag, _read, convert, _missing) in enumerate(steps.steps):
            attribute = self.attribute(convert.plan)
            read_primary, read_other = attribute.primary, attribute.other
            names = [(f"f{index}", attr)]
            if name != attr:
                names.append((f"a{index}", name))
            for field_name, wire_name in names:
                if wire_name in field_of:
                    raise _Unsupported(f"{cls.__qualname__}: two fields read {wire_name!r}")
                field_of[wire_name] = field_name
                tags_by_field[field_name] = attribute.tags
                absent = struct_field(name=wire_name, default=None)
                fields.append((field_name, attribute.struct | None, absent))
            if read_other is not None:
                constants[f"other_{index}"] = read_other
            body.append(f"v = w.f{index}")
            if name != attr:
                body += ["if v is None:", f"    v = w.a{index}"]
            if is_required(specs[name]):
                body += ["if v is None:", "    raise FALLBACK"]
                indent = ""
            else:
                constants[f"default_{index}"] = arguments[name]
                body += ["if v is None:", f"    value_{index} = default_{index}", "else:"]
                indent = "    "
            # Without ``other`` the struct requires t0, so it is read directly.
            payload = "v.t0" if read_other is None else "p"
            if read_primary is None:
                value = payload
            else:
                constants[f"read_{index}"] = read_primary
                value = f"read_{index}({payload})"
            if read_other is None:
                body.append(f"{indent}value_{index} = {value}")
            else:
                body += [
                    f"{indent}p = v.t0",
                    f"{indent}if p is UNSET:",
                    f"{indent}    value_{index} = other_{index}(v)",
                    f"{indent}else:",
                    f"{indent}    value_{index} = {value}",
                ]
        call = positional_call(steps.steps, arguments, constants)
        source = "\n".join(
            [
                "def make(" + ", ".join(constants) + "):",
                "    def convert(w):",
                *("        " + line for line in body),
                f"        return {call}",
                "    return convert",
                "",
            ]
        )
        filename = (
            f"<generated struct decoder {next(_SERIAL)}: {cls.__module__}.{cls.__qualname__}>"
        )
        convert_struct = compile_function(source, filename, constants)
        convert_struct.__qualname__ = f"convert_{cls.__qualname__}"
        self.listings.append(listing(convert_struct.__qualname__, constants, source))
        struct = _struct(f"{cls.__qualname__}Wire", fields)
        self.models[cls] = (struct, convert_struct, field_of)
        self.key_tags[cls] = tags_by_field
        self.building.discard(cls)
        return self.models[cls]

    def attribute(self, plan: Plan) -> _Attribute:
        """The struct of one wire value of ``plan``, and how to read it.

        The struct has one optional field per tag the plan accepts whose
        payload has a struct (the primary tag first, as ``t0``), and refuses
        other tags. Where the primary tag is the only one (and NULL is not
        allowed), ``t0`` is required, so a decoded struct always has it.
        """
        known = self.attributes.get(plan)
        if known is not None:
            return known
        typed: list[tuple[str, Any, Callable | None]] = []
        for tag, handler in plan.handlers.items():
            payload = self.payload(tag, handler)
            if payload is not None:
                typed.append((tag, *payload))
        primary_tag, _ = plan.primary()
        if not typed or typed[0][0] != primary_tag:
            typed.insert(0, (primary_tag, None, None))  # no struct: t0 stays UNSET
        nullable = plan.nullable and "NULL" not in plan.handlers
        required = typed[0][1] is not None and len(typed) == 1 and not nullable
        fields: list[tuple] = []
        for position, (tag, payload_type, _) in enumerate(typed):
            if payload_type is None:
                fields.append(("t0", UnsetType, struct_field(name=_NO_STRUCT, default=UNSET)))
            elif required:
                fields.append(("t0", payload_type, struct_field(name=tag)))
            else:
                fields.append(
                    (
                        f"t{position}",
                        payload_type | UnsetType,
                        struct_field(name=tag, default=UNSET),
                    )
                )
        if nullable:
            fields.append(("null", bool | UnsetType, struct_field(name="NULL", default=UNSET)))
        struct = _struct("AttributeWire", fields, forbid_unknown_fields=True)
        others = [(f"t{position}", read) for position, (_, _, read) in enumerate(typed)][1:]
        attribute = _Attribute(
            struct,
            typed[0][2],
            None if required else _other_tags(others, nullable),
            {tag: name for name, _, spec in fields if (tag := spec.name) != _NO_STRUCT},
        )
        self.attributes[plan] = attribute
        return attribute

    def payload(self, tag: str, handler: Callable | None) -> tuple[Any, Callable | None] | None:
        """``(payload type, payload -> value)`` of one accepted tag, or None
        where the payload has no struct (items with it decode the exact way)."""
        if tag in _PAYLOAD_TYPES:
            if getattr(handler, "payload_type", None) is _PAYLOAD_TYPES[tag]:
                handler = None  # only a type check, which the struct makes
            return _PAYLOAD_TYPES[tag], handler
        if tag == "M":
            cls = self.class_of.get(handler)
            if cls is not None:
                struct, convert, _ = self.model(cls)
                return struct, convert
            entry = getattr(handler, "entry", None)  # a dict's map: (value plan, key reader)
            if entry is None:
                return None
            value_plan, convert_key = entry
            value = self.attribute(value_plan)
            return dict[str, value.struct], _map_reader(value.primary, value.other, convert_key)
        if tag == "L":
            element = getattr(handler, "element", None)
            if element is None:
                return None
            _, _, element_convert, build = element
            element_plan = getattr(element_convert, "plan", None)
            if element_plan is None:
                return None
            element = self.attribute(element_plan)
            return list[element.struct], _list_reader(element.primary, element.other, build)
        return None


def _struct(name: str, fields: list[tuple], **options: Any) -> type:
    """A msgspec struct type without cyclic-GC tracking (wire structs hold no cycles)."""
    try:
        return defstruct(name, fields, gc=False, **options)
    except (TypeError, ValueError) as error:  # e.g. a name msgspec cannot rename to
        raise _Unsupported(str(error)) from error


def _list_reader(primary: Callable | None, other: Callable | None, build: Callable) -> Callable:
    """``list of element structs -> value``: each element read as a field's value is."""
    if other is None:  # every element has its primary tag
        if primary is None:

            def read_list(elements: list) -> Any:
                values = [element.t0 for element in elements]
                return values if build is list else build(values)

        else:

            def read_list(elements: list) -> Any:
                values = [primary(element.t0) for element in elements]
                return values if build is list else build(values)

        return read_list

    def read_list(elements: list) -> Any:
        values = []
        append = values.append
        for element in elements:
            payload = element.t0
            if payload is UNSET:
                append(other(element))
            else:
                append(payload if primary is None else primary(payload))
        return values if build is list else build(values)

    return read_list


def _map_reader(primary: Callable | None, other: Callable | None, convert_key) -> Callable:
    """``{key: value struct} -> dict``: each value read as a field's value is,
    each key by ``convert_key`` (None: the key as it is)."""

    def read_map(entries: dict) -> dict:
        values = {}
        for key, entry in entries.items():
            payload = entry.t0
            if payload is UNSET:  # only where ``other`` is not None
                value = other(entry)
            else:
                value = payload if primary is None else primary(payload)
            values[key if convert_key is None else convert_key(key)] = value
        if len(values) != len(entries):  # two keys decode to one: the exact decoder says which
            raise NotOnFastPath("two map keys are the same key")
        return values

    return read_map


def _other_tags(others: Sequence[tuple[str, Callable | None]], nullable: bool) -> Callable:
    """A value without the primary tag: its one other tag's payload function,
    None for a lone NULL where the field allows it; otherwise not on the fast path."""
    if len(others) == 1 and not nullable:
        ((only, read),) = others

        def read_only_other(value):
            payload = getattr(value, only)
            if payload is UNSET:
                raise NotOnFastPath("the attribute has none of its type's tags")
            return payload if read is None else read(payload)

        return read_only_other

    def read_other(value):
        found = [
            (read, payload)
            for name, read in others
            if (payload := getattr(value, name)) is not UNSET
        ]
        null = value.null if nullable else UNSET
        if len(found) == 1 and null is UNSET:
            read, payload = found[0]
            return payload if read is None else read(payload)
        if not found and null is True:  # {"NULL": false} is not a null
            return None
        raise NotOnFastPath("the attribute has no single tag of its type")

    return read_other


def _key_reader(
    key_attributes: Sequence[str], field_of: dict[str, str], tags: dict[str, dict[str, str]]
) -> Callable:
    """``item struct -> wire key`` (None when the item lacks a key attribute).

    A key attribute's value must be a struct with exactly one of S, N, B set
    and no other tag, or the item is not on the fast path."""
    names = []
    for name in key_attributes:
        field_name = field_of[name]
        value_tags = tags[field_name]
        key_tags = [(tag, value_tags[tag]) for tag in _KEY_TAGS if tag in value_tags]
        other_tags = [value_tags[tag] for tag in value_tags if tag not in _KEY_TAGS]
        names.append((name, field_name, key_tags, other_tags))
    if not names:
        return lambda wire: None

    def read_key(wire):
        key = {}
        for name, field_name, key_tags, other_tags in names:
            value = getattr(wire, field_name)
            if value is None:
                return None
            if any(getattr(value, other) is not UNSET for other in other_tags):
                raise NotOnFastPath("a key attribute is not a single S, N or B")
            found = [
                (tag, payload) for tag, f in key_tags if (payload := getattr(value, f)) is not UNSET
            ]
            if len(found) != 1:
                raise NotOnFastPath("a key attribute is not a single S, N or B")
            key[name] = dict(found)
        return key

    return read_key


_KeyValue = defstruct(
    "KeyValueWire",
    [(tag, _PAYLOAD_TYPES[tag] | UnsetType, UNSET) for tag in _KEY_TAGS],
    forbid_unknown_fields=True,
    gc=False,
)


_CACHE: dict[tuple, StructDecoder | None] = {}
_SOURCES: dict[tuple, str] = {}
_CACHE_LOCK = threading.Lock()


def compile_struct_decoder(
    model: type, key_attributes: Sequence[str] = (), *, forbid_unknown: bool = False
) -> StructDecoder | None:
    """The struct decoder of ``model`` (once per arguments), or None where the
    model cannot have one (see the module docstring)."""
    cache_key = (model, tuple(key_attributes), forbid_unknown)
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    with _CACHE_LOCK:
        if cache_key not in _CACHE:
            _CACHE[cache_key] = _build(model, tuple(key_attributes), forbid_unknown)
    return _CACHE[cache_key]


def _build(model: type, key_attributes: tuple[str, ...], forbid_unknown: bool):
    builder = _Builder(model, forbid_unknown)
    try:
        struct, convert, field_of = builder.model(model)
    except _Unsupported:
        return None
    tags = dict(builder.key_tags[model])
    missing = [name for name in key_attributes if name not in field_of]
    if missing:
        fields = [
            (f"k{index}", _KeyValue | None, struct_field(name=name, default=None))
            for index, name in enumerate(missing)
        ]
        field_of = {**field_of, **{name: f"k{index}" for index, name in enumerate(missing)}}
        tags.update({f"k{index}": {tag: tag for tag in _KEY_TAGS} for index in range(len(missing))})
        struct = defstruct(struct.__name__, fields, bases=(struct,), gc=False)
    source = "\n\n".join(builder.listings)
    return StructDecoder(struct, convert, _key_reader(key_attributes, field_of, tags), source)


@dataclasses.dataclass(frozen=True)
class DecodeAtRead:
    """What a scan decodes its items into as it reads them (picklable).

    ``ReadFromDynamoDB(..., decode_at_read=DecodeAtRead(Work, ("id",)))``
    emits, for every item the struct decoder decodes, its
    :class:`KeyedRecord` instead of the wire item; the others stay wire
    items. A ``DecodeItems`` of the same model, key attributes and
    ``forbid_unknown`` passes the KeyedRecords on as they are and decodes the
    rest, so its records and dead letters are what they would be without it.
    """

    model: type
    key_attributes: tuple[str, ...] = ()
    forbid_unknown: bool = False

    def decoder(self) -> StructDecoder | None:
        """The struct decoder, or None where the model has none."""
        return compile_struct_decoder(
            self.model, self.key_attributes, forbid_unknown=self.forbid_unknown
        )


def struct_decoder_source(model: type, *, forbid_unknown: bool = False) -> str | None:
    """The generated code of ``compile_struct_decoder(model)``, each function
    preceded by comment lines giving its bound constants; None for a model
    without a struct decoder. For reading and debugging."""
    decoder = compile_struct_decoder(model, forbid_unknown=forbid_unknown)
    return None if decoder is None else decoder.source
