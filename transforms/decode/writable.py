"""Model fields whose values ``to_json()`` cannot write, found before a job starts.

dataclasses-json writes strings, numbers, booleans, None, ``Decimal``,
``UUID``, ``datetime``, Enum members, ``bytes``, collections and nested
dataclasses. The decoder reads more than that: a ``date`` field decodes from
``"2024-02-29"``, but ``to_json()`` raises for it, and a map whose keys
decode to ``Decimal`` (or ``UUID``, a plain Enum, a date) cannot be written
either, since JSON keys are strings and numbers. With such a field every
record holding a value there would become an index dead letter, after the
whole table was read. :func:`unwritable_fields` names those fields from the
model's annotations, so that the command refuses the model at once and says
what to fix; a field with an encoder of its own (``config(encoder=...)``, or
a global encoder for its declared type) is the user's to write and is not
checked, nor is a type with a global encoder
(``dataclasses_json.cfg.global_config.encoders``), which ``to_json()``
applies to every value of that class, wherever it is.

Only what certainly fails is named: ``Any``, unions that include a writable
type, and generics this module does not know are left to the encoder, whose
failures stay dead letters.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, get_args, get_origin
from uuid import UUID

from dataclasses_json import cfg as dataclasses_json_cfg

from transforms.decode.encoder import fields_with_encoders
from transforms.decode.hints import UNION_TYPES, hints, unwrap_new_type

__all__ = ["check_writable", "unwritable_fields"]

_LEAVES = (str, int, float, bool, type(None), Decimal, UUID, datetime, Enum, bytes, bytearray)
_KEYS = (str, int, float, bool, type(None))


def check_writable(model: type) -> None:
    """Raises ``TypeError`` naming every field of ``model`` (nested classes
    included) whose values ``to_json()`` cannot write, and how to fix it."""
    problems = unwritable_fields(model)
    if problems:
        named = ", ".join(f"{where} ({why})" for where, why in problems)
        raise TypeError(
            f"to_json() cannot write the values of {named}, so no record holding one could "
            "be indexed: give each such field an encoder, "
            "field(metadata=dataclasses_json.config(encoder=...))"
        )


def unwritable_fields(model: type) -> list[tuple[str, str]]:
    """``("Class.field", why)`` per field of ``model`` or of the dataclasses it
    holds whose values ``to_json()`` cannot write."""
    problems: list[tuple[str, str]] = []
    pending, seen = [model], {model}
    while pending:
        cls = pending.pop(0)
        types = hints(cls)
        encoded = fields_with_encoders(cls)
        for spec in dataclasses.fields(cls):
            if spec.name in encoded or spec.name not in types:
                continue
            nested: list[type] = []
            problems.extend(
                (f"{cls.__qualname__}.{spec.name}", why)
                for why in _type_problems(types[spec.name], nested)
            )
            for inner in nested:
                if inner not in seen:
                    seen.add(inner)
                    pending.append(inner)
    return problems


def _type_problems(tp: Any, nested: list[type]) -> Iterator[str]:
    """Why values of ``tp`` cannot be written (nothing when they can, or may);
    the dataclasses it holds are added to ``nested``, to be checked on their own."""
    tp = unwrap_new_type(tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin in UNION_TYPES:
        arms = [list(_type_problems(arm, nested)) for arm in args if arm is not type(None)]
        if arms and all(arms):  # no arm can be written
            yield arms[0][0]
        return
    if origin is not None:
        yield from _generic_problems(origin, args, nested)
        return
    if tp is Any or tp is object or not isinstance(tp, type):
        return  # Any, a TypeVar, a forward reference: known only at run time
    if _globally_encoded(tp):
        return
    if dataclasses.is_dataclass(tp):
        nested.append(tp)
    elif not issubclass(tp, (*_LEAVES, Collection)):
        yield f"a {tp.__qualname__}"


def _generic_problems(origin: Any, args: tuple, nested: list[type]) -> Iterator[str]:
    if origin is Literal or origin is typing.ClassVar or not isinstance(origin, type):
        return
    if issubclass(origin, Mapping) and len(args) == 2:
        key = unwrap_new_type(args[0])
        if (
            isinstance(key, type)
            and key is not object
            and not issubclass(key, _KEYS)
            and not _globally_encoded(key)
        ):
            yield f"map keys of type {key.__qualname__}: JSON keys are strings"
        yield from _type_problems(args[1], nested)
    elif issubclass(origin, Collection):
        for arg in args:
            if arg is not Ellipsis:
                yield from _type_problems(arg, nested)


def _globally_encoded(tp: type) -> bool:
    """True when dataclasses-json's global configuration has an encoder for
    ``tp``: ``to_json()`` applies it to every value of that class, wherever
    it is (map keys included)."""
    return tp in dataclasses_json_cfg.global_config.encoders
