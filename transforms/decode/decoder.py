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

The function of each dataclass is generated as Python source, one block per
field, with attribute names and converters bound as constants (never written
into the text; see :mod:`transforms.decode.codegen`). ``print(decoder_source(Work))``
shows it; tracebacks through it show its lines.

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
the type. botocore hands any JSON value on as the payload, so each payload
is checked against its tag (S a string, B bytes, BOOL a boolean, NULL true,
a set's a list) and a wrong one is a ``TypeMismatch``; a dict with a second
tag beside the one read is not refused.

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
                    length, two map keys that decode to one key, the model's
                    own ``__post_init__`` raising
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

import dataclasses
import importlib
import threading
from collections.abc import Callable
from typing import Any

from transforms.decode.compiler import Compiler
from transforms.decode.errors import DecodeError
from transforms.decode.plans import Item

__all__ = ["DecodeError", "compile_decoder", "decoder_source"]

_MOVED: dict[str, tuple[str, str]] = {
    "_ABSENT": ("plans", "ABSENT"),
    "_ANY": ("plain", "ANY"),
    "_ANY_LIST": ("plain", "ANY_LIST"),
    "_ANY_MAP": ("plain", "ANY_MAP"),
    "_attribute_name": ("models", "attribute_name"),
    "_Compiler": ("compiler", "Compiler"),
    "_constructor": ("models", "constructor"),
    "_converter": ("plans", "converter"),
    "_custom_plan": ("plain", "custom_plan"),
    "_dataclass_reader": ("models", "dataclass_reader"),
    "_date_plan": ("temporal", "date_plan"),
    "_datetime_plan": ("temporal", "datetime_plan"),
    "_describe": ("errors", "describe"),
    "_each": ("containers", "each"),
    "_each_value": ("containers", "each_value"),
    "_field_step": ("models", "field_step"),
    "_first_that_decodes": ("unions", "first_that_decodes"),
    "_hints": ("hints", "hints"),
    "_is_hashable_type": ("containers", "is_hashable_type"),
    "_is_optional": ("hints", "is_optional"),
    "_local_timezone": ("temporal", "local_timezone"),
    "_malformed": ("errors", "malformed"),
    "_MAPPINGS": ("containers", "MAPPINGS"),
    "_MAX_INT_EXPONENT": ("scalars", "MAX_INT_EXPONENT"),
    "_member_key": ("enums", "member_key"),
    "_none": ("plans", "none"),
    "_NUMBER_CHARS": ("scalars", "NUMBER_CHARS"),
    "_number_error": ("scalars", "number_error"),
    "_on_missing": ("models", "on_missing"),
    "_parse_decimal": ("scalars", "parse_decimal"),
    "_parse_float": ("scalars", "parse_float"),
    "_parse_int": ("scalars", "parse_int"),
    "_parse_json_number": ("scalars", "parse_json_number"),
    "_plain": ("plain", "plain"),
    "_Plan": ("plans", "Plan"),
    "_read_date_text": ("temporal", "read_date_text"),
    "_read_datetime_text": ("temporal", "read_datetime_text"),
    "_read_epoch": ("temporal", "read_epoch"),
    "_read_list": ("containers", "read_list"),
    "_read_map": ("containers", "read_map"),
    "_read_set": ("containers", "read_set"),
    "_read_uuid": ("scalars", "read_uuid"),
    "_RETRY": ("containers", "RETRY"),
    "_scalar_subclass": ("scalars", "scalar_subclass"),
    "_SCALARS": ("scalars", "SCALARS"),
    "_SEQUENCES": ("containers", "SEQUENCES"),
    "_SET_TAGS": ("containers", "SET_TAGS"),
    "_SETS": ("containers", "SETS"),
    "_SHORT": ("errors", "SHORT"),
    "_short": ("errors", "short"),
    "_type_name": ("errors", "type_name"),
    "_unexpected": ("errors", "unexpected"),
    "_UNION_TYPES": ("hints", "UNION_TYPES"),
    "_unwrap_new_type": ("hints", "unwrap_new_type"),
    "_value_plan": ("enums", "value_plan"),
    "_within": ("errors", "within"),
    "Wire": ("plans", "Wire"),
}
"""Names this module defined before it was split by type family: each one's
module in :mod:`transforms.decode` and its name there. They stay importable
from here."""


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(f"transforms.decode.{module}"), attribute)


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
            decoder = _CACHE[key] = Compiler(forbid_unknown).dataclass_decoder(model)
    return decoder


def decoder_source(model: type, *, forbid_unknown: bool = False) -> str:
    """The Python source generated for ``compile_decoder(model, forbid_unknown=...)``:
    one function per dataclass the model reaches, each preceded by comment
    lines giving the constants bound to it (attribute names, tags, payload
    functions). For reading and debugging; the decoders compiled from it are
    those of :func:`compile_decoder`."""
    if not (isinstance(model, type) and dataclasses.is_dataclass(model)):
        raise TypeError(f"decoder_source needs a dataclass, got {model!r}")
    compiler = Compiler(forbid_unknown)
    compiler.dataclass_decoder(model)
    return "\n\n".join(generated.listing() for generated in compiler.generated.values())
