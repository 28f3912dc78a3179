"""Plain values: ``Any`` and ``object`` fields, custom decoders, catch-all fields.

A plain value is what boto3's ``TypeDeserializer`` gives for a wire value,
except that binary stays ``bytes``: S as ``str``, N as ``Decimal``, B as
``bytes``, BOOL, NULL as None, L as a list, M as a dict, SS/NS/BS as sets.
A custom decoder (``config(decoder=fn)`` or dataclasses-json's global
config) receives the plain value; what it raises becomes ``DecoderFailed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transforms.decode.containers import read_list, read_map, read_set
from transforms.decode.errors import DecodeError, short, type_name
from transforms.decode.plans import Plan, converter
from transforms.decode.scalars import parse_decimal, read_binary, read_bool, read_text

__all__ = ["ANY", "ANY_LIST", "ANY_MAP", "custom_plan", "plain"]

ANY = Plan(
    {
        "S": read_text,
        "N": parse_decimal,
        "B": read_binary,
        "BOOL": read_bool,
        "L": lambda payload: ANY_LIST(payload),
        "M": lambda payload: ANY_MAP(payload),
        "SS": read_set(read_text, set),
        "NS": read_set(parse_decimal, set),
        "BS": read_set(read_binary, set),
    },
    "any value",
    nullable=True,
)
"""The plan of ``Any``: every wire type, as its plain value."""

plain = converter(ANY)
"""Wire value -> plain value."""

ANY_LIST = read_list(ANY, list)
ANY_MAP = read_map(ANY, None)


def custom_plan(decoder: Callable, field_type: Any, skip_same_type: bool, nullable: bool) -> Plan:
    """A field with a custom decoder: the plain value goes to ``decoder``."""
    name = short(getattr(decoder, "__qualname__", None) or repr(decoder))

    def apply(value):
        if skip_same_type and type(value) is field_type:
            return value
        try:
            return decoder(value)
        except Exception as error:
            kind = type(error).__name__
            raise DecodeError(
                "DecoderFailed", f"custom decoder {name} raised {kind}: {short(str(error))}"
            ) from error

    def reader(read_plain):
        if read_plain is None:
            return apply
        return lambda payload: apply(read_plain(payload))

    handlers = {tag: reader(read_plain) for tag, read_plain in ANY.handlers.items()}
    return Plan(handlers, f"{type_name(field_type)} (custom decoder)", nullable)
