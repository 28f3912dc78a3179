"""The compiler: picks each type's plan, and builds one decoder per dataclass.

:class:`Compiler` dispatches a type to its family's module (scalars,
temporal, containers, enums, unions, plain values, nested dataclasses) and
memoises the decoder of every dataclass it reaches, so a class used in
several places is read once and a class that refers to itself gets a lazy
reference to its own decoder.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, TypeVar, get_args, get_origin

from dataclasses_json import cfg as dataclasses_json_cfg

from transforms.decode.codegen import GeneratedDecoder, generated_reader
from transforms.decode.containers import MAPPINGS, SEQUENCES, SETS, generic_plan
from transforms.decode.enums import enum_plan, literal_plan
from transforms.decode.errors import undecodable
from transforms.decode.hints import UNION_TYPES, is_optional, unwrap_new_type
from transforms.decode.models import dataclass_reader, model_steps
from transforms.decode.plain import ANY, custom_plan
from transforms.decode.plans import Item, Plan
from transforms.decode.scalars import SCALARS, read_uuid, scalar_subclass
from transforms.decode.temporal import date_plan, datetime_plan
from transforms.decode.unions import union_plan

__all__ = ["Compiler", "interpreted_decoder"]


class Compiler:
    """Builds the plans of one model and of every dataclass it reaches.

    With ``generate`` (the default) each dataclass gets a decoder generated as
    Python source (:mod:`transforms.decode.codegen`), kept in ``generated``;
    without it, the loop over the field steps that the generated code unrolls
    (:func:`~transforms.decode.models.dataclass_reader`).
    """

    def __init__(self, forbid_unknown: bool, generate: bool = True):
        self.forbid_unknown = forbid_unknown
        self.generate = generate
        self.global_decoders = dict(dataclasses_json_cfg.global_config.decoders)
        self.decoders: dict[type, Callable] = {}
        self.pending: dict[type, list] = {}
        self.generated: dict[type, GeneratedDecoder] = {}

    def plan(self, tp: Any, where: str, as_field: bool = False) -> Plan:
        """The plan of type ``tp``; ``where`` (``Class.field``) names it in
        the TypeError raised for a type that cannot be decoded.

        dataclasses-json applies a global decoder of ``tp`` to values of
        ``tp`` inside collections and unions, but to a field only through the
        field's declared type (:func:`~transforms.decode.models.field_options`):
        not when that is a string (``from __future__ import annotations``) or
        a ``NewType``. ``as_field`` says ``tp`` is a field's own type.
        """
        tp = unwrap_new_type(tp)
        try:
            decoder = None if as_field else self.global_decoders.get(tp)
        except TypeError:
            decoder = None
        if decoder is not None:
            return custom_plan(decoder, tp, skip_same_type=False, nullable=is_optional(tp))
        if tp is Any or tp is object or isinstance(tp, TypeVar):
            return ANY
        origin, args = get_origin(tp), get_args(tp)
        if origin in UNION_TYPES:
            return union_plan(args, where, self.plan)
        if origin is Literal:
            return literal_plan(tp, args)
        if origin is not None:
            return generic_plan(tp, origin, args, where, self.plan)
        if not isinstance(tp, type):
            raise undecodable(where, tp)
        if dataclasses.is_dataclass(tp):
            return Plan({"M": self.dataclass_decoder(tp)}, tp.__qualname__)
        if issubclass(tp, Enum):
            return enum_plan(tp)
        if tp in SCALARS:
            tag, read = SCALARS[tp]
            return Plan({tag: read}, tp.__qualname__)
        if issubclass(tp, datetime):
            return datetime_plan()
        if issubclass(tp, date):
            return date_plan()
        if issubclass(tp, uuid.UUID):
            return Plan({"S": read_uuid}, "UUID")
        for base in (bool, int, float, Decimal, str, bytes):
            if issubclass(tp, base):
                tag, read = SCALARS[base]
                return Plan({tag: scalar_subclass(read, tp)}, tp.__qualname__)
        if tp in SEQUENCES or tp in SETS or tp in MAPPINGS:
            return generic_plan(tp, tp, (), where, self.plan)
        raise undecodable(where, tp)

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
        steps = model_steps(cls, self.plan, self.global_decoders, self.forbid_unknown)
        if not self.generate:
            return dataclass_reader(*steps)
        generated = self.generated[cls] = generated_reader(steps)
        return generated.decode


def interpreted_decoder(model: type, forbid_unknown: bool = False) -> Callable[[Item], Any]:
    """A decoder of ``model`` that runs the field steps in a loop instead of
    generated code: the reference the generated decoders are tested against.
    Not cached."""
    return Compiler(forbid_unknown, generate=False).dataclass_decoder(model)
