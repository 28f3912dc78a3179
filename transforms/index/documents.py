"""Index documents: a record's id and JSON body, independent of any backend.

Document ids come from the table's primary key. ``key_document_id`` makes
them from the key attributes' wire values (``{"id": {"S": "w17"}}``), which
every item has whatever model field type holds them (``str``, ``UUID``, an
``Enum``, ``datetime``...): this is how the reindex, replay and deletes name
documents. ``document_id`` makes them from key values already in Python
(``str``, numbers, ``bytes``), for records written without their raw key.
The rule, for a fixed key schema (a DynamoDB table's key attributes always
have the same types):

=====================  =========================================================
key                    id
=====================  =========================================================
one S (``str``)        the string itself: ``"w17"`` -> ``w17``
one N (number)         its canonical decimal: ``Decimal("1.50")`` -> ``1.5``,
                       ``Decimal("1E+2")`` -> ``100``, ``-0`` -> ``0``;
                       beyond 200 digits ``12E+400`` (digits, exponent)
one B (``bytes``)      ``"b64:"`` + standard base64: ``b"\\x00\\x01"`` -> ``b64:AAE=``
two or more values     a compact JSON array of the above, strings and binaries
                       as JSON strings, numbers as JSON numbers:
                       ``("w17", 3)`` -> ``["w17",3]``
=====================  =========================================================

The two functions agree: the wire value S ``"w17"`` and the ``str``
``"w17"`` give the same id, and so do N ``"3.0"`` and the ``int`` 3 or the
``Decimal`` 3.0 a model decodes it into, so ids stay the same from run to
run and between the two ways. (A ``float`` field is the one case where they
may differ: the wire value keeps digits a float rounds away.)

Each form is injective on its kind of value (numbers that are equal, such as
``3`` and ``Decimal("3.0")``, are the same key, as in DynamoDB), and a JSON
array is parsed unambiguously, so distinct keys of one schema give distinct
ids and a re-run gives the same ids. Across schemas the forms may meet (the
string ``"3"`` and the number ``3`` both give ``3``); an index holds one table.

``RecordEncoder`` turns records into the document body: the record's JSON,
byte-identical to ``record.to_json()`` but for sets, whose elements are
sorted (``transforms.decode.encoder.in_order``) so a document's text does
not depend on the process that wrote it.
"""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

_LOGGER = logging.getLogger(__name__)

__all__ = ["Document", "RecordEncoder", "document_id", "key_document_id"]

Encode = Callable[[Any], str]
_MAX_PLAIN_DIGITS = 200


class Document(NamedTuple):
    """One document for an index: its id and its body (the record's JSON)."""

    id: str
    body: str


def _canonical_decimal(value: Decimal) -> str:
    """Plain decimal text without redundant zeros, exact at any precision.

    Beyond DynamoDB's range (38 digits, exponents -130..125) the text would be
    long: there it is the digits with an exponent, ``12E+400``, a form plain
    texts never take.
    """
    if not value.is_finite():
        raise ValueError(f"a key number must be finite, got {value}")
    if value.is_zero():
        return "0"
    sign, digits, exponent = value.as_tuple()
    digits = list(digits)
    while digits[-1] == 0:
        digits.pop()
        exponent += 1
    text = "".join(map(str, digits))
    if len(text) + abs(exponent) > _MAX_PLAIN_DIGITS:
        text = f"{text}E{exponent:+d}"
    elif exponent >= 0:
        text += "0" * exponent
    elif -exponent >= len(text):
        text = "0." + "0" * (-exponent - len(text)) + text
    else:
        text = text[:exponent] + "." + text[exponent:]
    return "-" + text if sign else text


def _number_text(value: Any) -> str:
    if isinstance(value, int):
        text = str(value)
        if len(text) - (value < 0) <= _MAX_PLAIN_DIGITS:
            return text
        return _canonical_decimal(Decimal(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a key number must be finite, got {value!r}")
        return _canonical_decimal(Decimal(repr(value)))
    return _canonical_decimal(value)


def _single(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise TypeError("a key value cannot be a bool (DynamoDB keys are S, N or B)")
    if isinstance(value, (int, float, Decimal)):
        return _number_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "b64:" + base64.b64encode(bytes(value)).decode("ascii")
    if value is None:
        raise ValueError("a key value is missing (None)")
    raise TypeError(
        f"a key value must be str, int, Decimal, float or bytes, got {type(value).__name__}"
    )


def _element(value: Any) -> str:
    text = _single(value)
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return json.dumps(text, ensure_ascii=False)
    return text


def document_id(values: Sequence[Any]) -> str:
    """The document id of a record whose primary-key values are ``values``.

    See the module docstring for the rule. Raises ``ValueError`` for no values,
    a ``None`` value or a non-finite number, ``TypeError`` for a value that
    cannot be a DynamoDB key (bool, list, ...).
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"document_id takes a sequence of key values, got {type(values).__name__}")
    if not values:
        raise ValueError("document_id needs at least one key value")
    if len(values) == 1:
        return _single(values[0])
    return "[" + ",".join(_element(value) for value in values) + "]"


def _key_value(value: Any, name: str) -> Any:
    """The Python value of one wire-format key attribute (S, N or B)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ValueError(f"key attribute {name!r} is not a DynamoDB value: {value!r}")
    ((tag, payload),) = value.items()
    if tag == "S" and isinstance(payload, str):
        return payload
    if tag == "N" and isinstance(payload, str):
        try:
            return Decimal(payload)
        except InvalidOperation:
            raise ValueError(f"key attribute {name!r} is not a number: {payload!r}") from None
    if tag == "B" and isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    raise ValueError(f"key attribute {name!r} must be S, N or B, got {tag}")


def key_document_id(key: Mapping[str, Any], key_attributes: Sequence[str]) -> str:
    """The document id of the item with this wire-format ``key``.

    ``key_attributes`` orders the attributes, hash key first. Raises
    ``ValueError`` when an attribute is missing or not S, N or B.
    """
    values = []
    for name in key_attributes:
        if name not in key:
            raise ValueError(f"key attribute {name!r} is missing from {sorted(key)}")
        values.append(_key_value(key[name], name))
    return document_id(values)


def _to_json(record: Any) -> str:
    return record.to_json()


def _compiled_or_to_json(model: type) -> Encode:
    try:
        from transforms.decode.encoder import compile_encoder
    except ImportError:
        return _to_json
    try:
        return compile_encoder(model)
    except Exception:  # an encoder that cannot handle a model must not stop the write
        _LOGGER.warning(
            "no compiled encoder for %s.%s; using to_json()",
            model.__module__,
            model.__qualname__,
            exc_info=True,
        )
        return _to_json


class RecordEncoder:
    """Turns a record into its JSON text, the document body.

    ``encode`` (a picklable callable ``record -> str``) is used when given.
    Otherwise each record class gets ``transforms.decode.encoder.compile_encoder(cls)``
    when that module exists (a faster encoder, byte-identical to ``to_json``
    with sets sorted),
    else ``record.to_json()``. Encoders are resolved once per class.
    """

    def __init__(self, encode: Encode | None = None):
        self._encode = encode
        self._by_class: dict[type, Encode] = {}

    def __call__(self, record: Any) -> str:
        if self._encode is not None:
            return self._encode(record)
        cls = type(record)
        encode = self._by_class.get(cls)
        if encode is None:
            encode = self._by_class[cls] = _compiled_or_to_json(cls)
        return encode(record)
